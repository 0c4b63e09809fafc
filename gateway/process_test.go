package gateway

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stskms/stskms/store"
)

// registered restarts the harness's gateway (a new process on the same
// database) and registers it, as Run does.
func (h *harness) registered() *Gateway {
	h.t.Helper()
	h.restart()
	if err := h.gw.q.register(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	return h.gw
}

// TestTakeoverOnSilence: a mail or reply claimed by a registered process
// that then dies is not taken over while that process's heartbeat goes
// on, and is taken over by another process as soon as its heartbeat is
// older than HeartbeatTimeout — long before the lease runs out; the
// request is answered once.
func TestTakeoverOnSilence(t *testing.T) {
	for _, point := range []string{"claimed", "sending"} {
		t.Run(point, func(t *testing.T) {
			each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				h := newHarness(t, db, nil)
				h.request(reqMail(""))
				dead := h.registered()
				h.crashAt(point)
				if point == "sending" {
					if _, err := dead.ProcessNext(ctx); err != nil {
						t.Fatal(err)
					}
				}
				step := dead.ProcessNext
				if point == "sending" {
					step = dead.SendNext
				}
				if _, err := step(ctx); !errors.Is(err, errCrash) {
					t.Fatalf("crash at %s: %v", point, err)
				}
				live := h.registered()
				timeout := live.cfg.HeartbeatTimeout
				if timeout != 3*DefaultHeartbeat || timeout >= live.cfg.Lease {
					t.Fatalf("HeartbeatTimeout %v", timeout)
				}
				wantIdle := func(when string) {
					t.Helper()
					p, err := live.ProcessNext(ctx)
					s, err2 := live.SendNext(ctx)
					if p || s || err != nil || err2 != nil {
						t.Fatalf("%s: took the claim over (%v %v %v %v)", when, p, s, err, err2)
					}
				}
				wantIdle("at once")
				h.clock.Add(timeout - time.Second)
				if err := dead.q.beat(ctx); err != nil { // still alive, only slow
					t.Fatal(err)
				}
				h.clock.Add(timeout - time.Second)
				wantIdle("while its heartbeat goes on")
				h.clock.Add(2 * time.Second) // its heartbeat is timeout+1s old
				h.drain()
				if n := len(h.sink.messages()); n != 1 {
					t.Fatalf("%d replies after the takeover", n)
				}
				q := h.queue()
				if len(q) != 1 || q[0].State != StateReplied || q[0].Replies[0].State != OutSent {
					t.Errorf("queue %+v", q)
				}
			})
		})
	}
}

// TestDeregisterReleases: the claims of a process that ends Run (a worker
// stopped mid-work) are taken over at once; a process whose row was
// forgotten registers again at its next heartbeat.
func TestDeregisterReleases(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := newHarness(t, db, nil)
		h.request(reqMail(""))
		first := h.registered()
		h.crashClaimed()
		second := h.registered()
		if did, _ := second.ProcessNext(ctx); did {
			t.Fatal("took over a live process's claim")
		}
		first.q.deregister()
		h.drain()
		if n := len(h.sink.messages()); n != 1 {
			t.Fatalf("%d replies", n)
		}

		id := second.q.proc.owner()
		if _, err := db.Exec(ctx, `DELETE FROM gateway_process`); err != nil {
			t.Fatal(err)
		}
		if err := second.q.beat(ctx); err != nil {
			t.Fatal(err)
		}
		ps, err := second.Queue().Processes(ctx)
		if err != nil || len(ps) != 1 || ps[0].ID == id || ps[0].ID != second.q.proc.owner() || !ps[0].Live {
			t.Errorf("after re-registering: %+v, %v", ps, err)
		}
	})
}

// TestUnownedClaimWaitsForLease: a claim made outside Run (no process, as
// by an older version) is taken over only when its lease runs out.
func TestUnownedClaimWaitsForLease(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := newHarness(t, db, nil)
		h.request(reqMail(""))
		h.crashClaimed()
		live := h.registered()
		h.clock.Add(10 * live.cfg.HeartbeatTimeout)
		if did, _ := live.ProcessNext(ctx); did {
			t.Fatal("an unowned claim was taken over before its lease ran out")
		}
		h.clock.Add(live.cfg.Lease)
		if did, err := live.ProcessNext(ctx); !did || err != nil {
			t.Fatalf("after the lease: %v, %v", did, err)
		}
	})
}

// TestRunRegisters: while Run runs, its process is registered, live,
// with this host and pid; when Run ends it is gone. A heartbeat timeout
// not longer than the heartbeat is refused.
func TestRunRegisters(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) { c.Heartbeat = 10 * time.Millisecond })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.gw.Run(ctx) }()
		var ps []ProcessInfo
		for deadline := time.Now().Add(10 * time.Second); len(ps) == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			var err error
			if ps, err = h.gw.Queue().Processes(ctx); err != nil {
				t.Fatal(err)
			}
		}
		host, _ := os.Hostname()
		if len(ps) != 1 || !ps[0].Live || ps[0].Host != host || ps[0].PID != int64(os.Getpid()) || len(ps[0].ID) != 32 {
			t.Fatalf("processes %+v", ps)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
		if ps, err := h.gw.Queue().Processes(context.Background()); err != nil || len(ps) != 0 {
			t.Errorf("after Run: %+v, %v", ps, err)
		}
		cfg := h.cfg
		cfg.Heartbeat, cfg.HeartbeatTimeout = time.Second, time.Second
		if _, err := New(context.Background(), db, nil, nil, cfg); !errors.Is(err, errHeartbeat) {
			t.Errorf("timeout = heartbeat: %v", err)
		}
	})
}

// TestResendIdentical: a reply's bytes are stored when it is made, and a
// send again after a crash between the relay's 250 and its record sends
// exactly those bytes: the copy is the same message, Message-ID and all.
func TestResendIdentical(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := newHarness(t, db, nil)
		h.request(reqMail(""))
		if _, err := h.gw.ProcessNext(ctx); err != nil {
			t.Fatal(err)
		}
		var stored []byte
		if err := db.QueryRow(ctx, `SELECT data FROM gateway_outbox`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		h.clock.Add(time.Minute) // a resend is made later: any recomposition would differ
		dead := h.registered()
		h.crashAt("sent")
		if _, err := dead.SendNext(ctx); !errors.Is(err, errCrash) {
			t.Fatal(err)
		}
		h.registered()
		h.clock.Add(h.gw.cfg.HeartbeatTimeout + time.Second)
		h.drain()
		msgs := h.sink.messages()
		if len(msgs) != 2 {
			t.Fatalf("%d copies, want 2", len(msgs))
		}
		for i, m := range msgs {
			if !bytes.Equal(m.Data, stored) {
				t.Errorf("copy %d differs from the stored reply:\n%s\n---\n%s", i, m.Data, stored)
			}
		}
	})
}
