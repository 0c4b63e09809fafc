package kmcconsole

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/kmc"
)

//go:embed gateway.html
var gatewayTemplate string

// maxPurgeDays is the largest age a purge takes, in days (as the CLI's
// "gateway queue purge --older-than Nd").
const maxPurgeDays = 100000

// The lists the gateway page shows (query "show"; a purge preview, query
// "days", shows the mails it would delete).
var gatewayLists = []string{"queue", "bounces", "blocks"}

// gatewayPage is the page of the e-mail gateway's queue q; with q nil
// (the directory has no gateway) it says so and offers nothing.
func gatewayPage(k *kmc.KMC, q *gateway.Queue) console.Page {
	var actions []console.Action
	if q != nil {
		g := gatewayAdmin{k: k, q: q}
		actions = []console.Action{
			{Name: "retry", Op: kmc.OpGatewayManage, Do: g.retry},
			{Name: "retryfailed", Op: kmc.OpGatewayManage, Do: g.retryFailed},
			{Name: "purge", Op: kmc.OpGatewayManage, Do: g.purge},
			{Name: "unblock", Op: kmc.OpGatewayManage, Do: g.unblock},
		}
	}
	return page("gateway", "Gateway queue", kmc.OpRead, gatewayTemplate,
		func(ctx context.Context, qs console.Query) (*Gateway, error) { return gatewayOf(ctx, q, qs) }, actions...)
}

// Gateway is what the gateway page shows: the counts, and one list.
type Gateway struct {
	// Present is false when the KMC's directory has no gateway.
	Present        bool
	Mails, Replies []gateway.StateCount
	// Show is the list shown: "queue", "bounces", "blocks", or "purge"
	// for a purge preview.
	Show   string
	Lists  []string // the lists one may choose
	State  string   // the queue's state filter ("": all)
	States []string // the states one may filter by
	Window console.Window

	Entries []Entry                // Show "queue" or "purge"
	Bounces []gateway.BounceRecord // Show "bounces"
	Blocks  []gateway.Block        // Show "blocks"
	Preview *PurgePreview          // Show "purge"
}

// Entry is a request mail of the queue, with its replies.
type Entry struct {
	gateway.QueueEntry
	// Failed: it or one of its replies failed, so it may be retried.
	Failed bool
}

// entries wraps q's mails as Entries.
func entries(q []gateway.QueueEntry) []Entry {
	out := make([]Entry, len(q))
	for i, e := range q {
		out[i] = Entry{QueueEntry: e, Failed: e.State == gateway.StateFailed ||
			slices.ContainsFunc(e.Replies, func(o gateway.OutboxEntry) bool { return o.State == gateway.OutFailed })}
	}
	return out
}

// PurgePreview is what a purge of the mails finished more than Days ago
// would delete (a dry run): Entries lists them.
type PurgePreview struct {
	Days   int
	Result gateway.PurgeResult
	// Before is Result.Before as the purge form sends it back, so that
	// the purge deletes exactly what the preview listed.
	Before string
	// Age and Would say it for people: "1 day", "2 mails, 1 reply and 0
	// bounce records".
	Age, Would string
}

// gatewayOf reads the gateway page as qs asks.
func gatewayOf(ctx context.Context, q *gateway.Queue, qs console.Query) (*Gateway, error) {
	g := &Gateway{Present: q != nil, Show: "queue", Lists: gatewayLists, States: gateway.States()}
	if q == nil {
		return g, nil
	}
	show, err := choiceOf(qs.Values, "show", gatewayLists...)
	if err != nil {
		return nil, err
	}
	if show != "" {
		g.Show = show
	}
	if g.State, err = choiceOf(qs.Values, "state", g.States...); err != nil {
		return nil, err
	}
	if g.Mails, g.Replies, err = q.Counts(ctx); err != nil {
		return nil, err
	}
	if qs.Has("days") {
		return g, g.preview(ctx, q, qs)
	}
	return g, g.list(ctx, q, qs.Window())
}

// list reads the page's window of the list g shows.
func (g *Gateway) list(ctx context.Context, q *gateway.Queue, w console.Window) error {
	switch g.Show {
	case "bounces":
		all, err := q.Bounces(ctx)
		g.Bounces, g.Window = console.Paged(w, all)
		return err
	case "blocks":
		all, err := q.Blocks(ctx)
		g.Blocks, g.Window = console.Paged(w, all)
		return err
	}
	all, err := q.List(ctx, g.State)
	g.Entries, g.Window = console.Paged(w, entries(all))
	return err
}

// preview makes the purge preview of the days qs asks for.
func (g *Gateway) preview(ctx context.Context, q *gateway.Queue, qs console.Query) error {
	s, err := value(qs.Values, "days")
	if err != nil {
		return err
	}
	days, err := purgeDays(s)
	if err != nil {
		return err
	}
	res, err := q.Purge(ctx, time.Duration(days)*24*time.Hour, true)
	if err != nil {
		return err
	}
	all, err := q.PurgePreview(ctx, res.Before)
	if err != nil {
		return err
	}
	g.Show, g.Preview = "purge", &PurgePreview{Days: days, Result: res, Before: res.Before.Format(time.RFC3339Nano),
		Age: count(int64(days), "day"), Would: purged(res)}
	g.Entries, g.Window = console.Paged(qs.Window(), entries(all))
	return nil
}

