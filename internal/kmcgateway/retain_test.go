package kmcgateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/kmcgateway"
	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/loop"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestRetainKeepsReplayProtection: the gateway's retention, followed by
// the KMC (gateway.Retainer), is audited (gateway.purge with the counts,
// kmc.prune) and never prunes a seen request that replay protection
// still needs: with a retention shorter than twice the freshness window,
// a request issued minutes ago is still refused as a replay afterwards,
// and its delivery's retry still gets its file.
func TestRetainKeepsReplayProtection(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := testclock.New(time.Now().UTC())
		dir := t.TempDir()
		k, err := kmc.Init(ctx, filepath.Join(dir, "kmc"), kmc.InitOptions{Mode: kmc.ModeTest, Actor: "test",
			Database: storetest.DSN(t, db), Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		req := moduleRequest(ctx, t, k, filepath.Join(dir, "sm"))
		if _, err := k.IssueKLFWith(ctx, "gateway", req, kmc.IssueOptions{Ref: "mail-1"}); err != nil {
			t.Fatal(err)
		}
		clock.Add(5 * time.Minute)

		r, ok := kmcgateway.New(k).(gateway.Retainer)
		if !ok {
			t.Fatal("the adapter is no gateway.Retainer")
		}
		purged := gateway.PurgeResult{Before: clock.Now().Add(-time.Minute), Mails: 3, Replies: 2, Bounces: 1}
		if err := r.Retain(ctx, time.Minute, purged); err != nil {
			t.Fatal(err)
		}
		var kmcErr *kmc.Error
		if _, err := k.IssueKLFWith(ctx, "gateway", req, kmc.IssueOptions{Ref: "mail-2"}); !errors.As(err, &kmcErr) || kmcErr.Code != kmc.EVkloadReplayed {
			t.Errorf("a replay after the prune: %v, want EVkloadReplayed", err)
		}
		if _, err := k.IssueKLFWith(ctx, "gateway", req, kmc.IssueOptions{Ref: "mail-1"}); err != nil {
			t.Errorf("the delivery's retry after the prune: %v", err)
		}

		var actions []string
		var details struct{ Mails, Replies, Bounces int64 }
		if err := k.AuditLog().Records(ctx, 1, func(r audit.Record) error {
			actions = append(actions, r.Action)
			if r.Action != "gateway.purge" {
				return nil
			}
			raw, err := json.Marshal(r.Details)
			if err == nil {
				err = json.Unmarshal(raw, &details)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		i := slices.Index(actions, "gateway.purge")
		if i < 0 || !slices.Contains(actions[i:], "kmc.prune") {
			t.Errorf("audit actions %v: want gateway.purge, then kmc.prune", actions)
		}
		if details.Mails != 3 || details.Replies != 2 || details.Bounces != 1 {
			t.Errorf("gateway.purge details %+v", details)
		}
	})
}

// moduleRequest makes a vending module in dir, registered and authorised
// at k, with k's key installed, and returns a fresh request of it.
func moduleRequest(ctx context.Context, t *testing.T, k *kmc.KMC, dir string) *records.VKLoadReq {
	t.Helper()
	st := &loop.Stack{KMC: k}
	if err := st.AddSupplyGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportKey(ctx, 1, kmc.VUDK); err != nil {
		t.Fatal(err)
	}
	m, err := apitest.New(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	officer := sm.Officer.As("test")
	if err := st.Authorise(ctx, m.Identify(), kmc.Vending, kmc.TypesOf(kmc.VUDK), "vending@utility.test"); err != nil {
		t.Fatal(err)
	}
	key, err := k.CurrentKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.InstallSlot(ctx, officer, sm.InstallRequest{Record: key.Body, Fingerprint: key.Fingerprint.String(), TestKMC: true}); err != nil {
		t.Fatal(err)
	}
	vr, err := m.Request(ctx, officer, 1)
	if err != nil {
		t.Fatal(err)
	}
	body, err := vr.Format()
	if err != nil {
		t.Fatal(err)
	}
	req, err := kmc.ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
