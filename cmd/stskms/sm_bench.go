package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sts"
)

// smBenchLine is one mode's figures, as --json prints them.
type smBenchLine struct {
	Mode        string  `json:"mode"` // "batched" or "single"
	Conns       int     `json:"conns"`
	Batch       int     `json:"batch"`
	Requests    int     `json:"requests"`
	Tokens      int     `json:"tokens"`
	Seconds     float64 `json:"seconds"`
	TokensPerS  float64 `json:"tokens_per_s"`
	RequestsPS  float64 `json:"requests_per_s"`
	P50MS       float64 `json:"p50_ms"`
	P99MS       float64 `json:"p99_ms"`
	DurableSync string  `json:"durable"`
}

// runSMBench is "stskms sm bench": credit tokens through the HTTP API on
// loopback, against a fresh TEST-ONLY module (SQLite, durable audit, group
// commit) in a temporary directory.
func runSMBench(e *env, args []string) error { return runSMBenchAs(e, "sm bench", args) }

// runBenchSM is "stskms bench sm", the same benchmark: its settings are
// its own ([bench.sm], $STSKMS_BENCH_SM_…), as for every command.
func runBenchSM(e *env, args []string) error { return runSMBenchAs(e, "bench sm", args) }

// runSMBenchAs runs the benchmark of "sm bench" as the command name.
func runSMBenchAs(e *env, name string, args []string) error {
	fs := newFlags(name, "[--json] [--conns N] [--n TOKENS] [--batch N] [--mode batched|single|both]",
		"Makes a TEST-ONLY module with one register in a temporary directory, serves its HTTP API on\n"+
			"127.0.0.1 and credits tokens through it from --conns connections, each token durable with its\n"+
			"audit record: batched (POST /v1/credit with an array of --batch requests) and single-token\n"+
			"requests. Prints tokens/s, requests/s and the p50/p99 latency of a request. The module keeps\n"+
			"a signed audit checkpoint outside its database every second, as sm serve does.")
	bf := addBenchModeFlags(fs, "batched", "single")
	conns := fs.Int("conns", 8, "concurrent connections")
	n := fs.Int("n", 20000, "tokens per mode")
	batch := fs.Int("batch", 256, "requests per batch in batched mode")
	keep := fs.String("dir", "", "make the module here (an empty or new directory) instead of a temporary one")
	checkpoints := fs.Bool("checkpoints", true, "keep audit checkpoints outside the database as sm serve does (false: none, to measure their cost)")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if *conns < 1 || *n < 1 || *batch < 1 || *batch > api.MaxBatch {
		return fmt.Errorf("--conns and --n must be at least 1, --batch 1 to %d", api.MaxBatch)
	}
	modes, err := bf.modes()
	if err != nil {
		return err
	}
	dir := *keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "stskms-sm-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "sm")
	}
	ctx := context.Background()
	m, err := apitest.Setup(ctx, dir)
	if err != nil {
		return err
	}
	defer m.Close()
	tokens, err := api.InitTestTokens(dir)
	if err != nil {
		return err
	}
	ln, err := api.Listen("127.0.0.1:0", nil)
	if err != nil {
		return err
	}
	srv := api.NewHTTPServer(api.New(m, tokens))
	go srv.Serve(ln)
	defer srv.Close()
	if *checkpoints {
		kctx, stop := context.WithCancel(ctx)
		defer stop()
		go m.KeepCheckpoints(kctx, sm.DefaultCheckpointEvery, sm.DefaultCheckpointRecords)
	}
	url := "http://" + ln.Addr().String()
	if !bf.json {
		fmt.Fprintln(e.stderr, "stskms sm bench: "+sm.TestWarning)
	}
	for _, md := range modes {
		line, err := smBench(ctx, url, tokens.Token(sm.Operator), md, *conns, *n, *batch)
		if err != nil {
			return err
		}
		if bf.json {
			printJSON(e.stdout, line)
		} else {
			fmt.Fprintf(e.stdout, "%-8s conns=%d batch=%d tokens=%d  %.0f tokens/s  %.0f requests/s  p50 %.2f ms  p99 %.2f ms\n",
				line.Mode, line.Conns, line.Batch, line.Tokens, line.TokensPerS, line.RequestsPS, line.P50MS, line.P99MS)
		}
	}
	return nil
}

// smBench runs one mode: conns workers, each with its own connection,
// taking requests until n tokens are issued.
func smBench(ctx context.Context, url, token, mode string, conns, n, batch int) (smBenchLine, error) {
	if mode == "single" {
		batch = 1
	}
	requests := (n + batch - 1) / batch
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	run := fmt.Sprintf("%s-%d-", mode, time.Now().UnixNano())
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			c := &api.Client{URL: url, Token: token, HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}}
			defer c.HTTP.CloseIdleConnections()
			var mine []time.Duration
			defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
			for {
				r := int(next.Add(1)) - 1
				if r >= requests {
					return
				}
				reqs := make([]api.CreditRequest, 0, batch)
				for j := r * batch; j < min((r+1)*batch, n); j++ {
					reqs = append(reqs, api.CreditRequest{RequestID: fmt.Sprint(run, j), Meter: api.MeterOf(apitest.Meter(j % 1000)),
						Subclass: sts.Electricity, Amount: 10})
				}
				t := time.Now()
				var err error
				if mode == "single" {
					_, err = c.Credit(ctx, reqs[0])
				} else {
					var res []api.Result
					if res, err = c.CreditBatch(ctx, reqs); err == nil {
						for _, x := range res {
							if x.ErrorBody != nil {
								err = fmt.Errorf("refused: %s %s", x.Code, x.ErrorBody.Error)
								break
							}
						}
					}
				}
				mine = append(mine, time.Since(t))
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(requests))
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return smBenchLine{}, firstErr
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(p * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	return smBenchLine{Mode: mode, Conns: conns, Batch: batch, Requests: requests, Tokens: n, Seconds: elapsed.Seconds(),
		TokensPerS: float64(n) / elapsed.Seconds(), RequestsPS: float64(requests) / elapsed.Seconds(),
		P50MS: pct(0.50), P99MS: pct(0.99), DurableSync: "sqlite WAL, synchronous=FULL, group commit"}, nil
}
