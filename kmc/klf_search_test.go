package kmc_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestSearchIssuedFiles: the files issued are found by module, by the
// supply group of a key they carry and by issue time (From ≤ t < Until),
// newest first; a module the registry does not hold is ErrNotFound.
func TestSearchIssuedFiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, a := newVendingWorld(t, db) // a: supply group 1
		w.addSGC(2)
		w.genKey(attrs(2, kmc.VUDK))
		b := newSM(t, "sts-test-sm-b", "94000002")
		w.register(b, kmc.Vending)
		w.grant(b, 2, kmc.VUDK)
		w.grant(b, 1, kmc.VUDK)
		pk := w.pk()
		ids := map[string]string{a.smid(): "94000001", b.smid(): "94000002"}
		w.fetchKeys(a, pk, w.clock.Now()) // day 0: a, SGC 1
		w.clock.Add(24 * time.Hour)
		w.fetchKeys(b, pk, w.clock.Now()) // day 1: b, SGCs 1 and 2
		w.clock.Add(24 * time.Hour)
		w.fetchKeys(a, pk, w.clock.Now()) // day 2: a, SGC 1
		for _, tc := range []struct {
			name string
			s    kmc.FileSearch
			want []string // module id and day of each file found
		}{
			{"all", kmc.FileSearch{}, []string{"94000001/2", "94000002/1", "94000001/0"}},
			{"module a", kmc.FileSearch{SM: "TestVendor:94000001"}, []string{"94000001/2", "94000001/0"}},
			{"sgc 2", kmc.FileSearch{SGC: 2, HasSGC: true}, []string{"94000002/1"}},
			{"sgc 0", kmc.FileSearch{HasSGC: true}, nil},
			{"from day 1", kmc.FileSearch{From: t0.Add(24 * time.Hour)}, []string{"94000001/2", "94000002/1"}},
			{"until day 1", kmc.FileSearch{Until: t0.Add(24 * time.Hour)}, []string{"94000001/0"}},
			{"module b, sgc 1, day 1", kmc.FileSearch{SM: "94000002", SGC: 1, HasSGC: true, From: t0.Add(24 * time.Hour),
				Until: t0.Add(48 * time.Hour)}, []string{"94000002/1"}},
		} {
			found, err := w.k.SearchIssuedFiles(w.ctx, tc.s)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			var got []string
			for _, f := range found {
				day := int(f.IssueTime.Sub(t0) / (24 * time.Hour))
				got = append(got, fmt.Sprintf("%s/%d", ids[f.SMID], day))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: found %v, want %v", tc.name, got, tc.want)
			}
		}
		all, _ := w.k.SearchIssuedFiles(w.ctx, kmc.FileSearch{SM: "94000002"})
		if len(all) != 1 || !slices.Equal(all[0].SGCs, []int{1, 2}) && !slices.Equal(all[0].SGCs, []int{2, 1}) || all[0].Keys != 2 {
			t.Errorf("module b's file: %+v", all)
		}
		if _, err := w.k.SearchIssuedFiles(w.ctx, kmc.FileSearch{SM: "TestVendor:99999999"}); !errors.Is(err, kmc.ErrNotFound) {
			t.Errorf("unknown module: %v, want ErrNotFound", err)
		}
	})
}
