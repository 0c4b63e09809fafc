package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stskms/stskms/loop"
	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
	"github.com/stskms/stskms/sts/sta"
)

// demoStep is one line of the demo: what was done, the tokens, what the
// meter said, and whether that was the expected answer.
type demoStep struct {
	Step     string   `json:"step"`
	Tokens   []string `json:"tokens"`
	Outcome  string   `json:"outcome"`
	Code     int      `json:"code"`
	Detail   string   `json:"detail,omitempty"`
	OK       bool     `json:"ok"`
	Duration float64  `json:"ms"`
}

// demo is the state of one demo run: the vending side (vending key, key
// derivation, a TID clock) and the simulated meter.
type demo struct {
	suite   demoSuite
	gen     *dkga.Generator
	params  dkga.Params
	tables  *sta.Tables
	cipher  sts.Cipher
	meter   *meter.Meter
	lastTID uint32
	steps   []demoStep
}

// demoSuite is the algorithm pair the demo runs with.
type demoSuite struct {
	alg dkga.Algorithm
	ea  sts.EA
}

func runDemo(e *env, args []string) error {
	fs := newFlags("demo", "[--json] [--keep DIR] [--console] [--sta-tables FILE] | --tokens [--json] [--sta-tables FILE]",
		"Runs the whole stskms loop in a temporary directory, on the embedded defaults,\n"+
			"with real SMTP on 127.0.0.1 and nothing else: a KMC in test mode and its e-mail\n"+
			"gateway; a vending and a manufacturing security module, registered and authorised;\n"+
			"for each, the KMC key ({KMS:GetPublicKey}, fingerprint checked) and a Key Load File\n"+
			"({KMS:GetKlfStsEd2}) fetched by mail and loaded; then tokens the modules issue are\n"+
			"entered into simulated meters: credit accepted, the same token rejected as used, a\n"+
			"management token, a key change to the next KRN, credit under the new key, a\n"+
			"manufacturing module's credit under DITK on a fresh meter, and a vending module's\n"+
			"DITK credit refused. DKGA04 + MISTY1 by default (public algorithms); DKGA02 + EA07\n"+
			"when STA tables are given. One line per step; exit status 1 if any step does not\n"+
			"end as expected. All keys are TEST-ONLY, made for the run.\n\n"+
			"--console then keeps the KMC and the modules running, each served by `kmc serve` or\n"+
			"`sm serve` on a free loopback port with its operator console, prints a one-time\n"+
			"sign-in URL of an officer for each, and serves until Ctrl-C (docs/console.md).\n\n"+
			"--tokens shows the token engine alone instead: a vending key, a meter's decoder\n"+
			"key, and credit, management, test and key change tokens on a simulated meter.")
	asJSON := fs.Bool("json", false, "one JSON object per step")
	tokensOnly := fs.Bool("tokens", false, "show the token engine alone, without KMC, gateway and modules")
	keep := fs.String("keep", "", "work in DIR (new or empty) and leave the state there")
	withConsole := fs.Bool("console", false, "after the loop, serve the KMC and the modules with their consoles until interrupted")
	fs.Bool("loop", true, "the whole loop (the default; kept for scripts)")
	var tablesPath string
	addTablesFlag(e, fs, &tablesPath)
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	for flag, set := range map[string]bool{"--keep": *keep != "", "--console": *withConsole} {
		if set && *tokensOnly {
			fmt.Fprintf(e.stderr, "stskms demo: %s is for the whole loop, not --tokens\n", flag)
			return errUsage
		}
	}
	tables, err := loadTables(tablesPath)
	if err != nil {
		return err
	}
	if *withConsole {
		return runDemoConsole(e, loop.Options{Dir: *keep, STATables: tables}, tablesPath, *asJSON)
	}
	if !*tokensOnly {
		return runDemoLoop(e, loop.Options{Dir: *keep, STATables: tables}, *asJSON)
	}
	d, err := newDemo(tables)
	if err != nil {
		return err
	}
	d.run()
	return d.print(e, *asJSON)
}

