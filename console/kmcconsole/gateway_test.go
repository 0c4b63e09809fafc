package kmcconsole

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// gatewayFixture is a KMC and a gateway queue on db with five mails:
// 1 replied (reply sent, a bounce for it), 2 replied with its reply
// failed, 3 given up (failed), all three finished two days ago; 4
// received, not yet worked on; 5 replied 23 hours ago. And a block of
// addr:eve@example.com. The queue's clock is the fixture's.
type gatewayFixture struct {
	t    *testing.T
	k    *kmc.KMC
	db   *store.DB
	q    *gateway.Queue
	gw   *gateway.Gateway
	site console.Site
	page console.Page
	now  time.Time
}

func newGatewayFixture(t *testing.T, db *store.DB) *gatewayFixture {
	t.Helper()
	ctx := context.Background()
	k, _ := consoletest.KMC(t)
	f := &gatewayFixture{t: t, k: k, db: db, now: time.Now()}
	gw, err := gateway.New(ctx, db, nil, nil, gateway.Config{Address: "kmc@kms.example.com", Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.q, f.gw = gw.Queue(), gw
	f.site = Site(k, Options{Queue: f.q})
	f.page = f.site.Pages[pageIndex(t, f.site, "gateway")]
	old, recent := f.now.Add(-48*time.Hour).UnixNano(), f.now.Add(-23*time.Hour).UnixNano()
	for _, m := range []struct {
		state string
		done  int64
		reply string
	}{
		{gateway.StateReplied, old, gateway.OutSent},
		{gateway.StateReplied, old, gateway.OutFailed},
		{gateway.StateFailed, old, ""},
		{gateway.StateReceived, 0, ""},
		{gateway.StateReplied, recent, gateway.OutSent},
	} {
		id := f.accept()
		f.exec(`UPDATE gateway_mail SET state = $2, done_ns = $3, attempts = 9, service = 'Help' WHERE id = $1`, id, m.state, m.done)
		if m.reply != "" {
			f.exec(`INSERT INTO gateway_outbox (mail_id, kind, env_from, rcpt, message_id, result, data, state, attempts,
				next_ns, lease_ns, last_error, created_ns, sent_ns)
				VALUES ($1, 'final', '', 'alice@example.com', 'm@kms.example.com', 'Success', $2, $3, 1, 0, 0, '', $4, 0)`,
				id, []byte("x"), m.reply, m.done)
		}
	}
	f.exec(`INSERT INTO gateway_bounce (mail_id, outbox_id, recipient, action, status, diagnostic, note, created_ns)
		VALUES (1, 1, 'alice@example.com', 'failed', '5.1.1', 'No such user', '', $1)`, old)
	f.exec(`INSERT INTO gateway_block (block_key, until_ns, created_ns, reason) VALUES ('addr:eve@example.com', $1, $2, 'flood')`,
		f.now.Add(time.Hour).UnixNano(), old)
	return f
}

// accept puts one request mail in the queue (received) and returns its id.
func (f *gatewayFixture) accept() int64 {
	f.t.Helper()
	raw := "From: alice@example.com\r\nTo: kmc@kms.example.com\r\nSubject: {KMS:Help}\r\n\r\nHi\r\n"
	if _, err := f.gw.Accept(context.Background(), gateway.Envelope{From: "alice@example.com",
		To: []string{"kmc@kms.example.com"}}, []byte(raw)); err != nil {
		f.t.Fatal(err)
	}
	var id int64
	if err := f.db.QueryRow(context.Background(), `SELECT MAX(id) FROM gateway_mail`).Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *gatewayFixture) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(context.Background(), query, args...); err != nil {
		f.t.Fatal(err)
	}
}

// read reads the page as a with the query query.
func (f *gatewayFixture) read(a role.Actor, query string) (*Gateway, error) {
	f.t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		f.t.Fatal(err)
	}
	d, err := f.page.Data(context.Background(), a, console.Query{Values: v})
	g, _ := d.(*Gateway)
	return g, err
}

