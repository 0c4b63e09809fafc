// Package consoletest is what the tests of the consoles' sites
// (kmcconsole, smconsole) share: checks of a page that both sites have,
// each given the component's own people, rules and files.
package consoletest

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/auditconsole"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
)

// Audit is a component's audit page (auditconsole.Page) under test.
type Audit struct {
	Page     console.Page // the site's audit page
	Operator role.Actor   // a person the component refuses its log
	Auditor  role.Actor   // a person who reads the log and downloads checkpoints
	Verifier role.Actor   // a person who verifies the broken log
	ErrRole  error        // the component's refusal of Operator
	Key      string       // the verifier key the component publishes
	DB       string       // the component's SQLite database file
	Break    []string     // SQL that breaks the log behind the component's back
	Problem  string       // what the verification of the broken log must say
}

// CheckAudit checks a's page: Operator reads no record and gets no
// checkpoint (ErrRole); the checkpoint Auditor downloads verifies with
// Key; once Break has run on DB, Verifier's verification fails, saying
// Problem.
func CheckAudit(t *testing.T, a Audit) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.Page.Data(ctx, a.Operator, console.Query{Values: url.Values{}}); !errors.Is(err, a.ErrRole) {
		t.Errorf("operator reads the log: %v, want %v", err, a.ErrRole)
	}
	download := a.Page.Actions[0].Download
	if _, err := download(ctx, console.Call{Actor: a.Operator}); !errors.Is(err, a.ErrRole) {
		t.Errorf("operator downloads a checkpoint: %v, want %v", err, a.ErrRole)
	}
	f, err := download(ctx, console.Call{Actor: a.Auditor})
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewVerifier(a.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenCheckpoint(f.Body, v); err != nil || !strings.HasPrefix(f.Name, "audit-checkpoint-") {
		t.Errorf("checkpoint %s: %v", f.Name, err)
	}
	db, err := store.Open(ctx, "sqlite:"+a.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range a.Break {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	data, err := a.Page.Data(ctx, a.Verifier, console.Query{Values: url.Values{"verify": {"1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := data.(*auditconsole.View).Verified; got == nil || got.OK || !strings.Contains(got.Problem, a.Problem) {
		t.Errorf("broken log verified as %+v, want %q", got, a.Problem)
	}
}

// Approval is the call a Dual action's Do receives once approver approves
// o as proposer proposed it: o's parameters as the form, as the console
// keeps them, and o's attachment.
func Approval(o console.Operation, proposer, approver role.Actor) console.Call {
	f := url.Values{}
	for k, v := range o.Params {
		f.Set(k, v)
	}
	return console.Call{Actor: proposer, Approver: approver, Form: f, Attachment: o.Attachment}
}

// Actors returns the actors of l's records of the actions, in order; a
// failure to read the log ends the test.
func Actors(t *testing.T, l *audit.Log, actions ...string) []string {
	t.Helper()
	var actors []string
	err := l.Records(context.Background(), 1, func(r audit.Record) error {
		if slices.Contains(actions, r.Action) {
			actors = append(actors, r.Actor)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return actors
}

// KMC is a new test KMC (`kmc init --mode test`), closed when the test
// ends, and its directory.
func KMC(t *testing.T) (*kmc.KMC, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "kmc")
	k, err := kmc.Init(context.Background(), dir, kmc.InitOptions{Mode: kmc.ModeTest, Actor: "officer:setup"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k, dir
}

// Module is a new test module, as `sm init --variant vending --test`
// makes it (no KEK slot, no register), closed when the test ends, and its
// directory.
func Module(t *testing.T) (*sm.Module, string) {
	t.Helper()
	return ModuleBy(t, func(ctx context.Context, dir string) (*sm.Module, error) {
		if _, err := sm.Init(ctx, dir, sm.Vending, true, sm.Options{}); err != nil {
			return nil, err
		}
		return sm.Open(ctx, dir, sm.Options{})
	})
}

// ModuleBy is the test module that make makes in a new directory (as
// apitest.Setup or apitest.New do), closed when the test ends, and its
// directory; a failure to make it ends the test.
func ModuleBy(t *testing.T, make func(ctx context.Context, dir string) (*sm.Module, error)) (*sm.Module, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sm")
	m, err := make(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, dir
}
