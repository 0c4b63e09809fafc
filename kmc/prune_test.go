package kmc_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestPrune: pruning refuses an age under twice the freshness window;
// it removes the seen requests older than the cutoff and keeps the
// younger ones; a replay of a pruned request is still refused, as
// EVkloadExpired — and so is the gateway's retry of its delivery, which
// never gets a second file — while a kept one is still EVkloadReplayed.
func TestPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, s := newVendingWorld(t, db)
		pk := w.pk()

		old := s.request(t, pk, t0)
		if _, err := w.k.IssueKLFWith(w.ctx, "gateway", old, kmc.IssueOptions{Ref: "mail-old"}); err != nil {
			t.Fatal(err)
		}
		w.clock.Add(48 * time.Hour)
		young := s.request(t, pk, w.clock.Now())
		if _, err := w.k.IssueKLFWith(w.ctx, "gateway", young, kmc.IssueOptions{Ref: "mail-young"}); err != nil {
			t.Fatal(err)
		}

		if w.k.MinPruneAge() != 2*kmc.DefaultWindow {
			t.Errorf("MinPruneAge %v", w.k.MinPruneAge())
		}
		if _, err := w.k.Prune(w.ctx, actor, w.k.MinPruneAge()-time.Second); !errors.Is(err, kmc.ErrInvalid) {
			t.Errorf("an age under twice the window: %v", err)
		}
		// Before the prune, the old delivery's retry gets its file back.
		if _, err := w.k.IssueKLFWith(w.ctx, "gateway", old, kmc.IssueOptions{Ref: "mail-old"}); err != nil {
			t.Fatalf("retry before pruning: %v", err)
		}
		res, err := w.k.Prune(w.ctx, actor, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests != 1 || !res.Cutoff.Equal(t0.Add(24*time.Hour)) {
			t.Errorf("pruned %+v", res)
		}
		_, err = w.k.IssueKLF(w.ctx, actor, old)
		wantCode(t, err, kmc.EVkloadExpired)
		_, err = w.k.IssueKLFWith(w.ctx, "gateway", old, kmc.IssueOptions{Ref: "mail-old"})
		wantCode(t, err, kmc.EVkloadExpired)
		_, err = w.k.IssueKLF(w.ctx, actor, young)
		wantCode(t, err, kmc.EVkloadReplayed)
		if _, err := w.k.IssueKLFWith(w.ctx, "gateway", young, kmc.IssueOptions{Ref: "mail-young"}); err != nil {
			t.Errorf("retry of a kept delivery: %v", err)
		}

		// Nothing left to prune; each prune is audited.
		if res, err := w.k.Prune(w.ctx, actor, 24*time.Hour); err != nil || res.Requests != 0 {
			t.Errorf("second prune %+v, %v", res, err)
		}
		w.wantAudit("kmc.prune", 2)
	})
}

// TestPruneUpdateAnswers: a remembered answer to a registry update goes
// with the prune; the update's sequence number stays, so the pruned
// delivery's retry is stale, never applied again.
func TestPruneUpdateAnswers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, stsa := newSTSAWorld(t, db, kmc.ModeTest)
		file := update(t, stsa, 1, listing(newSM(t, "sts-test-sm", "94000001"), true, false))
		if _, err := w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{Ref: "mail-1"}); err != nil {
			t.Fatal(err)
		}
		w.clock.Add(48 * time.Hour)
		res, err := w.k.Prune(w.ctx, actor, 24*time.Hour)
		if err != nil || res.Answers != 1 {
			t.Fatalf("pruned %+v, %v", res, err)
		}
		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{Ref: "mail-1"})
		wantCode(t, err, kmc.ESmUpdateStale)
	})
}
