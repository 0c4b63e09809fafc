package kmc_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns
// the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// TestConcurrentIssue: 100 modules, each authorised for 25 supply groups
// (VUDK; the odd ones VCDK too), ask for their files at once; each file
// holds exactly that module's keys, opens on that module only, and every
// request is recorded once.
func TestConcurrentIssue(t *testing.T) {
	const modules, groups = 100, 25
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		kcvs := map[keyID]bool{}
		byGroup := map[int][2]kmc.VendingKey{}
		for g := range groups {
			sgc := 500000 + g
			w.addSGC(sgc)
			u, c := w.genKey(attrs(sgc, kmc.VUDK)), w.genKey(attrs(sgc, kmc.VCDK))
			byGroup[sgc] = [2]kmc.VendingKey{u, c}
			kcvs[keyID{sgc, u.KRN, 2, u.KCV}] = true
		}
		sms := make([]*sm, modules)
		for i := range sms {
			sms[i] = newSM(t, fmt.Sprintf("kmc-test-concurrent-%d", i), fmt.Sprintf("9400%04d", i))
			w.register(sms[i], kmc.Vending)
		}
		err := parallel(modules*groups, 8, func(n int) error {
			i, g := n/groups, n%groups
			types := kmc.TypesOf(kmc.VUDK)
			if i%2 == 1 {
				types = kmc.TypesOf(kmc.VUDK, kmc.VCDK)
			}
			_, err := w.k.Grant(w.ctx, actor, sms[i].smid(), kmc.KUA{SGC: 500000 + g, Types: types, Until: t0.AddDate(1, 0, 0)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		pk := w.pk()
		reqs := make([]*records.VKLoadReq, modules)
		for i, s := range sms {
			reqs[i] = s.request(t, pk, t0.Add(-time.Duration(i)*time.Second))
		}
		klfs := make([]*kmc.KLF, modules)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, modules)
		for i := range sms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				klfs[i], errs[i] = w.k.IssueKLF(w.ctx, "gateway", reqs[i])
			}()
		}
		wg.Wait()
		t.Logf("%d files of %d/%d keys issued concurrently in %v", modules, groups, 2*groups, time.Since(start))
		for i, s := range sms {
			if errs[i] != nil {
				t.Fatalf("module %d: %v", i, errs[i])
			}
			keys := s.open(t, pk, reqs[i], klfs[i])
			var got []keyID
			for _, k := range keys {
				got = append(got, keyID{k.SGC, k.KRN, k.KT, kcvOf(t, k.Key)})
			}
			var want []keyID
			for g := range groups {
				sgc := 500000 + g
				u, c := byGroup[sgc][0], byGroup[sgc][1]
				want = append(want, keyID{sgc, u.KRN, 2, u.KCV})
				if i%2 == 1 {
					want = append(want, keyID{sgc, c.KRN, 3, c.KCV})
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("module %d got %d keys %v, want %d", i, len(got), got, len(want))
			}
			// The file opens for its own module only.
			other := sms[(i+1)%modules]
			if _, err := openErr(other, pk, reqs[i], klfs[i]); err == nil {
				t.Fatalf("module %d's file opens for module %d", i, (i+1)%modules)
			}
		}
		var seen int64
		if err := db.QueryRow(w.ctx, `SELECT COUNT(*) FROM seen_requests`).Scan(&seen); err != nil || seen != modules {
			t.Fatalf("%d seen requests, %v", seen, err)
		}
		if n := w.auditCount("klf.issue"); n != modules {
			t.Fatalf("%d klf.issue records", n)
		}
		if _, err := w.k.AuditLog().Verify(w.ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConcurrentReplay: the same request sent many times at once gets one
// file; every other answer is EVkloadReplayed.
func TestConcurrentReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, s := newVendingWorld(t, db)
		req := s.request(t, w.pk(), t0)
		const n = 20
		var mu sync.Mutex
		issued, replayed := 0, 0
		err := parallel(n, n, func(int) error {
			_, err := w.k.IssueKLF(w.ctx, "gateway", req)
			mu.Lock()
			defer mu.Unlock()
			switch kmc.CodeOf(err) {
			case "":
				issued++
			case kmc.EVkloadReplayed:
				replayed++
			default:
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if issued != 1 || replayed != n-1 {
			t.Fatalf("%d issued, %d replayed", issued, replayed)
		}
	})
}
