package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/stskms/stskms/kmc"
)

// requestMemory is how long an answer is kept for a retry.
const requestMemory = 24 * time.Hour

// remembered runs fn, the creating call req of caller a on route under
// request id id, once: the KMC's database keeps its answer (see
// kmc.KMC.ClaimRequest), so that a retry by a, from any process of the
// KMC, gets the first answer (audited as a replay) instead of a second
// object; another caller giving the id is refused, and so is the id given
// with another request. A call that failed is forgotten (it may be
// retried).
func (s *Server) remembered(ctx context.Context, a kmc.Actor, route, id string, req any, fn func() (any, error)) (any, error) {
	digest, err := requestDigest(req)
	if err != nil {
		return nil, err
	}
	c, err := s.k.ClaimRequest(ctx, a.String(), route, id, digest, s.now())
	if err != nil {
		return nil, err
	}
	if c.Answer != nil {
		return json.RawMessage(c.Answer), nil
	}
	// The claim is settled even if the caller goes away meanwhile.
	settle := context.WithoutCancel(ctx)
	ans, err := fn()
	if err != nil {
		if ferr := s.k.ForgetRequest(settle, a.String(), route, id); ferr != nil {
			s.logf("kmc/api: request id %q of %s stays claimed until its lease runs out: %v", id, a, ferr)
		}
		return nil, err
	}
	out, err := json.Marshal(ans)
	if err == nil {
		err = s.k.AnswerRequest(settle, a.String(), route, id, out, s.now().Add(requestMemory))
	}
	if err != nil {
		// Done, but not remembered: the answer still goes to the caller.
		s.logf("kmc/api: the answer to request id %q of %s is not remembered: %v", id, a, err)
	}
	return ans, nil
}

// secretive is a request that carries key material: its digest is made
// of its public form (a hash of a key component stored in the database
// would let anyone who reads it test guesses of the component offline).
type secretive interface{ public() any }

// public is the request with the component's value left out; its KCV
// stays, as it does in the audit log.
func (r StartImportRequest) public() any {
	r.Component.Value = ""
	return r
}

// requestDigest is the SHA-256 of the JSON of req (its public form)
// without its request id (given in the body or the header, it is the same
// request).
func requestDigest(req any) (string, error) {
	if s, ok := req.(secretive); ok {
		req = s.public()
	}
	raw, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	delete(m, "request_id")
	if raw, err = json.Marshal(m); err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// logf logs to the server's log, if it has one.
func (s *Server) logf(format string, args ...any) {
	if s.log != nil {
		s.log.Printf(format, args...)
	}
}