// do runs the page's action name as a, as the console does: the site's
// Allow first, then the action. It returns the status the console would
// answer (200 done, 4xx refused) and what it says.
func (f *gatewayFixture) do(a role.Actor, name string, form url.Values) (int, string) {
	f.t.Helper()
	for _, act := range f.page.Actions {
		if act.Name != name {
			continue
		}
		if err := f.site.Allow(a, act.Op); err != nil {
			return http.StatusForbidden, err.Error()
		}
		done, err := act.Do(context.Background(), console.Call{Actor: a, Form: form})
		var ie *console.InputError
		switch {
		case errors.As(err, &ie):
			return http.StatusBadRequest, ie.Error()
		case err != nil:
			status, text := f.site.Explain(err)
			if status == 0 {
				f.t.Fatalf("%s: internal error %v", name, err)
			}
			return status, text
		}
		return http.StatusOK, done
	}
	f.t.Fatalf("no action %q", name)
	return 0, ""
}

// mails lists the queue's mail ids in state ("" all).
func (f *gatewayFixture) mails(state string) []int64 {
	f.t.Helper()
	q, err := f.q.List(context.Background(), state)
	if err != nil {
		f.t.Fatal(err)
	}
	return entryIDs(entries(q))
}

// audited lists the KMC audit log's records of gateway actions as
// "actor action subject".
func (f *gatewayFixture) audited() []string {
	f.t.Helper()
	var out []string
	err := f.k.AuditLog().Records(context.Background(), 1, func(r audit.Record) error {
		if strings.HasPrefix(r.Action, "gateway.") {
			out = append(out, r.Actor+" "+r.Action+" "+r.Subject)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func entryIDs(es []Entry) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func pageIndex(t *testing.T, s console.Site, path string) int {
	t.Helper()
	for i, p := range s.Pages {
		if p.Path == path {
			return i
		}
	}
	t.Fatalf("no page %q", path)
	return 0
}

var (
	olga  = role.Operator.As("olga")
	carol = role.Auditor.As("carol")
)

// TestGatewayList: the queue is filtered by state and paged on the
// server, bounces and blocks listed, counts by state; bad filters are
// 400 naming the field; no role reads nothing; with no gateway the page
// says so and offers no action.
func TestGatewayList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newGatewayFixture(t, db)
		for query, want := range map[string][]int64{
			"":               {1, 2, 3, 4, 5},
			"state=failed":   {2, 3}, // 2 by its reply
			"state=received": {4},
			"state=sent":     {1, 5},
			"state=bounced":  nil,
		} {
			g, err := f.read(carol, query)
			if err != nil || !reflect.DeepEqual(entryIDs(g.Entries), want) {
				t.Errorf("%q: %v, %v; want %v", query, entryIDs(g.Entries), err, want)
			}
		}
		g, err := f.read(carol, "")
		if err != nil || !reflect.DeepEqual(g.Mails[:5], []gateway.StateCount{{State: "received", N: 1}, {State: "processing"},
			{State: "replied", N: 3}, {State: "ignored"}, {State: "failed", N: 1}}) {
			t.Errorf("counts %v, %v", g.Mails, err)
		}
		if failed := []bool{g.Entries[0].Failed, g.Entries[1].Failed, g.Entries[2].Failed, g.Entries[3].Failed}; !reflect.DeepEqual(failed, []bool{false, true, true, false}) {
			t.Errorf("retryable %v", failed)
		}
		if g, err := f.read(carol, "show=bounces"); err != nil || len(g.Bounces) != 1 || g.Bounces[0].Status != "5.1.1" {
			t.Errorf("bounces %+v, %v", g, err)
		}
		if g, err := f.read(carol, "show=blocks"); err != nil || len(g.Blocks) != 1 || g.Blocks[0].Key != "addr:eve@example.com" {
			t.Errorf("blocks %+v, %v", g, err)
		}
		for range console.PageSize {
			f.accept()
		}
		g, err = f.read(carol, "state=received&p=2")
		if err != nil || g.Window.Total != console.PageSize+1 || g.Window.Number != 2 || len(g.Entries) != 1 ||
			!strings.Contains(g.Window.Prev(), "state=received") {
			t.Errorf("page 2: %v of %+v, %v", entryIDs(g.Entries), g.Window, err)
		}
		for query, field := range map[string]string{"state=lost": "state", "show=secrets": "show", "days=-3": "days",
			"days=x": "days", "days=0": "days", "state=failed&state=sent": "state"} {
			var ie *console.InputError
			if _, err := f.read(carol, query); !errors.As(err, &ie) || ie.Field != field {
				t.Errorf("%q: %v, want a bad %s", query, err, field)
			}
		}
		if _, err := f.read(role.Actor{Name: "nobody"}, ""); !errors.Is(err, kmc.ErrRole) {
			t.Errorf("no role: %v, want kmc.ErrRole", err)
		}
		none := gatewayPage(f.k, nil)
		if d, err := none.Data(context.Background(), carol, console.Query{Values: url.Values{}}); err != nil ||
			d.(*Gateway).Present || len(none.Actions) != 0 {
			t.Errorf("no gateway: %+v, %v, %d actions", d, err, len(none.Actions))
		}
	})
}

// TestGatewayRetry: an operator retries one failed mail by id, then all
// that failed, each audited with their name; an id of no failed mail, or
// not a number, is 400 naming "id" and changes nothing.
func TestGatewayRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newGatewayFixture(t, db)
		for _, id := range []string{"x", "-1", "", "4", "99"} {
			if status, text := f.do(olga, "retry", url.Values{"id": {id}}); status != http.StatusBadRequest || !strings.HasPrefix(text, "id: ") {
				t.Errorf("retry %q: %d %q", id, status, text)
			}
		}
		if got := f.mails(gateway.StateReceived); !reflect.DeepEqual(got, []int64{4}) {
			t.Fatalf("refused retries changed the queue: received %v", got)
		}
		if status, text := f.do(olga, "retry", url.Values{"id": {"3"}}); status != http.StatusOK || !strings.Contains(text, "1 mail") {
			t.Errorf("retry 3: %d %q", status, text)
		}
		if got := f.mails(gateway.StateReceived); !reflect.DeepEqual(got, []int64{3, 4}) {
			t.Errorf("after retry 3, received %v", got)
		}
		if status, text := f.do(olga, "retryfailed", url.Values{}); status != http.StatusOK || !strings.Contains(text, "1 reply") {
			t.Errorf("retry failed: %d %q", status, text)
		}
		if got := f.mails(gateway.OutPending); !reflect.DeepEqual(got, []int64{2}) {
			t.Errorf("after retry of all failed, pending %v", got)
		}
		want := []string{"operator:olga gateway.retry mail 3", "operator:olga gateway.retry every failed mail"}
		if got := f.audited(); !reflect.DeepEqual(got, want) {
			t.Errorf("audited %q, want %q", got, want)
		}
	})
}

