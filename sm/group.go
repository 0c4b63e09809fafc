package sm

import (
	"context"
	"errors"

	"github.com/stskms/stskms/store"
)

// Group commit: token requests that arrive together share one transaction,
// so one commit (one fsync on SQLite) makes many tokens durable. Each
// request keeps its own outcome: a request refused by its checks is left
// out, the others commit.
//
// This is safe because a request's transaction function refuses (returns an
// *Error, or errStale) only before its first write: it reads and checks,
// then writes. Any other error — the database's, a conflict on the request
// id with another process — may come after writes, so it aborts the whole
// batch, and every request of the batch then runs again in a transaction
// of its own, exactly as without grouping.

// maxBatch is the most requests one transaction carries.
const maxBatch = 256

// pending is one request waiting for the committer.
type pending struct {
	fn   func(tx *store.Tx) error
	done chan error
}

// startCommitter starts the goroutine that runs the batches.
func (m *Module) startCommitter() {
	m.queue = make(chan *pending)
	m.quit = make(chan struct{})
	m.committer.Add(1)
	go func() {
		defer m.committer.Done()
		for {
			select {
			case p := <-m.queue:
				batch := []*pending{p}
			more:
				for len(batch) < maxBatch {
					select {
					case q := <-m.queue:
						batch = append(batch, q)
					default:
						break more
					}
				}
				m.runBatch(batch)
			case <-m.quit:
				return
			}
		}
	}()
}

// stopCommitter stops the committer once it has finished its batch.
func (m *Module) stopCommitter() {
	if m.quit != nil {
		close(m.quit)
		m.committer.Wait()
	}
}

// submit runs fn in a transaction shared with the requests that arrive
// with it, and returns fn's outcome. fn may run more than once.
func (m *Module) submit(fn func(tx *store.Tx) error) error {
	p := &pending{fn: fn, done: make(chan error, 1)}
	select {
	case m.queue <- p:
	case <-m.quit:
		return refuse(ErrClosed, "")
	}
	return <-p.done
}

// refusedBeforeWriting reports an outcome after which a request wrote
// nothing, so that its batch may commit without it.
func refusedBeforeWriting(err error) bool {
	var e *Error
	return errors.As(err, &e) || errors.Is(err, errStale)
}

// runBatch runs a batch in one transaction, or, if that fails, each
// request alone.
func (m *Module) runBatch(batch []*pending) {
	ctx := context.Background()
	results := make([]error, len(batch))
	var err error
	if len(batch) > 1 {
		err = m.tx(ctx, func(tx *store.Tx) error {
			for i, p := range batch {
				results[i] = p.fn(tx)
				if results[i] != nil && !refusedBeforeWriting(results[i]) {
					return results[i]
				}
			}
			return nil
		})
	}
	if len(batch) == 1 || err != nil {
		for i, p := range batch {
			results[i] = m.tx(ctx, p.fn)
		}
	}
	for i, p := range batch {
		p.done <- results[i]
	}
}
