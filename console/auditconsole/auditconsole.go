// Package auditconsole is the operator console's audit page, the same for
// a KMC and a security module (package console, docs/console.md): the
// audit log browsed newest first, paged and filtered on the server; a
// verification of the whole log; and a signed checkpoint to download.
// Each site gives it a Source: its own methods and rules.
package auditconsole

import (
	"context"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
)

//go:embed audit.html
var auditTemplate string

// Source is a component's audit log as its own methods give it to a
// person: each checks the person's role by the component's rules.
type Source struct {
	// Op is the operation the site's Allow must grant for the page, its
	// verification and its checkpoints ("audit.verify").
	Op string
	// Log returns the log for a to read.
	Log func(a role.Actor) (*audit.Log, error)
	// Verify verifies the whole log for a: its chain, its tree and the
	// latest checkpoint kept in the database (audit.Log.VerifyTree).
	Verify func(ctx context.Context, a role.Actor) (audit.Report, error)
	// Checkpoint signs, keeps and returns a checkpoint of the log for a
	// (audit.Log.Checkpoint), with the audit key in the component's
	// custody.
	Checkpoint func(ctx context.Context, a role.Actor) ([]byte, error)
}

// Checked returns the Source of a component whose audit methods take no
// person: allow(a, op) is asked before each, and a refusal returned.
func Checked(allow func(role.Actor, string) error, op string, l *audit.Log,
	checkpoint func(context.Context) ([]byte, error)) Source {
	return Source{
		Op: op,
		Log: func(a role.Actor) (*audit.Log, error) {
			if err := allow(a, op); err != nil {
				return nil, err
			}
			return l, nil
		},
		Verify: func(ctx context.Context, a role.Actor) (audit.Report, error) {
			if err := allow(a, op); err != nil {
				return audit.Report{}, err
			}
			return l.VerifyTree(ctx, nil)
		},
		Checkpoint: func(ctx context.Context, a role.Actor) ([]byte, error) {
			if err := allow(a, op); err != nil {
				return nil, err
			}
			return checkpoint(ctx)
		},
	}
}

// Page returns the audit page of src, at /console/audit, with its
// "checkpoint" action (a download).
func Page(src Source) console.Page {
	return console.Page{Path: "audit", Title: "Audit log", Op: src.Op, Template: auditTemplate,
		Data: func(ctx context.Context, a role.Actor, q console.Query) (any, error) { return read(ctx, src, a, q) },
		Actions: []console.Action{{Name: "checkpoint", Op: src.Op,
			Download: func(ctx context.Context, c console.Call) (console.File, error) { return download(ctx, src, c.Actor) }}}}
}

// View is what the audit page shows.
type View struct {
	Op       string // the operation of the page and its checkpoints
	Filter   Filter
	Rows     []Row
	Window   console.Window
	Verified *Verified // the verification asked for, or nil
	Key      string    // the verifier key of the log's checkpoints
}

// Filter is the page's filter, as the form gave it.
type Filter struct{ Action, Actor, From, To string }

// Row is one record as the page shows it.
type Row struct {
	Seq                             int64
	Time                            time.Time
	Actor, Action, Subject, Details string
}

// Verified is what a verification of the whole log found.
type Verified struct {
	OK      bool
	Records int64  // records verified (before the break, if any)
	Head    string // hex: of the last record verified
	Root    string // hex: of the tree, if the log verified
	Problem string // why it failed, or ""
}

// maxFilter bounds a filter's text fields.
const maxFilter = 200

// read reads the page q asks for: one page of records, and a verification
// if q has verify=1.
func read(ctx context.Context, src Source, a role.Actor, q console.Query) (*View, error) {
	l, err := src.Log(a)
	if err != nil {
		return nil, err
	}
	v := &View{Op: src.Op, Filter: Filter{Action: q.Get("action"), Actor: q.Get("actor"), From: q.Get("from"), To: q.Get("to")}}
	f, err := v.Filter.parse()
	if err != nil {
		return nil, err
	}
	if f.Upto, err = upto(ctx, l, q); err != nil {
		return nil, err
	}
	if q.Get("verify") != "" {
		q.Del("verify") // the pages' links do not verify again
		if v.Verified, err = verify(ctx, src, a); err != nil {
			return nil, err
		}
	}
	if v.Rows, v.Window, err = list(ctx, l, f, q.Window()); err != nil {
		return nil, err
	}
	if v.Key, _, err = l.Key(ctx); errors.Is(err, audit.ErrNoKey) {
		return v, nil // a log made before audit keys: no checkpoints yet
	}
	return v, err
}