// TestGatewayPurge: the preview (a dry run) lists what a purge would
// delete and deletes nothing; the purge it offers, with its parameters,
// deletes exactly those mails, none that came of age since, audited with
// the person's name; a negative
// age or a time later than the age allows is 400 naming the field.
func TestGatewayPurge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newGatewayFixture(t, db)
		g, err := f.read(olga, "days=1")
		if err != nil || g.Preview == nil || g.Show != "purge" {
			t.Fatalf("preview %+v, %v", g, err)
		}
		previewed := entryIDs(g.Entries)
		if !reflect.DeepEqual(previewed, []int64{1, 2, 3}) || g.Preview.Result.Mails != 3 || g.Preview.Result.Bounces != 1 {
			t.Fatalf("preview lists %v, counts %+v", previewed, g.Preview.Result)
		}
		if got := f.mails(""); len(got) != 5 {
			t.Fatalf("the preview deleted: %v left", got)
		}
		form := url.Values{"days": {strconv.Itoa(g.Preview.Days)}, "before": {g.Preview.Before}}
		for _, bad := range []struct{ days, before, field string }{
			{"-1", g.Preview.Before, "days"},
			{"1.5", g.Preview.Before, "days"},
			{"1", time.Now().UTC().Format(time.RFC3339Nano), "before"}, // younger than a day
			{"1", "yesterday", "before"},
		} {
			status, text := f.do(olga, "purge", url.Values{"days": {bad.days}, "before": {bad.before}})
			if status != http.StatusBadRequest || !strings.HasPrefix(text, bad.field+": ") {
				t.Errorf("purge %+v: %d %q", bad, status, text)
			}
		}
		f.accept()                       // new since the preview: kept
		f.now = f.now.Add(2 * time.Hour) // 5 is now older than a day: kept too
		if status, text := f.do(olga, "purge", form); status != http.StatusOK || !strings.Contains(text, "3 mails") {
			t.Fatalf("purge: %d %q", status, text)
		}
		if got := f.mails(""); !reflect.DeepEqual(got, []int64{4, 5, 6}) {
			t.Errorf("left %v, want 4, 5, 6 (the purge took %v)", got, previewed)
		}
		if g, _ := f.read(olga, "show=bounces"); len(g.Bounces) != 0 {
			t.Errorf("bounces left: %+v", g.Bounces)
		}
		if got := f.audited(); len(got) != 1 || !strings.HasPrefix(got[0], "operator:olga gateway.purge ") {
			t.Errorf("audited %q", got)
		}
	})
}