func newDemo(tables *sta.Tables) (*demo, error) {
	suite := demoSuite{dkga.DKGA04, sts.EA11}
	if tables != nil {
		suite = demoSuite{dkga.DKGA02, sts.EA07}
	}
	vk := make([]byte, suite.alg.VendingKeySize())
	if _, err := rand.Read(vk); err != nil {
		return nil, err
	}
	gen, err := dkga.New(suite.alg, vk)
	if err != nil {
		return nil, err
	}
	pan, err := sts.NewPAN("600727", "04123456784")
	if err != nil {
		return nil, err
	}
	d := &demo{suite: suite, gen: gen, tables: tables, params: dkga.Params{
		KeyType: sts.DUTK, SGC: 123457, TI: 1, KRN: 1, PAN: pan, BaseDate: sts.BaseDate2014, EA: suite.ea,
	}}
	return d, d.installMeter()
}

// installMeter derives the meter's first decoder key and makes the meter,
// as a manufacturer would at the factory.
func (d *demo) installMeter() error {
	key, err := d.gen.DecoderKey(d.params)
	if err != nil {
		return err
	}
	if d.cipher, err = sts.NewCipher(d.suite.ea, key, d.tables); err != nil {
		return err
	}
	d.meter, err = meter.New(meter.Config{
		PAN: d.params.PAN, MfrCode: 4, EA: d.suite.ea, Key: key, KeyType: d.params.KeyType,
		KRN: d.params.KRN, TI: d.params.TI, KEN: 255, SGC: d.params.SGC,
		BaseDate: d.params.BaseDate, STATables: d.tables,
	})
	return err
}

func (d *demo) run() {
	credit := d.issue(sts.Credit{Sub: sts.Electricity, Amount: mustAmount(256)})
	d.enter("credit 25.6 kWh", credit, meter.Accepted)
	d.enter("the same credit token again", credit, meter.UsedError)
	d.enter("set maximum power limit 5000 W", d.issue(sts.Management{Sub: sts.MaximumPowerLimit, Value: uint16(mustAmount(5000))}), meter.Accepted)
	d.enter("initiate meter test (class 1, no key)", d.issue(sts.Test{Sub: sts.TestDisplay1, MfrCode: 4, Control: 1}), meter.Accepted)
	oldKeyToken := d.issue(sts.Credit{Sub: sts.Electricity, Amount: mustAmount(100)})
	d.enter("key change to KRN 2", d.keyChange(2), meter.KeyChanged)
	d.enter("credit 10.0 kWh under the new key", d.issue(sts.Credit{Sub: sts.Electricity, Amount: mustAmount(100)}), meter.Accepted)
	d.enter("credit made under the old key", oldKeyToken, meter.CRCError)
}

func mustAmount(v uint64) sts.Amount {
	a, err := sts.EncodeAmount(v)
	if err != nil {
		panic(err)
	}
	return a
}

// nextTID is the vending side's TID clock: minutes since the base date,
// but never the same TID twice for this meter.
func (d *demo) nextTID() uint32 {
	tid, err := d.params.BaseDate.TID(time.Now())
	if err != nil {
		panic(err) // base date 2014 covers 2014..2045
	}
	d.lastTID = max(tid, d.lastTID+1)
	return d.lastTID
}

// issue gives the token a fresh TID and random RND and encodes it.
func (d *demo) issue(t sts.Token) []string {
	var rnd [1]byte
	_, _ = rand.Read(rnd[:])
	switch tok := t.(type) {
	case sts.Credit:
		tok.TID, tok.RND = d.nextTID(), rnd[0]&0xF
		t = tok
	case sts.Management:
		tok.TID, tok.RND = d.nextTID(), rnd[0]&0xF
		t = tok
	}
	n, err := sts.Encode(t, d.cipher)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	return []string{n.String()}
}

// keyChange derives the meter's key for a new KRN and returns the key
// change set encrypted under the current key; the vending side then uses
// the new key.
func (d *demo) keyChange(krn uint8) []string {
	d.params.KRN = krn
	key, err := d.gen.DecoderKey(d.params)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	set, err := sts.KeyChangeTokens(sts.NewKey{Key: key, KeyType: d.params.KeyType, KRN: krn, TI: d.params.TI, KEN: 255, SGC: d.params.SGC})
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var tokens []string
	for _, t := range set {
		n, err := sts.Encode(t, d.cipher)
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		tokens = append(tokens, n.String())
	}
	if d.cipher, err = sts.NewCipher(d.suite.ea, key, d.tables); err != nil {
		return []string{"error: " + err.Error()}
	}
	return tokens
}

