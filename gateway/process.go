package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/stskms/stskms/store"
)

// migrationProcess is the gateway's schema step for crash recovery in
// seconds. Released steps never change.
//
// Every process that runs the gateway (Run) registers a row in
// gateway_process — a random id, its host and pid, when it started — and
// renews heartbeat_ns every Config.Heartbeat. A claim of a mail or a reply
// records the claiming process in owner; a claim whose owner's heartbeat
// is older than Config.HeartbeatTimeout, or whose owner has no row, is
// taken over at once by any live process, without waiting for its lease.
// A claim with an empty owner (made outside Run, or by an older version) is
// taken over only when its lease runs out, as before.
var migrationProcess = store.Migration{
	Version: 4,
	Name:    "gateway processes and the owners of claims",
	SQL: `CREATE TABLE gateway_process (
		id           TEXT   PRIMARY KEY,
		host         TEXT   NOT NULL,
		pid          BIGINT NOT NULL,
		started_ns   BIGINT NOT NULL,
		heartbeat_ns BIGINT NOT NULL
	);
	ALTER TABLE gateway_mail ADD COLUMN owner TEXT NOT NULL DEFAULT '';
	ALTER TABLE gateway_outbox ADD COLUMN owner TEXT NOT NULL DEFAULT ''`,
}

// Defaults of the process heartbeat (Config.Heartbeat and
// Config.HeartbeatTimeout).
const (
	DefaultHeartbeat = 2 * time.Second
	// heartbeatLapses is how many heartbeats a process may miss before
	// its claims are taken over: the default HeartbeatTimeout is this
	// many Heartbeats.
	heartbeatLapses = 3
	// forgetProcessAfter: rows of processes silent this long are deleted
	// (a claim of a process without a row is taken over like one whose
	// heartbeat lapsed).
	forgetProcessAfter = time.Hour
)

// process is the registration of this process while Run runs.
type process struct {
	id atomic.Pointer[string]
}

// owner returns the id claims record: this process's while Run runs, else
// "" (claims then expire only with their lease).
func (p *process) owner() string {
	if id := p.id.Load(); id != nil {
		return *id
	}
	return ""
}

// register records this process in gateway_process, taking a fresh id,
// and makes it the owner of the claims made from now on.
func (g *Gateway) register(ctx context.Context) error {
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	host, _ := os.Hostname()
	now := ns(g.now())
	if _, err := g.db.Exec(ctx, `INSERT INTO gateway_process (id, host, pid, started_ns, heartbeat_ns)
		VALUES ($1, $2, $3, $4, $4)`, id, host, int64(os.Getpid()), now); err != nil {
		return err
	}
	g.proc.id.Store(&id)
	g.log.Info("gateway: process registered", "process", id, "host", host, "pid", os.Getpid(),
		"heartbeat_ms", g.cfg.Heartbeat.Milliseconds(), "takeover_after_ms", g.cfg.HeartbeatTimeout.Milliseconds())
	return nil
}

// beat renews this process's heartbeat, registering it again if its row
// is gone (another process found it silent too long and forgot it: its
// claims may have been taken over, which their fencing makes safe), and
// forgets processes silent for a long time.
func (g *Gateway) beat(ctx context.Context) error {
	id := g.proc.owner()
	if id == "" {
		return nil
	}
	now := g.now()
	res, err := g.db.Exec(ctx, `UPDATE gateway_process SET heartbeat_ns = $2 WHERE id = $1`, id, ns(now))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		g.log.Warn("gateway: this process's registration was gone; registering again", "process", id)
		if err := g.register(ctx); err != nil {
			return err
		}
	}
	_, err = g.db.Exec(ctx, `DELETE FROM gateway_process WHERE heartbeat_ns < $1`, ns(now.Add(-forgetProcessAfter)))
	return err
}

// deregister removes this process's row when Run ends, so that any claim
// it still holds (a worker stopped mid-work) is taken over at once.
func (g *Gateway) deregister() {
	id := g.proc.owner()
	if id == "" {
		return
	}
	g.proc.id.Store(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := g.db.Exec(ctx, `DELETE FROM gateway_process WHERE id = $1`, id); err != nil {
		g.log.Warn("gateway: failed to deregister the process", "process", id, "err", err)
	}
}

// heartbeat renews the heartbeat every Config.Heartbeat until ctx ends.
func (g *Gateway) heartbeat(ctx context.Context) {
	t := time.NewTicker(g.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := g.beat(ctx); err != nil && ctx.Err() == nil {
			g.log.Error("gateway: heartbeat failed", "err", err)
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
func (g *Gateway) Processes(ctx context.Context) ([]ProcessInfo, error) {
	rows, err := g.db.Query(ctx, `SELECT id, host, pid, started_ns, heartbeat_ns FROM gateway_process
		ORDER BY started_ns, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	alive := ns(g.now().Add(-g.cfg.HeartbeatTimeout))
	var out []ProcessInfo
	for rows.Next() {
		var p ProcessInfo
		var started, beat int64
		if err := rows.Scan(&p.ID, &p.Host, &p.PID, &started, &beat); err != nil {
			return nil, err
		}
		p.Started, p.Heartbeat, p.Live = time.Unix(0, started).UTC(), time.Unix(0, beat).UTC(), beat > alive
		out = append(out, p)
	}
	return out, rows.Err()
}

// errHeartbeat: Config.HeartbeatTimeout does not exceed Config.Heartbeat.
var errHeartbeat = errors.New("gateway: the heartbeat timeout must be longer than the heartbeat interval")