// list reads the rows of window w of the records f selects; a page past
// the end is the last.
func list(ctx context.Context, l *audit.Log, f audit.Filter, w console.Window) ([]Row, console.Window, error) {
	w.Number = min(w.Number, math.MaxInt32/w.Size) // no overflow of the offset
	rs, total, err := l.Page(ctx, f, w.Offset(), w.Size)
	if err != nil {
		return nil, w, err
	}
	if last := w.Of(int(total)); last.Number != w.Number {
		w = last
		if rs, _, err = l.Page(ctx, f, w.Offset(), w.Size); err != nil {
			return nil, w, err
		}
	}
	return rows(rs), w.Of(int(total)), nil
}

// parse checks the filter and returns it for the audit package.
func (f Filter) parse() (audit.Filter, error) {
	var out audit.Filter
	for _, fv := range []struct{ name, v string }{{"action", f.Action}, {"actor", f.Actor}} {
		if len(fv.v) > maxFilter {
			return out, console.BadInput(fv.name, fmt.Sprintf("longer than %d bytes", maxFilter))
		}
	}
	out.Action, out.Actor = f.Action, f.Actor
	var err error
	if out.From, err = day("from", f.From); err != nil {
		return out, err
	}
	if out.To, err = day("to", f.To); err != nil {
		return out, err
	}
	if !out.To.IsZero() {
		out.To = out.To.AddDate(0, 0, 1) // the whole day
	}
	if !out.From.IsZero() && !out.To.IsZero() && !out.From.Before(out.To) {
		return out, console.BadInput("to", "before from")
	}
	return out, nil
}

// day parses a date of the form (YYYY-MM-DD, UTC); "" is the zero time.
func day(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1678 || t.Year() > 2261 {
		return time.Time{}, console.BadInput(field, "not a date YYYY-MM-DD between the years 1678 and 2261")
	}
	return t, nil
}

// upto is the last record the list shows: the query's "upto", or the
// log's size now, which the query then keeps for its other pages.
func upto(ctx context.Context, l *audit.Log, q console.Query) (int64, error) {
	if s := q.Get("upto"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return 0, console.BadInput("upto", "not a record number")
		}
		return n, nil
	}
	n, err := l.Size(ctx)
	if err == nil && n > 0 {
		q.Set("upto", strconv.FormatInt(n, 10))
	}
	return n, err
}

// verify runs src's verification; a break of the log is a failed
// verification, not an error of the page.
func verify(ctx context.Context, src Source, a role.Actor) (*Verified, error) {
	rep, err := src.Verify(ctx, a)
	var ce *audit.ChainError
	var cpe *audit.CheckpointError
	if err != nil && !errors.As(err, &ce) && !errors.As(err, &cpe) {
		return nil, err
	}
	v := &Verified{OK: err == nil, Records: rep.Records, Head: hex.EncodeToString(rep.Head[:])}
	switch {
	case ce != nil:
		v.Problem = ce.Error()
	case cpe != nil:
		v.Problem = cpe.Error()
	default: // the root is computed only from a sound log
		v.Root = hex.EncodeToString(rep.Root[:])
	}
	return v, nil
}

// rows returns the records as the page shows them.
func rows(rs []audit.Record) []Row {
	out := make([]Row, len(rs))
	for i, r := range rs {
		out[i] = Row{Seq: r.Seq, Time: r.Time, Actor: r.Actor, Action: r.Action, Subject: r.Subject, Details: details(r.Details)}
	}
	return out
}

// details is a record's canonical JSON details, or "" for none.
func details(d any) string {
	raw, ok := d.(json.RawMessage)
	if !ok || string(raw) == "{}" {
		return ""
	}
	return string(raw)
}

// download is a signed checkpoint of the log as the CLI's `audit
// checkpoint` prints it, named after the log's size.
func download(ctx context.Context, src Source, a role.Actor) (console.File, error) {
	signed, err := src.Checkpoint(ctx, a)
	if err != nil {
		return console.File{}, err
	}
	l, err := src.Log(a)
	if err != nil {
		return console.File{}, err
	}
	v, err := l.Verifier(ctx)
	if err != nil {
		return console.File{}, err
	}
	c, err := audit.OpenCheckpoint(signed, v)
	if err != nil {
		return console.File{}, err
	}
	return console.File{Name: checkpointName(c.Size), Type: "text/plain; charset=utf-8", Body: signed}, nil
}

// checkpointName is the file name of a downloaded checkpoint of size
// records.
func checkpointName(size int64) string { return fmt.Sprintf("audit-checkpoint-%d.txt", size) }
