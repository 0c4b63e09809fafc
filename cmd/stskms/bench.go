package main

import (
	"fmt"
	"time"

	"github.com/stskms/stskms/internal/workload"
	"github.com/stskms/stskms/sts/sta"
)

// benchLine is one case's figures, as --json prints them.
type benchLine struct {
	Case        string  `json:"case"`
	N           int     `json:"n"`
	Digest      string  `json:"digest"`
	DigestMatch *bool   `json:"digest_match"` // null: no reference for this n or these tables
	Tables      string  `json:"sta_tables,omitempty"`
	USPerToken  float64 `json:"us_per_token"`
	TokensPerS  float64 `json:"tokens_per_s"`
	FloorUS     float64 `json:"floor_us_per_token"`
	FloorRatio  float64 `json:"ratio_to_floor"`
}

func runBenchTokens(e *env, args []string) error {
	fs := newFlags("bench tokens", "[--json] [--n-derive N] [--n-reuse N] [--sta-tables FILE]",
		"Runs the fixed token workload (docs/bench-workload.md) on one goroutine: four cases,\n"+
			"µs/token, tokens/s and the digest of the tokens, plus the cost of the case's crypto\n"+
			"primitives (the floor) and the ratio to it. EA07 digests match the reference only with\n"+
			"the production STA tables; without them the test tables are used and the digest printed anyway.")
	asJSON := fs.Bool("json", false, "one JSON object per line per case")
	nDerive := fs.Int("n-derive", 500, "tokens in the *_derive_each cases")
	nReuse := fs.Int("n-reuse", 100_000, "tokens in the *_reuse_key cases")
	warmup := fs.Int("warmup", 20_000, "warm-up tokens per case (indices from 50 000 000)")
	var tablesPath string
	addTablesFlag(e, fs, &tablesPath)
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if *nDerive < 1 || *nReuse < 1 || *warmup < 0 {
		return fmt.Errorf("--n-derive and --n-reuse must be at least 1")
	}
	tables, err := loadTables(tablesPath)
	if err != nil {
		return err
	}
	for _, c := range workload.Cases() {
		n := map[bool]int{true: *nDerive, false: *nReuse}[c.DeriveEach]
		line, err := benchCase(c, n, *warmup, tables)
		if err != nil {
			return err
		}
		printBenchLine(e, line, *asJSON)
	}
	return nil
}

func benchCase(c workload.Case, n, warmup int, tables *sta.Tables) (benchLine, error) {
	label := ""
	if c.NeedsSTA() {
		label = "production"
		if tables == nil {
			label, tables = "test", sta.TestTables()
		}
	}
	r, err := workload.Run(c, n, warmup, tables)
	if err != nil {
		return benchLine{}, err
	}
	var floor time.Duration
	for _, p := range c.Primitives(tables) {
		floor += p.Measure(20 * time.Millisecond)
	}
	line := benchLine{
		Case: c.Name, N: n, Digest: r.Digest, Tables: label,
		USPerToken: float64(r.Elapsed.Nanoseconds()) / float64(n) / 1e3,
		TokensPerS: r.TokensPerSecond(),
		FloorUS:    float64(floor.Nanoseconds()) / 1e3,
	}
	line.FloorRatio = line.USPerToken / line.FloorUS
	if n == c.DefaultN && label != "test" {
		match := r.Digest == c.Digest
		line.DigestMatch = &match
	}
	return line, nil
}

func printBenchLine(e *env, l benchLine, asJSON bool) {
	if asJSON {
		printJSON(e.stdout, l)
		return
	}
	verdict := "no reference digest"
	switch {
	case l.Tables == "test":
		verdict = "test STA tables: digest not comparable"
	case l.DigestMatch != nil && *l.DigestMatch:
		verdict = "digest matches the reference"
	case l.DigestMatch != nil:
		verdict = "DIGEST DIFFERS from the reference"
	}
	fmt.Fprintf(e.stdout, "%-26s n=%-7d %8.3f µs/token %12.0f tokens/s  floor %.3f µs (×%.2f)  digest %s (%s)\n",
		l.Case, l.N, l.USPerToken, l.TokensPerS, l.FloorUS, l.FloorRatio, l.Digest, verdict)
}

// benchModeFlags are the flags of a bench command that runs in two modes.
type benchModeFlags struct {
	json       bool
	mode, a, b string
}

// addBenchModeFlags adds --json and --mode: a, b or both.
func addBenchModeFlags(fs *flagSet, a, b string) *benchModeFlags {
	f := &benchModeFlags{a: a, b: b}
	fs.BoolVar(&f.json, "json", false, "one JSON object per line per mode")
	fs.StringVar(&f.mode, "mode", "both", a+", "+b+" or both")
	return f
}

// modes returns the modes --mode names, in order.
func (f *benchModeFlags) modes() ([]string, error) {
	switch f.mode {
	case "both":
		return []string{f.a, f.b}, nil
	case f.a, f.b:
		return []string{f.mode}, nil
	}
	return nil, fmt.Errorf("--mode is %s, %s or both", f.a, f.b)
}
