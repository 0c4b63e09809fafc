package sm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/crashtest"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// crashChild names the environment variable that makes TestCrashVendStorm
// the child: it then vends from the module in the directory it names until
// killed. crashRetry lists request ids the child sends again first.
const (
	crashChild = "STSKMS_SM_CRASH_CHILD"
	crashRound = "STSKMS_SM_CRASH_ROUND"
	crashRetry = "STSKMS_SM_CRASH_RETRY"
)

// crashSGC is the register the storm vends from.
const crashSGC = 600100

// TestCrashVendStorm kills (SIGKILL) a real module process in the middle
// of a storm of vends from 8 goroutines, three times, each time restarting
// it and sending again the requests that were in flight when it died.
// Then: the audit chain verifies; the credit limit lost exactly what the
// audited tokens carry; every token a child reported is in the audit log
// once, under its request id; no request id has two tokens, no meter a TID
// twice; and a request in flight at the kill, sent again, got the token it
// had committed, or its first one.
func TestCrashVendStorm(t *testing.T) {
	if !crashtest.Parent(t, crashChild, runCrashChild) {
		return
	}
	k := vk(crashSGC, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
	k.ACT, k.IUT, k.CLM = time.Now().AddDate(-1, 0, 0), time.Now().AddDate(1, 0, 0), 50_000_000
	dir := newLoadedModuleDir(t, k)

	reported := map[string]string{} // request id → token, as the children reported
	var inFlight []string
	replays := 0
	const rounds = 3
	for round := range rounds {
		sent := map[string]bool{}
		killAfter := 100 + rand.IntN(200)
		issued := 0
		env := []string{crashChild + "=" + dir, fmt.Sprintf("%s=%d", crashRound, round), crashRetry + "=" + strings.Join(inFlight, ",")}
		crashtest.KillChild(t, "TestCrashVendStorm", env, 3*time.Millisecond, func(line string) bool {
			f := strings.Fields(line)
			switch {
			case len(f) == 2 && f[0] == "sent":
				sent[f[1]] = true
			case len(f) == 4 && f[0] == "issued":
				id, tok := f[1], f[2]
				if prev, ok := reported[id]; ok && prev != tok {
					t.Errorf("request %s answered %s, before %s", id, tok, prev)
				}
				if f[3] == "replayed" {
					replays++
				}
				reported[id] = tok
				delete(sent, id)
				issued++
				return issued == killAfter
			}
			return false
		})
		inFlight = inFlight[:0]
		for id := range sent {
			inFlight = append(inFlight, id)
		}
		t.Logf("round %d: %d tokens reported, %d requests in flight at the kill", round, issued, len(inFlight))
	}

	ctx := context.Background()
	m := openModule(t, dir)
	defer m.Close()
	if _, err := m.VerifyAudit(ctx, auditor); err != nil {
		t.Fatal(err)
	}
	log, _ := m.Audit(auditor)
	byID := map[string]string{} // request id → token hash, from the audit log
	tids := map[string]bool{}
	var audited uint64
	err := log.Records(ctx, 1, func(r audit.Record) error {
		if r.Action != "token.credit" {
			return nil
		}
		var d struct {
			RequestID string   `json:"request_id"`
			Amount    uint64   `json:"amount"`
			TID       uint32   `json:"tid"`
			Tokens    []string `json:"tokens_sha256"`
		}
		if err := json.Unmarshal(r.Details.(json.RawMessage), &d); err != nil {
			return err
		}
		if _, dup := byID[d.RequestID]; dup {
			t.Errorf("request %s audited twice", d.RequestID)
		}
		byID[d.RequestID] = d.Tokens[0]
		key := fmt.Sprintf("%s/%d", r.Subject, d.TID)
		if tids[key] {
			t.Errorf("meter %s got TID %d twice", r.Subject, d.TID)
		}
		tids[key] = true
		audited += d.Amount
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if used := creditUsed(t, m); used != audited {
		t.Fatalf("the credit limit lost %d, the audited tokens carry %d", used, audited)
	}
	for id, tok := range reported {
		if h, ok := byID[id]; !ok || h != sm.TokenHash(tok) {
			t.Errorf("reported token of %s is not its audited one", id)
		}
	}
	if len(byID) < len(reported) {
		t.Fatalf("%d tokens audited, %d reported", len(byID), len(reported))
	}
	t.Logf("%d rounds: %d tokens audited, %d reported, %d in-flight requests answered again from the store, credit used %d",
		rounds, len(byID), len(reported), replays, audited)
}

// runCrashChild vends from 8 goroutines, printing "sent ID" before each
// request and "issued ID TOKEN new|replayed" after, until killed; first it
// sends again the requests the parent says were in flight.
func runCrashChild(t *testing.T, dir string) {
	ctx := context.Background()
	m := openModule(t, dir)
	var mu sync.Mutex
	say := func(format string, args ...any) bool {
		mu.Lock()
		defer mu.Unlock()
		_, err := fmt.Fprintf(os.Stdout, format+"\n", args...)
		return err == nil
	}
	vend := func(id string) bool {
		var w, n, round int
		fmt.Sscanf(id, "r%d-w%d-%d", &round, &w, &n)
		mk := sm.MeterKey{PAN: pan(t, 1000+w*4+n%4), TI: 1, RegisterKey: sm.RegisterKey{SGC: crashSGC, KRN: 1, KT: sts.DUTK}}
		if !say("sent %s", id) {
			return false
		}
		ans, err := m.Credit(ctx, operator, sm.CreditRequest{ID: id, Meter: mk, Sub: sts.Electricity, Amount: uint64(1 + n%40)})
		if err != nil {
			t.Error(err)
			return false
		}
		how := "new"
		if ans.Replayed {
			how = "replayed"
		}
		return say("issued %s %s %s", id, ans.Tokens[0], how)
	}
	for _, id := range strings.Split(os.Getenv(crashRetry), ",") {
		if id != "" && !vend(id) {
			return
		}
	}
	round := os.Getenv(crashRound)
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				if !vend(fmt.Sprintf("r%s-w%d-%d", round, w, n)) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// crashLoadChild makes TestCrashKLFLoad the child: it loads Key Load Files
// into the module in the directory it names until killed.
const crashLoadChild = "STSKMS_SM_CRASH_LOAD_CHILD"

// crashLoadKeys is how many keys each Key Load File of TestCrashKLFLoad
// replaces.
const crashLoadKeys = 2000

func crashLoadKey(i int) keyload.VendingKey {
	k := vk(300000+i, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
	k.ACT, k.IUT = time.Now().AddDate(-1, 0, 0), time.Now().AddDate(1, 0, 0)
	return k
}

// TestCrashKLFLoad kills (SIGKILL) a real module process in the middle of
// loading Key Load Files of 2 000 keys, three times. After each kill the
// registers are all old or all new: every register has been loaded the same
// number of times, that number is the count of klf.load audit records,
// the slot is ACTIVE exactly when the last one committed, the audit chain
// verifies and the self-test (every key opening with its attributes)
// passes.
func TestCrashKLFLoad(t *testing.T) {
	if !crashtest.Parent(t, crashLoadChild, runCrashLoadChild) {
		return
	}
	keys := make([]keyload.VendingKey, crashLoadKeys)
	for i := range keys {
		keys[i] = crashLoadKey(i)
	}
	dir := newLoadedModuleDir(t, keys...)
	ctx := context.Background()
	for round := range 3 {
		loads, killAt := 0, 1+rand.IntN(2)
		crashtest.KillChild(t, "TestCrashKLFLoad", []string{crashLoadChild + "=" + dir}, 400*time.Millisecond, func(line string) bool {
			if line == "loaded" {
				loads++
			}
			return line == "loading" && loads >= killAt
		})

		m := openModule(t, dir)
		regs, err := m.Registers(ctx, auditor)
		if err != nil {
			t.Fatal(err)
		}
		slots, _ := m.Slots(ctx, auditor)
		log, _ := m.Audit(auditor)
		klfLoads, vkLoads, lastSlotAction := 0, 0, ""
		log.Records(ctx, 1, func(r audit.Record) error {
			switch r.Action {
			case "klf.load":
				klfLoads++
			case "vk.load":
				vkLoads++
			}
			if strings.HasPrefix(r.Action, "slot.") || r.Action == "klf.load" {
				lastSlotAction = r.Action
			}
			return nil
		})
		loaded := map[time.Time]int{}
		for _, r := range regs {
			loaded[r.Loaded]++
		}
		if len(regs) != crashLoadKeys || len(loaded) != 1 || vkLoads != klfLoads*crashLoadKeys {
			t.Fatalf("round %d: %d registers from %d loads (want 1), %d klf.load and %d vk.load records",
				round, len(regs), len(loaded), klfLoads, vkLoads)
		}
		if active := slots[0].State == sm.SlotActive; active != (lastSlotAction == "klf.load") {
			t.Fatalf("round %d: slot %s after %s", round, slots[0].State, lastSlotAction)
		}
		t.Logf("round %d: killed after %d loads reported; %d files loaded in all, slot %s", round, loads, klfLoads, slots[0].State)
		m.Close()
	}
}

// runCrashLoadChild requests and loads Key Load Files until killed,
// printing "loading" before each load and "loaded" after.
func runCrashLoadChild(t *testing.T, dir string) {
	ctx := context.Background()
	m := openModule(t, dir)
	kmc := defaultKMC(t)
	keys := make([]keyload.VendingKey, crashLoadKeys)
	for range 20 {
		req, err := m.Request(ctx, officer, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range keys {
			keys[i] = crashLoadKey(i)
		}
		klf := kmc.answer(t, req, time.Now(), keys...)
		fmt.Println("loading")
		if _, err := m.LoadKLF(ctx, officer, 1, klf); err != nil {
			t.Fatal(err)
		}
		fmt.Println("loaded")
	}
}

// openModule opens the test module in dir on the real clock, failing t
// unless it opens out of its error state.
func openModule(t *testing.T, dir string) *sm.Module {
	t.Helper()
	m, err := sm.Open(context.Background(), dir, sm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fault(); err != nil {
		m.Close()
		t.Fatalf("module in its error state after open: %v", err)
	}
	return m
}

// newLoadedModuleDir makes a test vending module in a new directory, loads
// keys into it through a KEK slot of the default test KMC, closes it and
// returns the directory, for a child process to open.
func newLoadedModuleDir(t *testing.T, keys ...keyload.VendingKey) string {
	t.Helper()
	f := newFixture(t, nil, sm.Vending)
	f.clock.Set(time.Now()) // the children's clock
	f.load(keys...)
	f.m.Close()
	return f.dir
}
