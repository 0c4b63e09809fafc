package sm

import (
	"context"
	"errors"

	"github.com/stskms/stskms/store"
)

// Group commit: token requests that arrive together share one transaction,
// so one commit (one fsync on SQLite) makes many tokens durable, and their
// writes are merged (batch.go): one update per register, one upsert of TIDs,
// one append of audit records, one insert of answers. Each request keeps
// its own outcome: a request refused by its checks is left out, the others
// commit.
//
// The window is adaptive, never a sleep: the committer takes the first
// request waiting, then every request already waiting (up to maxBatch), and
// runs them. While one batch runs, the next one gathers; under light load a
// request runs at once, alone.
//
// This is safe because a request's transaction function only reads the
// database and checks, then records its changes in the batch, never
// refusing after that: a refused request (an *Error, errStale,
// errPending) has changed nothing. Any other error — the database's, a
// conflict on a request id with another process — aborts the whole batch,
// and every request of the batch then runs again in a transaction of its
// own, exactly as without grouping.

// maxBatch is the most requests one transaction carries (a group given
// at once is never split).
const maxBatch = 1024

// txJob is one request's part of a transaction: its id, whose stored
// answer the batch reads first, and its function, which may run more than
// once.
type txJob struct {
	id   string
	tids []tidKey // the meters and keys whose last TID it reads
	fn   func(ctx context.Context, tx *store.Tx, b *batch) error
}

// pending is a group of requests waiting for the committer.
type pending struct {
	jobs []txJob
	errs []error
	done chan struct{}
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
				m.runBatch(m.gather(p))
			case <-m.quit:
				return
			}
		}
	}()
}

// gather returns p and the groups already waiting behind it.
func (m *Module) gather(p *pending) []*pending {
	batch, n := []*pending{p}, len(p.jobs)
	for n < maxBatch {
		select {
		case q := <-m.queue:
			batch = append(batch, q)
			n += len(q.jobs)
		default:
			return batch
		}
	}
	return batch
}

// stopCommitter stops the committer once it has finished its batch, and
// clears the cached vending keys (cache.go) for good.
func (m *Module) stopCommitter() {
	if m.quit != nil {
		close(m.quit)
		m.committer.Wait()
	}
	m.cache.close()
}

// submit runs jobs in transactions shared with the requests that arrive
// with them, and returns their outcomes.
func (m *Module) submit(jobs []txJob) []error {
	var ps []*pending
	for lo := 0; lo < len(jobs); lo += maxBatch {
		part := jobs[lo:min(lo+maxBatch, len(jobs))]
		p := &pending{jobs: part, errs: make([]error, len(part)), done: make(chan struct{})}
		select {
		case m.queue <- p:
		case <-m.quit:
			for i := range p.errs {
				p.errs[i] = refuse(ErrClosed, "")
			}
			close(p.done)
		}
		ps = append(ps, p)
	}
	errs := make([]error, 0, len(jobs))
	for _, p := range ps {
		<-p.done
		errs = append(errs, p.errs...)
	}
	return errs
}

// refusedBeforeWriting reports an outcome after which a request changed
// nothing, so that its batch may commit without it.
func refusedBeforeWriting(err error) bool {
	var e *Error
	return errors.As(err, &e) || errors.Is(err, errStale) || errors.Is(err, errPending)
}

// runBatch runs a batch in one transaction, or, if that fails, each
// request alone.
func (m *Module) runBatch(ps []*pending) {
	ctx := context.Background()
	var jobs []txJob
	for _, p := range ps {
		jobs = append(jobs, p.jobs...)
	}
	results := make([]error, len(jobs))
	err := m.tx(ctx, func(tx *store.Tx) error { return m.runJobs(ctx, tx, jobs, results, false) })
	if errors.Is(err, store.ErrConflict) {
		// A request id was seen before: again, with the answers.
		err = m.tx(ctx, func(tx *store.Tx) error { return m.runJobs(ctx, tx, jobs, results, true) })
	}
	switch {
	case err == nil:
	case len(jobs) == 1:
		results[0] = err
	default:
		for i := range jobs {
			results[i] = m.tx(ctx, func(tx *store.Tx) error {
				if err := m.runJobs(ctx, tx, jobs[i:i+1], results[i:i+1], true); err != nil {
					return err
				}
				return results[i]
			})
		}
	}
	for _, p := range ps {
		n := copy(p.errs, results)
		results = results[n:]
		close(p.done)
	}
}

// runJobs runs jobs in tx, putting each one's outcome in results, and
// writes what they issued. With answers, it first reads the stored
// answers of their request ids; without, it counts on their being new, as
// they nearly always are: a request id seen before then makes the insert
// of the answers fail with store.ErrConflict, and the caller runs the jobs
// again, with answers.
func (m *Module) runJobs(ctx context.Context, tx *store.Tx, jobs []txJob, results []error, answers bool) error {
	b := newBatch()
	var ids []string
	var tids []tidKey
	for _, j := range jobs {
		if answers {
			ids = append(ids, j.id)
		}
		tids = append(tids, j.tids...)
	}
	if err := b.load(ctx, tx, ids, tids); err != nil {
		return err
	}
	for i, j := range jobs {
		results[i] = j.fn(ctx, tx, b)
		if results[i] != nil && !refusedBeforeWriting(results[i]) {
			return results[i]
		}
	}
	return m.flush(ctx, tx, b)
}
