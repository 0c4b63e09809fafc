package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stskms/stskms/kmc"
)

// STSAKey is an STS Association signing key the KMC accepts registry
// updates under.
type STSAKey struct {
	// ID is the key id as SMREG.HDR.1 names it (16 hex digits).
	ID string `json:"id"`
	// PublicKey is the uncompressed P-384 point, 194 hex digits.
	PublicKey string    `json:"public_key"`
	AddedAt   time.Time `json:"added_at"`
	AddedBy   string    `json:"added_by"`
}

func stsaKeyOf(k kmc.STSAKey) (STSAKey, error) {
	point, err := k.PublicKey.Bytes()
	if err != nil {
		return STSAKey{}, err
	}
	return STSAKey{ID: k.ID.String(), PublicKey: fmt.Sprintf("%X", point), AddedAt: k.AddedAt, AddedBy: k.AddedBy}, nil
}

// STSAKeysAnswer is GET /v1/stsa-keys, oldest first.
type STSAKeysAnswer struct {
	Keys []STSAKey `json:"keys"`
}

// AddSTSAKeyRequest is POST /v1/stsa-keys.
type AddSTSAKeyRequest struct {
	RequestID string `json:"request_id,omitempty"`
	// PublicKey is an ECDSA P-384 public key: a PEM PUBLIC KEY block or
	// the uncompressed point as 194 hex digits.
	PublicKey string `json:"public_key"`
}

func (r AddSTSAKeyRequest) requestID() string { return r.RequestID }

// RemoveSTSAKeyAnswer is DELETE /v1/stsa-keys/{id}.
type RemoveSTSAKeyAnswer struct {
	ID      string `json:"id"`
	Removed bool   `json:"removed"`
}

// RegistryUpdateRequest is POST /v1/registry-updates.
type RegistryUpdateRequest struct {
	// RequestID names this delivery: a retry under the same id by the
	// same caller gets the first answer (kept in the database), and the
	// update is never applied twice.
	RequestID string `json:"request_id,omitempty"`
	// File is the signed update file (docs/formats.md §9), as the STS
	// Association sent it.
	File string `json:"file"`
}

// RegistryUpdateAnswer is an applied registry update.
type RegistryUpdateAnswer struct {
	Seq       uint64    `json:"seq"`
	STSAKey   string    `json:"stsa_key"`
	IssueTime time.Time `json:"issue_time"`
	AppliedAt time.Time `json:"applied_at"`
	Modules   int       `json:"modules"`
	Added     int       `json:"added"`
	Changed   int       `json:"changed"`
	Unchanged int       `json:"unchanged"`
	// Summary is the one-line description, as the gateway replies it.
	Summary string `json:"summary"`
}

// PruneRequest is POST /v1/prune.
type PruneRequest struct {
	// Before is the age, a Go duration such as "720h"; at least twice the
	// freshness window (PruneAnswer.MinAge).
	Before string `json:"before"`
}

// PruneAnswer is what POST /v1/prune removed.
type PruneAnswer struct {
	Cutoff time.Time `json:"cutoff"`
	// Requests is the number of seen requests removed (each with its
	// issued file), Answers the remembered registry-update answers.
	Requests int64 `json:"requests"`
	Answers  int64 `json:"answers"`
	// MinAge is the least age the KMC accepts.
	MinAge string `json:"min_age"`
}

func (s *Server) stsaKeys(ctx context.Context, _ kmc.Actor, _ *http.Request) (any, error) {
	keys, err := s.k.STSAKeys(ctx)
	if err != nil {
		return nil, err
	}
	ans := STSAKeysAnswer{Keys: []STSAKey{}}
	for _, k := range keys {
		key, err := stsaKeyOf(k)
		if err != nil {
			return nil, err
		}
		ans.Keys = append(ans.Keys, key)
	}
	return ans, nil
}

// SecondOfficerHeader carries the bearer token of the second officer of
// a dual-control operation: setting or removing an STS Association key.
const SecondOfficerHeader = "X-Second-Officer-Token"

