// Package loop runs the whole stskms loop in one process, on 127.0.0.1
// with real SMTP, in a directory of its own, on the embedded defaults
// (SQLite): a test-mode KMC and its e-mail gateway, a vending and a
// manufacturing security module registered and authorised at the KMC, the
// integrator's mail client fetching the KMC key ({KMS:GetPublicKey},
// checked against the fingerprint given out of band) and a Key Load File
// ({KMS:GetKlfStsEd2}, matched by a unique subject tag) for each module,
// and tokens the meter simulator accepts or refuses as it must.
//
// It is `stskms demo --loop` and the CI test of the whole loop (issue 8).
// Everything in it is test mode: the KMC's and modules' keys protect
// nothing.
package loop

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stskms/stskms/internal/initdir"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/smmail"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
	"github.com/stskms/stskms/sts/sta"
)

// Step is the result of one step of the loop.
type Step struct {
	// Name says what the step does.
	Name string `json:"step"`
	// Outcome is what came of it, e.g. "accepted (balance 25.6 kWh)" or
	// the error.
	Outcome string `json:"outcome"`
	// Tokens are the tokens the step entered into a meter, if any.
	Tokens []string `json:"tokens,omitempty"`
	// Duration is how long the step took.
	Duration time.Duration `json:"-"`
	// OK reports whether the step ended as expected.
	OK bool `json:"ok"`
}

// Options configure Run.
type Options struct {
	// Dir is where the KMC, the gateway's queue and the modules live: a
	// directory that must not exist or be empty, kept afterwards. Empty
	// means a temporary directory, removed at the end.
	Dir string
	// MailTimeout bounds the wait for each reply (default 30 s).
	MailTimeout time.Duration
	// STATables, when set, make the loop run DKGA02 + EA07 (STA) with
	// these tables in the modules and the meters; without them it runs
	// DKGA04 + EA11 (MISTY1), whose algorithms are public.
	STATables *sta.Tables
}

// Suite is the key derivation and encryption algorithm pair of a loop run.
type Suite struct {
	DKGA   dkga.Algorithm
	EA     sts.EA
	Tables *sta.Tables // EA07 only
}

// String is e.g. "DKGA04 + MISTY1".
func (s Suite) String() string {
	if s.EA == sts.EA07 {
		return "DKGA02 + STA"
	}
	return "DKGA04 + MISTY1"
}

// SuiteOf returns the suite Run uses with o.
func SuiteOf(o Options) Suite {
	if o.STATables != nil {
		return Suite{DKGA: dkga.DKGA02, EA: sts.EA07, Tables: o.STATables}
	}
	return Suite{DKGA: dkga.DKGA04, EA: sts.EA11}
}

// Addresses and codes of the loop.
const (
	GatewayAddress       = "kmc@kms.test"
	VendingAddress       = "vending@utility.test"
	ManufacturingAddress = "factory@maker.test"
	SGC                  = 123456
	actor                = "officer:loop"
)

// Failed reports whether any step did not end as expected.
func Failed(steps []Step) bool {
	for _, s := range steps {
		if !s.OK {
			return true
		}
	}
	return false
}

// errStep marks a step that ran but did not end as expected.
var errStep = errors.New("unexpected outcome")