// purgeDays reads the age of a purge, field "days".
func purgeDays(s string) (int, error) {
	d, err := strconv.Atoi(s)
	if err != nil || d < 1 || d > maxPurgeDays {
		return 0, console.BadInput("days", fmt.Sprintf("%q is not a whole number of days from 1 to %d", s, maxPurgeDays))
	}
	return d, nil
}

// gatewayAdmin does the gateway page's actions on q, each audited in the
// KMC's audit log with the person's name (the queue's methods do not
// audit; package gateway knows no people).
type gatewayAdmin struct {
	k *kmc.KMC
	q *gateway.Queue
}

// retry puts the failed mail of field "id" and its failed replies back.
func (g gatewayAdmin) retry(ctx context.Context, c console.Call) (string, error) {
	id, err := strconv.ParseInt(c.Form.Get("id"), 10, 64)
	if err != nil || id < 1 {
		return "", console.BadInput("id", fmt.Sprintf("%q is not a mail id", c.Form.Get("id")))
	}
	return g.retried(ctx, c, fmt.Sprintf("mail %d", id), func() (gateway.RetryResult, error) {
		return g.q.Retry(ctx, []int64{id})
	})
}

// retryFailed puts every failed mail and reply back.
func (g gatewayAdmin) retryFailed(ctx context.Context, c console.Call) (string, error) {
	return g.retried(ctx, c, "every failed mail", func() (gateway.RetryResult, error) { return g.q.RetryFailed(ctx) })
}

// retried runs a retry of subject for c and audits it.
func (g gatewayAdmin) retried(ctx context.Context, c console.Call, subject string, retry func() (gateway.RetryResult, error)) (string, error) {
	if err := kmc.Allow(c.Actor, kmc.OpGatewayManage); err != nil {
		return "", err
	}
	res, err := retry()
	var re *gateway.RetryError
	if errors.As(err, &re) {
		return "", console.BadInput("id", re.Error())
	}
	if err != nil {
		return "", err
	}
	done := fmt.Sprintf("Retried %s: %s and %s back in the queue.", subject, count(res.Mails, "mail"), count(res.Replies, "reply"))
	return done, g.audit(ctx, c, "gateway.retry", subject, map[string]int64{"mails": res.Mails, "replies": res.Replies})
}

// purge deletes the mails finished before field "before" (a preview's
// instant), which must be at least field "days" days ago.
func (g gatewayAdmin) purge(ctx context.Context, c console.Call) (string, error) {
	if err := kmc.Allow(c.Actor, kmc.OpGatewayManage); err != nil {
		return "", err
	}
	days, err := purgeDays(c.Form.Get("days"))
	if err != nil {
		return "", err
	}
	before, err := time.Parse(time.RFC3339Nano, c.Form.Get("before"))
	if err != nil || before.After(time.Now().Add(-time.Duration(days)*24*time.Hour)) {
		return "", console.BadInput("before", fmt.Sprintf("%q is not the time of a purge preview of %d days", c.Form.Get("before"), days))
	}
	res, err := g.q.PurgeBefore(ctx, before, false)
	if err != nil {
		return "", err
	}
	done := fmt.Sprintf("Purged %s finished before %s.", purged(res), res.Before.Format("2006-01-02 15:04:05 UTC"))
	return done, g.audit(ctx, c, "gateway.purge", res.Before.Format(time.RFC3339Nano),
		map[string]int64{"days": int64(days), "mails": res.Mails, "replies": res.Replies, "bounces": res.Bounces})
}

// unblock lifts the flood protection's block of field "key".
func (g gatewayAdmin) unblock(ctx context.Context, c console.Call) (string, error) {
	if err := kmc.Allow(c.Actor, kmc.OpGatewayManage); err != nil {
		return "", err
	}
	key := c.Form.Get("key")
	if key == "" || len(key) > audit.MaxField || !utf8.ValidString(key) || strings.ContainsFunc(key, unicode.IsControl) {
		return "", console.BadInput("key", "give the key of a block, as the list shows it")
	}
	ok, err := g.q.Unblock(ctx, key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", console.BadInput("key", fmt.Sprintf("no block on %q", key))
	}
	return "Unblocked " + key + ".", g.audit(ctx, c, "gateway.unblock", key, map[string]int64{})
}

// audit records what c did in the KMC's audit log.
func (g gatewayAdmin) audit(ctx context.Context, c console.Call, action, subject string, details map[string]int64) error {
	_, err := g.k.AuditLog().AppendNow(ctx, audit.Entry{Actor: c.Actor.String(), Action: action, Subject: subject, Details: details})
	return err
}

// purged says what a purge deleted, or would.
func purged(res gateway.PurgeResult) string {
	return fmt.Sprintf("%s, %s and %s", count(res.Mails, "mail"), count(res.Replies, "reply"), count(res.Bounces, "bounce record"))
}

// count is n and the noun, plural unless n is 1.
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if noun == "reply" {
		return fmt.Sprintf("%d replies", n)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