// errSecondOfficer refuses a dual-control operation without a valid
// token of a second, distinct officer (ESecondOfficer, 403).
var errSecondOfficer = errors.New("kmc/api: dual control: the " + SecondOfficerHeader +
	" header must carry the bearer token of a second, distinct officer")

// dual returns the audit actor of a dual-control operation of first:
// "officer:A+B", where B is the officer whose bearer token the
// SecondOfficerHeader header carries. Both must be distinct officers
// registered with the KMC (kmc.KMC.CheckOfficers; a test KMC registers
// none and only the names are compared); otherwise errSecondOfficer, or
// kmc.ErrUnknownOfficer naming an unregistered one. It changes nothing.
func (s *Server) dual(first kmc.Actor, r *http.Request) (string, error) {
	token := strings.TrimSpace(r.Header.Get(SecondOfficerHeader))
	if token == "" {
		return "", fmt.Errorf("%w: the header is missing", errSecondOfficer)
	}
	second, ok := s.x.Tokens.Actor(token)
	if !ok || second.Role != kmc.Officer {
		return "", fmt.Errorf("%w: its token is not an officer's", errSecondOfficer)
	}
	if err := s.k.CheckOfficers([]string{first.Name, second.Name}); err != nil {
		if errors.Is(err, kmc.ErrUnknownOfficer) {
			return "", err
		}
		return "", fmt.Errorf("%w: %w", errSecondOfficer, err)
	}
	return "officer:" + first.Name + "+" + second.Name, nil
}

func (s *Server) addSTSAKey(ctx context.Context, a kmc.Actor, r *http.Request, req AddSTSAKeyRequest) (any, error) {
	actor, err := s.dual(a, r)
	if err != nil {
		return nil, err
	}
	pub, err := kmc.ParseSTSAPublicKey([]byte(req.PublicKey))
	if err != nil {
		return nil, err
	}
	key, err := s.k.AddSTSAKey(ctx, actor, pub)
	if err != nil {
		return nil, err
	}
	return stsaKeyOf(key)
}

func (s *Server) removeSTSAKey(ctx context.Context, a kmc.Actor, r *http.Request) (any, error) {
	actor, err := s.dual(a, r)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	if err := s.k.RemoveSTSAKey(ctx, actor, id); err != nil {
		return nil, err
	}
	return RemoveSTSAKeyAnswer{ID: id, Removed: true}, nil
}

func (s *Server) applyUpdate(ctx context.Context, a kmc.Actor, r *http.Request, req RegistryUpdateRequest) (any, error) {
	id, err := requestID(r, req.RequestID)
	if err != nil {
		return nil, err
	}
	o := kmc.UpdateOptions{}
	if id != "" {
		o.Ref = deliveryRef(a, id)
	}
	res, err := s.k.ApplyRegistryUpdate(ctx, a.String(), []byte(req.File), o)
	if err != nil {
		return nil, err
	}
	return RegistryUpdateAnswer{Seq: res.Seq, STSAKey: res.STSAKey.String(), IssueTime: res.IssueTime,
		AppliedAt: res.AppliedAt, Modules: res.Modules, Added: res.Added, Changed: res.Changed,
		Unchanged: res.Unchanged, Summary: res.Summary()}, nil
}

func (s *Server) prune(ctx context.Context, a kmc.Actor, _ *http.Request, req PruneRequest) (any, error) {
	before, err := time.ParseDuration(req.Before)
	if err != nil || before <= 0 {
		return nil, fmt.Errorf("%w: before %q is not a positive duration such as 720h (at least %v)", kmc.ErrInvalid,
			req.Before, s.k.MinPruneAge())
	}
	res, err := s.k.Prune(ctx, a.String(), before)
	if err != nil {
		return nil, err
	}
	return PruneAnswer{Cutoff: res.Cutoff, Requests: res.Requests, Answers: res.Answers,
		MinAge: s.k.MinPruneAge().String()}, nil
}

// deliveryRef is the reference under which the KMC remembers its answer
// to a request id given through the API (apart from the gateway's).
func deliveryRef(a kmc.Actor, id string) string { return klfRefPrefix + a.String() + ":" + id }
