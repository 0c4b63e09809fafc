package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"time"

	"github.com/stskms/stskms/store"
)

// forgetProcessAfter: rows of processes silent this long are deleted (a
// claim of a process without a row is taken over like one whose heartbeat
// lapsed).
const forgetProcessAfter = time.Hour

// register records this process in gateway_process (schema.go:
// migrationProcess), taking a fresh id, and makes it the owner of the
// claims made from now on.
func (q *Queue) register(ctx context.Context) error {
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	host, _ := os.Hostname()
	now := ns(q.now())
	if _, err := q.db.Exec(ctx, `INSERT INTO gateway_process (id, host, pid, started_ns, heartbeat_ns)
		VALUES ($1, $2, $3, $4, $4)`, id, host, int64(os.Getpid()), now); err != nil {
		return err
	}
	q.proc.id.Store(&id)
	q.log.Info("gateway: process registered", "process", id, "host", host, "pid", os.Getpid(),
		"heartbeat_ms", q.cfg.Heartbeat.Milliseconds(), "takeover_after_ms", q.cfg.HeartbeatTimeout.Milliseconds())
	return nil
}

// beat renews this process's heartbeat, registering it again if its row
// is gone (another process found it silent too long and forgot it: its
// claims may have been taken over, which their fencing makes safe), and
// forgets processes silent for a long time.
func (q *Queue) beat(ctx context.Context) error {
	id := q.proc.owner()
	if id == "" {
		return nil
	}
	now := q.now()
	res, err := q.db.Exec(ctx, `UPDATE gateway_process SET heartbeat_ns = $2 WHERE id = $1`, id, ns(now))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		q.log.Warn("gateway: this process's registration was gone; registering again", "process", id)
		if err := q.register(ctx); err != nil {
			return err
		}
	}
	_, err = q.db.Exec(ctx, `DELETE FROM gateway_process WHERE heartbeat_ns < $1`, ns(now.Add(-forgetProcessAfter)))
	return err
}

// deregister removes this process's row when Run ends, so that any claim
// it still holds (a worker stopped mid-work) is taken over at once.
func (q *Queue) deregister() {
	id := q.proc.owner()
	if id == "" {
		return
	}
	q.proc.id.Store(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := q.db.Exec(ctx, `DELETE FROM gateway_process WHERE id = $1`, id); err != nil {
		q.log.Warn("gateway: failed to deregister the process", "process", id, "err", err)
	}
}

// heartbeat renews the heartbeat every Config.Heartbeat until ctx ends.
func (q *Queue) heartbeat(ctx context.Context) {
	t := time.NewTicker(q.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := q.beat(ctx); err != nil && ctx.Err() == nil {
			q.log.Error("gateway: heartbeat failed", "err", err)
		}
	}
}

// ProcessInfo is one registered gateway process.
type ProcessInfo struct {
	ID        string
	Host      string
	PID       int64
	Started   time.Time
	Heartbeat time.Time
	// Live: its heartbeat is younger than HeartbeatTimeout.
	Live bool
}

// Processes lists the gateway processes registered on the database,
// oldest first: those running and those that stopped without
// deregistering (crashed) within the last hour.
func (q *Queue) Processes(ctx context.Context) ([]ProcessInfo, error) {
	alive := ns(q.now().Add(-q.cfg.HeartbeatTimeout))
	return store.All(ctx, q.db, `SELECT id, host, pid, started_ns, heartbeat_ns FROM gateway_process
		ORDER BY started_ns, id`, nil,
		func(row store.Scanner) (ProcessInfo, error) {
			var p ProcessInfo
			var started, beat int64
			err := row.Scan(&p.ID, &p.Host, &p.PID, &started, &beat)
			p.Started, p.Heartbeat, p.Live = time.Unix(0, started).UTC(), time.Unix(0, beat).UTC(), beat > alive
			return p, err
		})
}