// enter keys the tokens into the meter and records the last answer.
func (d *demo) enter(step string, tokens []string, want meter.Outcome) {
	start := time.Now()
	var r meter.Result
	for _, t := range tokens {
		r = d.meter.Enter(t)
	}
	d.steps = append(d.steps, demoStep{
		Step: step, Tokens: tokens, Outcome: r.Outcome.String(), Code: r.Outcome.Code(),
		Detail: d.detail(r), OK: r.Outcome == want,
		Duration: float64(time.Since(start).Microseconds()) / 1000,
	})
}

func (d *demo) detail(r meter.Result) string {
	switch t := r.Token.(type) {
	case sts.Credit:
		if r.Outcome == meter.Accepted {
			return fmt.Sprintf("balance %s kWh", tenthsString(r.Balance))
		}
		return fmt.Sprintf("TID %d", t.TID)
	case sts.Management:
		return fmt.Sprintf("maximum power limit %d W", d.meter.MaximumPowerLimit())
	case sts.Test:
		return fmt.Sprintf("control bits %#x", t.Control)
	case sts.KeyChange:
		k := d.meter.KeyInfo()
		return fmt.Sprintf("meter now on %s KRN %d", k.KeyType, k.KRN)
	}
	if r.Outcome == meter.CRCError {
		return "not authentic under the meter's key"
	}
	return ""
}

var errDemoFailed = errors.New("a step did not end as expected")

// demoWidth is the width the demo's lines fit in.
const demoWidth = 100

// printDemoStep prints a step of the demo in lines of at most demoWidth
// columns (but a single word longer than that): the mark, the step and
// its time; then its tokens, if any; then "→" and the outcome, wrapped at
// spaces. The whole of each is in --json.
func printDemoStep(w io.Writer, mark, step string, tokens []string, outcome string, ms float64) {
	fmt.Fprintf(w, "%s %-50s %9.2f ms\n", mark, step, ms)
	const indent = "     "
	if len(tokens) > 0 {
		fmt.Fprintln(w, wrapWords(indent, indent, strings.Join(tokens, " ")))
	}
	fmt.Fprintln(w, wrapWords(indent+"→ ", indent+"  ", outcome))
}

// wrapWords breaks text at spaces into lines of at most demoWidth
// columns, the first starting with first, the others with rest.
func wrapWords(first, rest, text string) string {
	var b strings.Builder
	line, n := first, utf8.RuneCountInString(first)
	empty := true
	for _, word := range strings.Fields(text) {
		wn := utf8.RuneCountInString(word)
		if !empty && n+1+wn > demoWidth {
			b.WriteString(line + "\n")
			line, n, empty = rest, utf8.RuneCountInString(rest), true
		}
		if !empty {
			line, n = line+" ", n+1
		}
		line, n, empty = line+word, n+wn, false
	}
	b.WriteString(line)
	return b.String()
}

func (d *demo) print(e *env, asJSON bool) error {
	if !asJSON {
		fmt.Fprintf(e.stdout, "stskms demo: DKGA%s + EA%s, meter %s (test vending key made for this run)\n",
			d.suite.alg, d.suite.ea, d.params.PAN)
	}
	failed := false
	for _, s := range d.steps {
		failed = failed || !s.OK
		if asJSON {
			printJSON(e.stdout, s)
			continue
		}
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		outcome := s.Outcome
		if s.Detail != "" {
			outcome += " (" + s.Detail + ")"
		}
		printDemoStep(e.stdout, mark, s.Step, s.Tokens, outcome, s.Duration)
	}
	if failed {
		return errDemoFailed
	}
	return nil
}

// runDemoLoop runs `stskms demo`: one line (or JSON object) per step of
// package loop.
func runDemoLoop(e *env, o loop.Options, asJSON bool) error {
	dir := o.Dir
	if !asJSON {
		fmt.Fprintf(e.stdout, "stskms demo: KMC, gateway and modules on 127.0.0.1, %s; TEST-ONLY keys for this run\n",
			loop.SuiteOf(o))
	}
	steps, err := loop.Run(context.Background(), o)
	for _, s := range steps {
		ms := float64(s.Duration.Microseconds()) / 1000
		if asJSON {
			printJSON(e.stdout, struct {
				loop.Step
				Duration float64 `json:"ms"`
			}{s, ms})
			continue
		}
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		printDemoStep(e.stdout, mark, s.Name, s.Tokens, strings.TrimSpace(s.Outcome), ms)
	}
	if err != nil {
		return err
	}
	if loop.Failed(steps) {
		return errDemoFailed
	}
	if dir != "" && !asJSON {
		fmt.Fprintf(e.stdout, "state kept in %s\n", dir)
	}
	return nil
}
