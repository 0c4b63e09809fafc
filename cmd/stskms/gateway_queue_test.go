package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/netguard"
	"github.com/stskms/stskms/store"
)

// gatewayQueueDB makes a gateway database with three mails: 1 replied
// (reply sent, then a delay report received for it), 2 replied but its
// reply failed (relay 550), 3 given up (failed); all finished two days
// ago. It returns its --db value.
func gatewayQueueDB(t *testing.T) string {
	t.Helper()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "gw.db")
	ctx := context.Background()
	db, gw := openTestGateway(t, dsn)
	defer db.Close()
	done := time.Now().Add(-48 * time.Hour).UnixNano()
	for i, st := range []struct{ mail, reply string }{
		{gateway.StateReplied, gateway.OutSent},
		{gateway.StateReplied, gateway.OutFailed},
		{gateway.StateFailed, ""},
	} {
		raw := "From: alice@example.com\r\nTo: kmc@kms.example.com\r\nSubject: {KMS:Help}\r\n\r\nHi\r\n"
		if _, err := gw.Accept(ctx, gateway.Envelope{From: "alice@example.com", To: []string{"kmc@kms.example.com"}},
			[]byte(raw)); err != nil {
			t.Fatal(err)
		}
		id := int64(i + 1)
		// The states a running gateway would have left (it needs a KMC
		// and a relay; the gateway package's tests drive those).
		if _, err := db.Exec(ctx, `UPDATE gateway_mail SET state = $2, done_ns = $3, attempts = 9, service = 'Help'
			WHERE id = $1`, id, st.mail, done); err != nil {
			t.Fatal(err)
		}
		if st.reply == "" {
			continue
		}
		if _, err := db.Exec(ctx, `INSERT INTO gateway_outbox (mail_id, kind, env_from, rcpt, message_id, result, data,
			state, attempts, next_ns, lease_ns, last_error, created_ns, sent_ns)
			VALUES ($1, 'final', '', 'alice@example.com', 'm@kms.example.com', 'Success', $2, $3, 1, 0, 0, $4, $5, 0)`,
			id, []byte("x"), st.reply, map[bool]string{true: "550 No such user"}[st.reply == gateway.OutFailed], done); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `INSERT INTO gateway_bounce (mail_id, outbox_id, recipient, action, status, diagnostic,
		note, created_ns) VALUES (1, 1, 'alice@example.com', 'delayed', '4.4.1', 'X-Postfix; connect timed out', '', $1)`,
		done); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func TestGatewayQueueCommands(t *testing.T) {
	db := gatewayQueueDB(t)
	expect := func(t *testing.T, wantCode int, wantOut string, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(append([]string{"gateway", "queue"}, append(args, "--db", db)...)...)
		if code != wantCode || !strings.Contains(out+errOut, wantOut) {
			t.Fatalf("stskms gateway queue %s: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s",
				strings.Join(args, " "), code, wantCode, wantOut, out, errOut)
		}
		return out
	}
	jsonIDs := func(t *testing.T, out string) []int64 {
		t.Helper()
		var ids []int64
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var e gateway.QueueEntry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			ids = append(ids, e.ID)
		}
		return ids
	}

	t.Run("list", func(t *testing.T) {
		// Without a verb: JSON lines, as scripts have always read it.
		if ids := jsonIDs(t, expect(t, 0, "")); len(ids) != 3 {
			t.Errorf("bare queue listed %v", ids)
		}
		if ids := jsonIDs(t, expect(t, 0, "", "list", "--json", "--state", "failed")); len(ids) != 2 || ids[0] != 2 || ids[1] != 3 {
			t.Errorf("failed: %v", ids)
		}
		out := expect(t, 0, "550 No such user", "list")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 6 || !strings.HasPrefix(lines[0], "ID") {
			t.Errorf("table:\n%s", out)
		}
		expect(t, 1, `no state "lost"`, "list", "--state", "lost")
		expect(t, 2, `unknown verb "lsit"`, "lsit")
	})
	t.Run("retry", func(t *testing.T) {
		expect(t, 2, "give mail IDs or --failed", "retry")
		expect(t, 2, "give mail IDs or --failed", "retry", "2", "--failed")
		expect(t, 2, "not a mail ID", "retry", "two")
		expect(t, 1, "retry 1: neither the mail nor any of its replies failed", "retry", "2", "1")
		expect(t, 1, "retry 7: no such mail", "retry", "7")
		expect(t, 0, "retried 0 mails, 1 reply", "retry", "2")
		// One line on standard output says what it did; no log line as
		// well.
		if _, out, errOut := runCLI("gateway", "queue", "retry", "--failed", "--db", db); out != "retried 1 mail, 0 replies\n" || errOut != "" {
			t.Errorf("retry --failed: stdout %q, stderr %q", out, errOut)
		}
		expect(t, 0, "retried 0 mails, 0 replies", "retry", "--failed")
		if ids := jsonIDs(t, expect(t, 0, "", "list", "--json", "--state", "pending")); len(ids) != 1 || ids[0] != 2 {
			t.Errorf("pending after retry: %v", ids)
		}
	})
	t.Run("bounces", func(t *testing.T) {
		code, out, errOut := runCLI("gateway", "bounces", "--db", db)
		var b gateway.BounceRecord
		if err := json.Unmarshal([]byte(out), &b); code != 0 || err != nil || b.Reply != 1 || b.Status != "4.4.1" ||
			b.Action != "delayed" {
			t.Fatalf("gateway bounces: exit %d, %+v (%v)\n%s", code, b, err, errOut)
		}
	})
	t.Run("purge", func(t *testing.T) {
		expect(t, 2, "--older-than: required", "purge")
		expect(t, 2, "not a positive duration", "purge", "--older-than", "-1h")
		expect(t, 0, "would purge 1 mail, 1 reply, 1 bounce record", "purge", "--older-than", "1d", "--dry-run")
		if _, out, errOut := runCLI("gateway", "queue", "purge", "--older-than", "24h", "--db", db); !strings.HasPrefix(out, "purged 1 mail, 1 reply, 1 bounce record finished before ") ||
			strings.Count(out, "\n") != 1 || errOut != "" {
			t.Errorf("purge: stdout %q, stderr %q", out, errOut)
		}
		// Left: 2 (reply pending again) and 3 (received again).
		if ids := jsonIDs(t, expect(t, 0, "", "list", "--json")); len(ids) != 2 || ids[0] != 2 || ids[1] != 3 {
			t.Errorf("left %v", ids)
		}
	})
}

// openTestGateway opens the database dsn and a gateway on it, without KMC
// or relay; the caller closes the database.
func openTestGateway(t *testing.T, dsn string) (*store.DB, *gateway.Gateway) {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(context.Background(), db, nil, nil, gateway.Config{Address: "kmc@kms.example.com"})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db, gw
}

// TestGatewayServeMetrics: serve --metrics serves the gateway's registry
// over HTTP, gauges read from its database.
func TestGatewayServeMetrics(t *testing.T) {
	db, gw := openTestGateway(t, gatewayQueueDB(t))
	defer db.Close()
	url, stop, err := serveGatewayMetrics(gw, "127.0.0.1:0", slog.New(slog.DiscardHandler), netguard.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	code, body := getPage(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, code, body)
	}
	for _, want := range []string{`stskms_gateway_queue_mails{state="failed"} 1`, `stskms_gateway_queue_mails{state="replied"} 2`,
		`stskms_gateway_outbox_replies{state="failed"} 1`, "stskms_gateway_smtp_sessions_total 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	if _, _, err := serveGatewayMetrics(gw, "256.0.0.1:1", slog.New(slog.DiscardHandler), netguard.Limits{}, nil); err == nil {
		t.Error("a bad address served")
	}
}