// Run runs the loop and returns its steps. It stops at the first step that
// fails (the last step returned then has OK false). An error is returned
// only when the loop could not be set up or taken down.
func Run(ctx context.Context, o Options) (steps []Step, err error) {
	if o.MailTimeout <= 0 {
		o.MailTimeout = 30 * time.Second
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "stskms-loop-*"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if _, err := initdir.Prepare(dir); err != nil {
		return nil, fmt.Errorf("loop: %w (the loop keeps its state in a new or empty directory)", err)
	}
	l := &run{ctx: ctx, dir: dir, timeout: o.MailTimeout, suite: SuiteOf(o)}
	defer func() {
		if cerr := l.close(); err == nil {
			err = cerr
		}
	}()
	for _, s := range []struct {
		name string
		fn   func() (string, []string, error)
	}{
		{"start the KMC (test mode) and its gateway", l.start},
		{"create a vending and a manufacturing module", l.createModules},
		{"register and authorise them at the KMC", l.authorise},
		{"vending: {KMS:GetPublicKey} by mail, install", func() (string, []string, error) { return l.getPublicKey(&l.vend) }},
		{"vending: {KMS:GetKlfStsEd2} by mail, load", func() (string, []string, error) { return l.getKLF(&l.vend) }},
		{"manufacturing: {KMS:GetPublicKey} by mail, install", func() (string, []string, error) { return l.getPublicKey(&l.mfr) }},
		{"manufacturing: {KMS:GetKlfStsEd2} by mail, load", func() (string, []string, error) { return l.getKLF(&l.mfr) }},
		{"credit 25.6 kWh (" + l.suite.String() + ")", l.credit},
		{"the same credit token again", l.replay},
		{"set maximum power limit 5000 W", l.powerLimit},
		{"key change to KRN 2", l.keyChange},
		{"credit 10.0 kWh under the new key", l.creditNewKey},
		{"manufacturing: credit under DITK, fresh meter", l.manufacturingCredit},
		{"vending: credit under DITK", l.vendingDITK},
	} {
		start := time.Now()
		outcome, tokens, err := s.fn()
		step := Step{Name: s.name, Outcome: outcome, Tokens: tokens, Duration: time.Since(start), OK: err == nil}
		if err != nil {
			step.Outcome = err.Error()
		}
		steps = append(steps, step)
		if err != nil {
			break
		}
	}
	return steps, nil
}

// module is one security module with its operator's mail client.
type module struct {
	name   string
	dir    string
	m      *sm.Module
	id     sm.Identity
	from   string
	mail   *smmail.Client
	slot   int
	loaded []sm.Register
}

// run is the state of one run of the loop.
type run struct {
	ctx     context.Context
	dir     string
	timeout time.Duration
	suite   Suite

	stack     *Stack
	box       *smmail.Listener
	fp        string // the KMC key's fingerprint, as given out of band
	vend, mfr module

	vuKey, initKey []byte // the vending keys, as the meter manufacturer knows them
	pan            sts.PAN
	meter          *meter.Meter
	lastCredit     []string
}

var (
	officer  = sm.Officer.As("loop")
	operator = sm.Operator.As("loop")
)

func (l *run) close() error {
	var errs []error
	if l.stack != nil {
		errs = append(errs, l.stack.Close())
	}
	if l.box != nil {
		errs = append(errs, ignoreClosed(l.box.Close()))
	}
	for _, m := range []*module{&l.vend, &l.mfr} {
		if m.m != nil {
			errs = append(errs, m.m.Close())
		}
	}
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// start makes the KMC in test mode, its gateway (SMTP on 127.0.0.1:0) and
// the operators' mailbox, which is the gateway's relay.
func (l *run) start() (string, []string, error) {
	var err error
	if l.box, err = smmail.Listen("127.0.0.1:0"); err != nil {
		return "", nil, err
	}
	if l.stack, err = StartKMCAndGateway(l.ctx, l.dir, l.box.Addr()); err != nil {
		return "", nil, err
	}
	l.fp = l.stack.Fingerprint // published out of band
	return fmt.Sprintf("KMC %s (fingerprint %s), gateway %s on %s, relay %s", l.stack.KMCID, l.fp, GatewayAddress,
		l.stack.Submit, l.box.Addr()), nil, nil
}

// createModules makes the two test modules.
func (l *run) createModules() (string, []string, error) {
	for _, m := range []struct {
		mod     *module
		name    string
		variant sm.Variant
		from    string
	}{{&l.vend, "vending", sm.Vending, VendingAddress}, {&l.mfr, "manufacturing", sm.Manufacturing, ManufacturingAddress}} {
		dir := filepath.Join(l.dir, "sm-"+m.name)
		opts := sm.Options{STATables: l.suite.Tables}
		if _, err := sm.Init(l.ctx, dir, m.variant, true, opts); err != nil {
			return "", nil, fmt.Errorf("%s module: %w", m.name, err)
		}
		mod, err := sm.Open(l.ctx, dir, opts)
		if err != nil {
			return "", nil, fmt.Errorf("%s module: %w", m.name, err)
		}
		*m.mod = module{name: m.name, dir: dir, m: mod, id: mod.Identify(), from: m.from,
			mail: &smmail.Client{Submit: l.stack.Submit, Gateway: GatewayAddress, From: m.from, Mailbox: l.box,
				Timeout: l.timeout, Hostname: "utility.test"}}
	}
	return fmt.Sprintf("%s, %s", l.vend.id.SMID, l.mfr.id.SMID), nil, nil
}

// authorise adds the supply group and its keys, registers both modules and
// grants them: the VUDKs (KRN 1 and 2) to the vending module, the
// initialization key to the manufacturing one.
func (l *run) authorise() (string, []string, error) {
	if err := l.stack.AddSupplyGroup(l.ctx); err != nil {
		return "", nil, err
	}
	var err error
	alg := Algorithms{DKGA: int(l.suite.DKGA), EA: int(l.suite.EA)}
	if l.vuKey, err = l.stack.ImportKeyWith(l.ctx, 1, kmc.VUDK, alg); err != nil {
		return "", nil, err
	}
	if _, err = l.stack.ImportKeyWith(l.ctx, 2, kmc.VUDK, alg); err != nil {
		return "", nil, err
	}
	if l.initKey, err = l.stack.ImportKeyWith(l.ctx, 1, kmc.KeyInit, alg); err != nil {
		return "", nil, err
	}
	for _, g := range []struct {
		m       *module
		variant kmc.Variant
		types   kmc.KeyTypes
	}{{&l.vend, kmc.Vending, kmc.TypesOf(kmc.VUDK)}, {&l.mfr, kmc.Manufacturing, kmc.TypesOf(kmc.KeyInit)}} {
		if err := l.stack.Authorise(l.ctx, g.m.id, g.variant, g.types, g.m.from); err != nil {
			return "", nil, fmt.Errorf("the %s module: %w", g.m.name, err)
		}
	}
	return fmt.Sprintf("SGC %d: vending VUDK KRN 1, 2; manufacturing INIT KRN 1 (DKGA%02d, EA%02d)", SGC, alg.DKGA, alg.EA), nil, nil
}

// getPublicKey asks the gateway for the KMC key by mail, checks the
// fingerprint line against the one given out of band, and installs the
// record into a KEK slot (the module checks the fingerprint again).
func (l *run) getPublicKey(m *module) (string, []string, error) {
	r, err := m.mail.Request(l.ctx, smmail.GetPublicKey, "")
	if err != nil {
		return "", nil, err
	}
	got := r.Fingerprint()
	if subtle.ConstantTimeCompare([]byte(got), []byte(l.fp)) != 1 {
		return "", nil, fmt.Errorf("fingerprint %q in the reply, %q given out of band: %w", got, l.fp, errStep)
	}
	blocks, err := r.Records()
	if err != nil {
		return "", nil, err
	}
	if len(blocks) != 1 || blocks[0].Type != "PK.ECDH.1" {
		return "", nil, fmt.Errorf("%d records in the reply, want one PK.ECDH.1: %w", len(blocks), errStep)
	}
	s, err := m.m.InstallSlot(l.ctx, officer, sm.InstallRequest{Record: blocks[0].Body, Fingerprint: l.fp, TestKMC: true})
	if err != nil {
		return "", nil, err
	}
	m.slot = s.Number
	return fmt.Sprintf("fingerprint %s matches; installed in slot %d", got, s.Number), nil, nil
}

// getKLF makes a VKLOAD.REQ.1, mails it, waits for the reply carrying the
// request's tag and loads the attached Key Load File.
func (l *run) getKLF(m *module) (string, []string, error) {
	req, err := m.m.Request(l.ctx, officer, m.slot)
	if err != nil {
		return "", nil, err
	}
	body, err := req.Format()
	if err != nil {
		return "", nil, err
	}
	block, err := armor.Wrap(body)
	if err != nil {
		return "", nil, err
	}
	r, err := m.mail.Request(l.ctx, smmail.GetKlf, "Please send the Key Load File.\r\n\r\n"+string(block))
	if err != nil {
		return "", nil, err
	}
	name, bodies, err := r.KLF()
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", err, errStep)
	}
	regs, err := m.m.LoadKLF(l.ctx, officer, m.slot, bodies)
	if err != nil {
		return "", nil, err
	}
	m.loaded = regs
	var names []string
	for _, g := range regs {
		names = append(names, g.RegisterKey.String())
	}
	return fmt.Sprintf("%s loaded: %s", name, strings.Join(names, ", ")), nil, nil
}

// newMeter makes a meter as it leaves the factory, with the decoder key
// of type kt derived from vending key vk (register KRN krn) as the module
// derives it.
func (l *run) newMeter(pan sts.PAN, vk []byte, krn uint8, kt sts.KeyType) (*meter.Meter, error) {
	g, err := dkga.New(l.suite.DKGA, vk)
	if err != nil {
		return nil, err
	}
	dk, err := g.DecoderKey(dkga.Params{KeyType: kt, SGC: SGC, TI: 1, KRN: krn, PAN: pan, BaseDate: sts.BaseDate2014, EA: l.suite.EA})
	if err != nil {
		return nil, err
	}
	made, err := sts.BaseDate2014.TID(time.Now().Add(-24 * time.Hour))
	if err != nil {
		return nil, err
	}
	return meter.New(meter.Config{PAN: pan, MfrCode: 4, EA: l.suite.EA, Key: dk, KeyType: kt, KRN: krn, TI: 1, KEN: 255,
		SGC: SGC, BaseDate: sts.BaseDate2014, ManufacturedTID: made, STATables: l.suite.Tables})
}

func meterKey(pan sts.PAN, krn uint8, kt sts.KeyType) sm.MeterKey {
	return sm.MeterKey{PAN: pan, TI: 1, RegisterKey: sm.RegisterKey{SGC: SGC, KRN: krn, KT: kt}}
}

// enter keys tokens into a meter and checks the last outcome.
func enter(m *meter.Meter, tokens []string, want meter.Outcome) (string, []string, error) {
	var r meter.Result
	for _, t := range tokens {
		r = m.Enter(t)
	}
	out := r.Outcome.String()
	if r.Outcome == meter.Accepted && r.Credited > 0 {
		out += fmt.Sprintf(" (balance %d.%d kWh)", r.Balance/10, r.Balance%10)
	}
	if r.Outcome != want {
		return out, tokens, fmt.Errorf("meter: %s, want %s: %w", out, want, errStep)
	}
	return out, tokens, nil
}

func (l *run) credit() (string, []string, error) {
	pan, err := sts.NewPAN("600727", "04123456784")
	if err != nil {
		return "", nil, err
	}
	l.pan = pan
	if l.meter, err = l.newMeter(pan, l.vuKey, 1, sts.DUTK); err != nil {
		return "", nil, err
	}
	iss, err := l.vend.m.Credit(l.ctx, operator, sm.CreditRequest{Meter: meterKey(pan, 1, sts.DUTK), Sub: sts.Electricity, Amount: 256})
	if err != nil {
		return "", nil, err
	}
	l.lastCredit = iss.Tokens
	return enter(l.meter, iss.Tokens, meter.Accepted)
}

func (l *run) replay() (string, []string, error) {
	return enter(l.meter, l.lastCredit, meter.UsedError)
}

func (l *run) powerLimit() (string, []string, error) {
	iss, err := l.vend.m.Manage(l.ctx, operator, sm.ManagementRequest{Meter: meterKey(l.pan, 1, sts.DUTK),
		Sub: sts.MaximumPowerLimit, Value: 5000})
	if err != nil {
		return "", nil, err
	}
	out, tokens, err := enter(l.meter, iss.Tokens, meter.Accepted)
	if err == nil {
		out += fmt.Sprintf(" (limit %d W)", l.meter.MaximumPowerLimit())
	}
	return out, tokens, err
}

func (l *run) keyChange() (string, []string, error) {
	iss, err := l.vend.m.KeyChange(l.ctx, operator, sm.KeyChangeRequest{Meter: meterKey(l.pan, 1, sts.DUTK),
		To: sm.RegisterKey{SGC: SGC, KRN: 2, KT: sts.DUTK}, TI: 1})
	if err != nil {
		return "", nil, err
	}
	return enter(l.meter, iss.Tokens, meter.KeyChanged)
}

func (l *run) creditNewKey() (string, []string, error) {
	iss, err := l.vend.m.Credit(l.ctx, operator, sm.CreditRequest{Meter: meterKey(l.pan, 2, sts.DUTK), Sub: sts.Electricity, Amount: 100})
	if err != nil {
		return "", nil, err
	}
	return enter(l.meter, iss.Tokens, meter.Accepted)
}

func (l *run) manufacturingCredit() (string, []string, error) {
	fresh, err := l.newMeter(l.pan, l.initKey, 1, sts.DITK)
	if err != nil {
		return "", nil, err
	}
	iss, err := l.mfr.m.Credit(l.ctx, operator, sm.CreditRequest{Meter: meterKey(l.pan, 1, sts.DITK), Sub: sts.Electricity, Amount: 10})
	if err != nil {
		return "", nil, err
	}
	return enter(fresh, iss.Tokens, meter.Accepted)
}

func (l *run) vendingDITK() (string, []string, error) {
	_, err := l.vend.m.Credit(l.ctx, operator, sm.CreditRequest{Meter: meterKey(l.pan, 1, sts.DITK), Sub: sts.Electricity, Amount: 10})
	if err == nil {
		return "issued", nil, fmt.Errorf("the vending module issued a credit token under DITK: %w", errStep)
	}
	if sm.CodeOf(err) != sm.CodeKeyType || !errors.Is(err, sm.ErrVariant) {
		return "", nil, fmt.Errorf("refused for the wrong reason: %w", err)
	}
	return "refused by the module variant [" + string(sm.CodeOf(err)) + "]", nil, nil
}