// TestGatewayUnblock: an officer lifts a block, audited; an unknown or
// empty key is 400 naming "key".
func TestGatewayUnblock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newGatewayFixture(t, db)
		alice := role.Officer.As("alice")
		for _, key := range []string{"", "addr:nobody@example.com", "addr:\x00"} {
			if status, text := f.do(alice, "unblock", url.Values{"key": {key}}); status != http.StatusBadRequest || !strings.HasPrefix(text, "key: ") {
				t.Errorf("unblock %q: %d %q", key, status, text)
			}
		}
		if status, text := f.do(alice, "unblock", url.Values{"key": {"addr:eve@example.com"}}); status != http.StatusOK {
			t.Errorf("unblock: %d %q", status, text)
		}
		if blocks, err := f.q.Blocks(context.Background()); err != nil || len(blocks) != 0 {
			t.Errorf("blocks left %+v, %v", blocks, err)
		}
		if got := f.audited(); !reflect.DeepEqual(got, []string{"officer:alice gateway.unblock addr:eve@example.com"}) {
			t.Errorf("audited %q", got)
		}
	})
}

// TestGatewayAuditorRefused: an auditor reads the page, but each action
// is refused 403 by the site's rules, and by the action itself were it
// run anyway (kmc.ErrRole); nothing changes and nothing is audited.
func TestGatewayAuditorRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newGatewayFixture(t, db)
		g, err := f.read(carol, "days=1")
		if err != nil {
			t.Fatal(err)
		}
		forms := map[string]url.Values{"retry": {"id": {"3"}}, "retryfailed": {}, "unblock": {"key": {"addr:eve@example.com"}},
			"purge": {"days": {"1"}, "before": {g.Preview.Before}}}
		for _, act := range f.page.Actions {
			if status, _ := f.do(carol, act.Name, forms[act.Name]); status != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", act.Name, status)
			}
			_, err := act.Do(context.Background(), console.Call{Actor: carol, Form: forms[act.Name]})
			if status, _ := api.Explain(err); !errors.Is(err, kmc.ErrRole) || status != http.StatusForbidden {
				t.Errorf("%s run anyway: %v (%d)", act.Name, err, status)
			}
		}
		if len(forms) != len(f.page.Actions) {
			t.Errorf("%d actions, %d tested", len(f.page.Actions), len(forms))
		}
		if got := f.mails(""); len(got) != 5 || len(f.mails(gateway.StateFailed)) != 2 {
			t.Errorf("changed: %v", got)
		}
		if blocks, _ := f.q.Blocks(context.Background()); len(blocks) != 1 {
			t.Errorf("unblocked: %+v", blocks)
		}
		if got := f.audited(); len(got) != 0 {
			t.Errorf("audited %q", got)
		}
	})
}
