package sm_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/backup"
	"github.com/stskms/stskms/internal/backuptest"
	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
)

// backupModule writes a backup of the module in dir, open or not, to a
// new file, as `stskms sm backup` does.
func backupModule(t *testing.T, dir string, at time.Time) string {
	t.Helper()
	info, err := sm.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sm.backup")
	c := backup.Component{Kind: backup.KindSM, Identity: info.SMID, Dir: dir, ConfigFile: sm.ModuleFile, DBFile: sm.DatabaseFile,
		DSN: info.Database, Version: "test"}
	if _, err := backup.Create(context.Background(), c, out, at); err != nil {
		t.Fatal(err)
	}
	return out
}

// restoreModule restores the backup file in into the new directory dir,
// as `stskms sm restore` does: stage, first open recording the restore,
// commit. It returns what the open said.
func restoreModule(t *testing.T, in, dir string, opts sm.Options) string {
	t.Helper()
	c := backup.Component{Kind: backup.KindSM, Dir: dir, ConfigFile: sm.ModuleFile, DBFile: sm.DatabaseFile}
	return backuptest.Restore(t, in, c, "", func(dir string, r *keptcheckpoint.Restore) (string, error) {
		opts.Restore = r
		mod, err := sm.Open(context.Background(), dir, opts)
		if err != nil {
			return "", err
		}
		said := mod.Restored()
		return said, errors.Join(mod.Fault(), mod.Close())
	})
}

