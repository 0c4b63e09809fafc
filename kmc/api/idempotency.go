package api

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// errRequestReused refuses a request id given again with another request.
var errRequestReused = errors.New("kmc/api: request id used before for another request")

// Limits of the request-id memory.
const (
	maxRequestIDLen = 128
	// requestMemory is how long an answer is kept for a retry.
	requestMemory = 24 * time.Hour
	// maxRemembered is how many answers are kept at most; the oldest go
	// first.
	maxRemembered = 10000
)

// remembered is the outcome of a creating call under a request id.
type remembered struct {
	body  [32]byte      // SHA-256 of the request, as JSON
	done  chan struct{} // closed when ans and err are set
	ans   any
	err   error
	until time.Time
}

// requestIDs remembers the answers of creating calls by caller, route and
// request id, so that a retry gets the answer of the first call instead
// of a second object. A call that failed is forgotten (it may be retried).
// The memory is the process's: a KMC run as several processes, or
// restarted, does not share it (Key Load Files are idempotent in the
// database instead, see IssueRequest).
type requestIDs struct {
	mu    sync.Mutex
	m     map[string]*remembered
	order []string // keys in the order they were added
	now   func() time.Time
}

func newRequestIDs(now func() time.Time) *requestIDs {
	return &requestIDs{m: map[string]*remembered{}, now: now}
}

// do runs fn once for key and req, and returns its answer to every later
// call with the same key and req until it is forgotten; the same key with
// another req is errRequestReused.
func (r *requestIDs) do(key string, req any, fn func() (any, error)) (any, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	e, first := r.claim(key, sum)
	if !first {
		if e.body != sum {
			return nil, errRequestReused
		}
		<-e.done
		return e.ans, e.err
	}
	e.ans, e.err = fn()
	close(e.done)
	if e.err != nil {
		r.forget(key, e)
	}
	return e.ans, e.err
}

// claim returns the entry of key, making it (first true) if there is none.
func (r *requestIDs) claim(key string, sum [32]byte) (*remembered, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for len(r.order) > 0 {
		if old := r.m[r.order[0]]; old != nil {
			if (len(r.order) < maxRemembered && now.Before(old.until)) || !isDone(old) {
				break
			}
			delete(r.m, r.order[0])
		}
		r.order = r.order[1:]
	}
	if e, ok := r.m[key]; ok {
		return e, false
	}
	e := &remembered{body: sum, done: make(chan struct{}), until: now.Add(requestMemory)}
	r.m[key] = e
	r.order = append(r.order, key)
	return e, true
}

func isDone(e *remembered) bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// forget drops key if it still names e.
func (r *requestIDs) forget(key string, e *remembered) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[key] == e {
		delete(r.m, key)
	}
}