// TestRestoreNoTIDReuse is the scenario: the module issues TIDs,
// is backed up while open, and goes on issuing (pushing one meter's TIDs
// ahead of the clock, and serving a meter the backup never saw); it is
// restored from the backup. The restored copy's first tokens are refused
// (44, saying it was restored and until when to wait), then every TID it
// issues is above every TID the original issued and above the floor.
func TestRestoreNoTIDReuse(t *testing.T) {
	const window = 30
	f := newFixture(t, nil, sm.Vending, func(o *sm.Options) { o.TIDWindow = window })
	k := f.loadLimited(1_000_000)
	m1, m2, m3 := meterKey(t, 1, k), meterKey(t, 2, k), meterKey(t, 3, k)
	credit := func(m *sm.Module, mk sm.MeterKey) (uint32, error) {
		got, err := m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: 10})
		return got.TID, err
	}
	for range 3 {
		if _, err := credit(f.m, m1); err != nil {
			t.Fatal(err)
		}
	}
	out := backupModule(t, f.dir, f.clock.Now())

	// The original goes on: meter 1 pushed ahead of the clock, meter 2 new.
	issued := map[int]uint32{}
	f.clock.Add(2 * time.Minute)
	for range 20 {
		tid, err := credit(f.m, m1)
		if err != nil {
			t.Fatal(err)
		}
		issued[1] = max(issued[1], tid)
	}
	for range 5 {
		tid, err := credit(f.m, m2)
		if err != nil {
			t.Fatal(err)
		}
		issued[2] = max(issued[2], tid)
	}
	f.m.Close()
	f.m = nil

	restoreAt := f.clock.Now().Add(time.Minute)
	f.clock.Set(restoreAt)
	newDir := filepath.Join(t.TempDir(), "restored")
	opts := sm.Options{Now: f.clock.Now, TIDWindow: window}
	said := restoreModule(t, out, newDir, opts)
	if !strings.Contains(said, "no TID up to") {
		t.Fatalf("restore said %q", said)
	}
	floor, err := sts.BaseDate2014.TID(restoreAt.Add(window * time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	m, err := sm.Open(f.ctx, newDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = credit(m, m1)
	wantCode(t, err, sm.CodeTIDWindow, sm.ErrTIDWindow)
	if !strings.Contains(err.Error(), "restored") || !strings.Contains(err.Error(), "wait until") {
		t.Fatalf("refusal does not say why: %v", err)
	}
	m.Close()

	// After a minute the floor is within the window; it survives a restart.
	f.clock.Add(time.Minute)
	m, err = sm.Open(f.ctx, newDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i, mk := range []sm.MeterKey{m1, m2, m3} {
		tid, err := credit(m, mk)
		if err != nil {
			t.Fatalf("meter %d after the wait: %v", i+1, err)
		}
		if tid <= floor || tid <= issued[1] || tid <= issued[2] {
			t.Fatalf("meter %d: restored copy issued TID %d; floor %d, the original issued up to %d and %d", i+1, tid, floor, issued[1], issued[2])
		}
	}
	var restore map[string]any
	log, err := m.Audit(auditor)
	if err != nil {
		t.Fatal(err)
	}
	log.Records(f.ctx, 1, func(r audit.Record) error {
		if r.Action == "sm.restore" {
			json.Unmarshal(r.Details.(json.RawMessage), &restore)
			if r.Actor != "cli:tester" {
				t.Errorf("restore by %q", r.Actor)
			}
		}
		return nil
	})
	if restore == nil || restore["tid_floor"] == nil || restore["forked_at_seq"] == nil || restore["backup_head_hash"] == "" {
		t.Fatalf("restore record: %v", restore)
	}
}

// TestRestoredBesideOriginal: an original and its restored copy that keep
// checkpoints at one witness file are caught — the serving original stops
// keeping checkpoints at its next one (so sm serve ends with the reason),
// and whichever opens after the other wrote there finds a checkpoint its
// log does not extend, and opens in its error state saying another
// instance writes there.
func TestRestoredBesideOriginal(t *testing.T) {
	witness := filepath.Join(t.TempDir(), "witness")
	f := newFixture(t, nil, sm.Vending, func(o *sm.Options) { o.Witnesses = []string{witness} })
	k := f.loadLimited(1000)
	mk := meterKey(t, 1, k)
	out := backupModule(t, f.dir, f.clock.Now())
	// The original serves on, keeping checkpoints, while the copy is
	// restored. (It issues nothing before the copy's first checkpoint: a
	// checkpoint of a log that went on from the backup, kept at the witness
	// first, rightly refuses the restore.)
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.m.KeepCheckpoints(ctx, time.Hour, 1) }()

	newDir := filepath.Join(t.TempDir(), "restored")
	restoreModule(t, out, newDir, sm.Options{Now: f.clock.Now, Witnesses: []string{witness}})

	// Its next checkpoint finds the copy's at the witness: it stops.
	f.credit(sm.CreditRequest{Meter: mk, Sub: sts.Water, Amount: 1})
	select {
	case err := <-done:
		if !errors.Is(err, keptcheckpoint.ErrAnotherInstance) || !strings.Contains(err.Error(), witness) {
			t.Fatalf("the serving original stopped keeping checkpoints with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the serving original went on beside its restored copy")
	}
	f.m.Close()
	f.m = nil

	m, err := sm.Open(f.ctx, f.dir, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fault := m.Fault()
	if !errors.Is(fault, sm.ErrSelfTest) || !strings.Contains(fault.Error(), "another instance") || !strings.Contains(fault.Error(), witness) {
		t.Fatalf("the original beside its restored copy: fault %v", fault)
	}
	_, err = m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Water, Amount: 1})
	if !errors.Is(err, sm.ErrSelfTest) {
		t.Fatalf("the original issued beside its restored copy: %v", err)
	}
	m.Close()

	// The restored copy, the last to write there, opens normally.
	r, err := sm.Open(f.ctx, newDir, sm.Options{Now: f.clock.Now, Witnesses: []string{witness}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Fault() != nil {
		t.Fatal(r.Fault())
	}
	if actions, _ := auditActions(t, r); !slices.Contains(actions, "sm.restore") {
		t.Fatalf("no sm.restore: %v", actions)
	}
}

// TestRestoreRefusals: a restore into a directory that holds anything, or
// from a tampered backup file, is refused and writes nothing.
func TestRestoreRefusals(t *testing.T) {
	f := newFixture(t, nil, sm.Vending)
	out := backupModule(t, f.dir, f.clock.Now())
	c := backup.Component{Kind: backup.KindSM, Dir: f.dir, ConfigFile: sm.ModuleFile, DBFile: sm.DatabaseFile}
	if _, err := backup.Stage(f.ctx, out, c, ""); !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("restore over a module: %v", err)
	}
	c.Kind = backup.KindKMC
	c.Dir = filepath.Join(t.TempDir(), "new")
	if _, err := backup.Stage(f.ctx, out, c, ""); !errors.Is(err, backup.ErrKind) {
		t.Fatalf("a module's backup restored as a KMC: %v", err)
	}
	c.Kind = backup.KindSM
	tampered := backuptest.Tampered(t, out, 200)
	if _, err := backup.Stage(f.ctx, tampered, c, ""); !errors.Is(err, backup.ErrHash) {
		t.Fatalf("tampered backup: %v", err)
	}
	if entries, err := os.ReadDir(filepath.Dir(c.Dir)); err != nil || len(entries) != 0 {
		t.Fatalf("a refused restore left %v (%v)", entries, err)
	}
}

// TestRestoreProductionModule: a production module's restore opens it
// with every officer's passphrase and records them; the restored copy
// then opens as any module does.
func TestRestoreProductionModule(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "sm")
	if _, err := sm.Init(ctx, dir, sm.Vending, false, sm.Options{Officers: releaseOfficers()}); err != nil {
		t.Fatal(err)
	}
	out := backupModule(t, dir, time.Now())
	newDir := filepath.Join(t.TempDir(), "restored")
	c := backup.Component{Kind: backup.KindSM, Dir: newDir, ConfigFile: sm.ModuleFile, DBFile: sm.DatabaseFile}
	st, err := backup.Stage(ctx, out, c, "")
	if err != nil {
		t.Fatal(err)
	}
	r := backuptest.RestoreOf(st.Manifest)
	if _, err := sm.Open(ctx, st.Dir, sm.Options{Officers: releaseOfficers()[:1], Restore: r}); err == nil {
		t.Fatal("restored with one officer's passphrase")
	}
	r.HeadHash = strings.Repeat("00", 32)
	if _, err := sm.Open(ctx, st.Dir, sm.Options{Officers: releaseOfficers(), Restore: r}); !errors.Is(err, keptcheckpoint.ErrRestoreHead) {
		t.Fatalf("restored a database that is not the backup's: %v", err)
	}
	st.Abort()
	said := restoreModule(t, out, newDir, sm.Options{Officers: releaseOfficers()})
	if !strings.Contains(said, "no TID up to") {
		t.Fatalf("restore said %q", said)
	}
	m, err := sm.Open(ctx, newDir, sm.Options{Officers: releaseOfficers()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Fault() != nil {
		t.Fatal(m.Fault())
	}
}
