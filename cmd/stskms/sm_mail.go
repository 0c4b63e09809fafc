package main

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/smmail"
)

// smMailFlags are the flags of the "sm mail" commands: where requests go
// and where replies come back.
type smMailFlags struct {
	gateway, smtp, from, listen, user string
	imap, imapUser                    string
	imapTLS                           bool
	smtpName, smtpCA                  string
	imapName, imapCA                  string
	hostname                          string
	timeout, retryGap                 time.Duration
	retries                           int
}

func addSMMailFlags(e *env, fs *flagSet) *smMailFlags {
	m := &smMailFlags{}
	fs.StringVar(&m.gateway, "gateway", e.getenv("STSKMS_GATEWAY"), "the KMC gateway's address (default $STSKMS_GATEWAY)")
	fs.StringVar(&m.smtp, "smtp", e.getenv("STSKMS_SMTP"), "SMTP submission server HOST:PORT (default $STSKMS_SMTP); STARTTLS when offered, plain only on loopback")
	fs.StringVar(&m.from, "from", e.getenv("STSKMS_FROM"), "your address, registered at the KMC for the module (default $STSKMS_FROM)")
	fs.StringVar(&m.listen, "listen", e.getenv("STSKMS_LISTEN"), "receive the replies on a local SMTP listener at HOST:PORT (default $STSKMS_LISTEN)")
	fs.StringVar(&m.imap, "imap", e.getenv("STSKMS_IMAP"), "or read the replies from an IMAP mailbox at HOST:PORT (default $STSKMS_IMAP); STARTTLS, plain only on loopback")
	fs.StringVar(&m.imapUser, "imap-user", e.getenv("STSKMS_IMAP_USER"), "IMAP user name (password in $STSKMS_IMAP_PASSWORD)")
	fs.BoolVar(&m.imapTLS, "imap-tls", false, "IMAP over implicit TLS (port 993) instead of STARTTLS")
	fs.StringVar(&m.user, "smtp-user", e.getenv("STSKMS_SMTP_USER"), "AUTH PLAIN user name (password in $STSKMS_SMTP_PASSWORD)")
	fs.StringVar(&m.smtpName, "smtp-server-name", "", "the name the SMTP server's TLS certificate must carry (default: the host of --smtp); "+
		"give it when --smtp is an IP address. With it or --smtp-ca, STARTTLS is required, even on loopback")
	fs.StringVar(&m.smtpCA, "smtp-ca", "", "PEM file of the CA certificates to trust for the SMTP server instead of the system's")
	fs.StringVar(&m.imapName, "imap-server-name", "", "the name the IMAP server's TLS certificate must carry (default: the host of --imap); "+
		"with it or --imap-ca, TLS is required, even on loopback")
	fs.StringVar(&m.imapCA, "imap-ca", "", "PEM file of the CA certificates to trust for the IMAP server instead of the system's")
	fs.StringVar(&m.hostname, "hostname", "", "this machine's name for EHLO and the request's Message-ID (default: the system's host name; "+
		"if that is unknown or localhost, the domain of --from; never localhost)")
	fs.DurationVar(&m.timeout, "timeout", smmail.DefaultTimeout, "how long to wait for the final reply")
	fs.IntVar(&m.retries, "retries", smmail.DefaultRetries, "how many times to retry a failed submission")
	fs.DurationVar(&m.retryGap, "retry-gap", smmail.DefaultRetryGap, "the wait between submission retries")
	return m
}

// client checks the flags and starts the reply listener; close it after.
func (m *smMailFlags) client(e *env) (*smmail.Client, smmail.Mailbox, error) {
	switch {
	case m.gateway == "":
		return nil, nil, usageError("give the gateway's address with --gateway")
	case smmail.IsLive(m.gateway):
		return nil, nil, smmail.ErrLiveKMC
	case m.smtp == "":
		return nil, nil, errors.New("give the SMTP submission server with --smtp HOST:PORT")
	case m.from == "":
		return nil, nil, errors.New("give your address, registered at the KMC, with --from")
	case (m.listen == "") == (m.imap == ""):
		return nil, nil, errors.New("give where the replies come: --listen HOST:PORT (a local SMTP listener) or --imap HOST:PORT")
	}
	if m.hostname != "" {
		if err := smmail.CheckHostname(m.hostname); err != nil {
			return nil, nil, fmt.Errorf("--hostname: %w", err)
		}
	}
	smtpTLS, err := mailTLS(m.smtpName, m.smtpCA, "--smtp-ca")
	if err != nil {
		return nil, nil, err
	}
	imapTLS, err := mailTLS(m.imapName, m.imapCA, "--imap-ca")
	if err != nil {
		return nil, nil, err
	}
	var box smmail.Mailbox = &smmail.IMAP{Addr: m.imap, Username: m.imapUser, Password: e.getenv("STSKMS_IMAP_PASSWORD"),
		ImplicitTLS: m.imapTLS, TLSConfig: imapTLS}
	if m.listen != "" {
		l, err := smmail.Listen(m.listen)
		if err != nil {
			return nil, nil, fmt.Errorf("reply listener: %w", err)
		}
		box = l
	}
	retries := m.retries
	if retries == 0 {
		retries = -1
	}
	c := &smmail.Client{Submit: m.smtp, Gateway: m.gateway, From: m.from, Mailbox: box,
		Username: m.user, Password: e.getenv("STSKMS_SMTP_PASSWORD"), TLSConfig: smtpTLS, Hostname: m.hostname,
		Timeout: m.timeout, Retries: retries, RetryGap: m.retryGap,
		Progress: func(msg string) { fmt.Fprintln(e.stderr, "stskms sm mail: "+msg) }}
	return c, box, nil
}

// mailTLS returns the TLS configuration of a server name and a CA file
// (flag caFlag), or nil when neither is given (the host of the address,
// the system's roots).
func mailTLS(name, caFile, caFlag string) (*tls.Config, error) {
	if name == "" && caFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := httpapi.CertPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", caFlag, err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// mailError explains a gateway Error (its code, the gateway's text and
// what to do) and a certificate that does not verify (which flags help).
func mailError(err error) error {
	var ce *smmail.CertificateError
	if errors.As(err, &ce) {
		flag := strings.ToLower(ce.Proto)
		return fmt.Errorf("%w; give the name the certificate carries with --%s-server-name, "+
			"or the CA that issued it with --%s-ca", err, flag, flag)
	}
	var ge *smmail.Error
	if !errors.As(err, &ge) {
		return err
	}
	kind := "error"
	if ge.Result.Kind == gwresult.Notice {
		kind = "notice" // Blocked: the request was dropped
	}
	msg := fmt.Sprintf("the gateway answered %s with %s %s: %s", ge.Service, kind, ge.Code(), ge.Result.Text)
	if len(ge.Result.Params) > 0 {
		msg += " (" + strings.Join(ge.Result.Params, "; ") + ")"
	}
	if a := smmail.Advice(ge.Code()); a != "" && a != ge.Result.Text {
		msg += "\n  what to do: " + a
	}
	return &mailErr{msg: msg, err: ge}
}

// mailErr is a gateway Error as the command line explains it; it unwraps
// to the *smmail.Error.
type mailErr struct {
	msg string
	err error
}

func (e *mailErr) Error() string { return e.msg }
func (e *mailErr) Unwrap() error { return e.err }

func runSMMailPubkey(e *env, args []string) error {
	fs := newFlags("sm mail pubkey", "--dir DIR --gateway ADDR --smtp HOST:PORT --from ADDR (--listen HOST:PORT | --imap HOST:PORT) --fingerprint HEX --test-kmc [--slot N]",
		"Sends {KMS:GetPublicKey} to the gateway, waits for the reply and shows the KMC key's\n"+
			"fingerprint. The key is installed into a KEK slot only if the fingerprint matches the\n"+
			"one the KMC published out of band (--fingerprint) and the officer declares the KMC a\n"+
			"test KMC (--test-kmc) — never blindly. The live KMC's gateway is refused.")
	f := addSMFlags(e, fs)
	f.dual = true
	mf := addSMMailFlags(e, fs)
	fp := fs.String("fingerprint", "", "the KMC public key fingerprint published out of band, 16 hex digits")
	testKMC := fs.Bool("test-kmc", false, "declare the KMC a test KMC")
	slot := fs.Int("slot", 0, "slot number (default: the first free one)")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if f.dir == "" {
		return smDir.errNoDir()
	}
	c, box, err := mf.client(e)
	if err != nil {
		return err
	}
	defer box.Close()
	r, err := c.Request(context.Background(), smmail.GetPublicKey, "")
	if err != nil {
		return mailError(err)
	}
	got := r.Fingerprint()
	blocks, err := r.Records()
	if err != nil {
		return fmt.Errorf("the reply's records: %w", err)
	}
	var body string
	for _, b := range blocks {
		if b.Type == records.PKECDHSpec.Type() {
			if body != "" {
				return errors.New("the reply holds more than one PK.ECDH.1; not installed")
			}
			body = b.Body
		}
	}
	if body == "" {
		return errors.New("the reply holds no PK.ECDH.1 record; not installed")
	}
	if rfp := records.Fingerprint(body).String(); got == "" || !strings.EqualFold(rfp, got) {
		return fmt.Errorf("the reply's fingerprint line %q does not match its record's (%s); not installed", got, rfp)
	}
	fmt.Fprintf(e.stdout, "KMC public key fingerprint %s\n", got)
	if *fp == "" {
		return errors.New("not installed: compare the fingerprint with the one the KMC published out of band and give it with --fingerprint")
	}
	if subtle.ConstantTimeCompare([]byte(strings.ToUpper(strings.TrimSpace(*fp))), []byte(strings.ToUpper(got))) != 1 {
		return fmt.Errorf("not installed: the fingerprint in the reply (%s) does not match --fingerprint %s", got, *fp)
	}
	if !*testKMC {
		return errors.New("not installed: this virtual module takes only a test KMC's key; declare it with --test-kmc")
	}
	return installSlot(e, f, sm.InstallRequest{Record: body, Fingerprint: *fp, TestKMC: true, Slot: *slot})
}

func runSMMailKLF(e *env, args []string) error {
	fs := newFlags("sm mail klf", "--dir DIR --slot N --gateway ADDR --smtp HOST:PORT --from ADDR (--listen HOST:PORT | --imap HOST:PORT)",
		"Makes a VKLOAD.REQ.1 from a slot, sends it to the gateway as {KMS:GetKlfStsEd2} with a\n"+
			"unique subject tag, waits for the reply carrying the tag (following Notice replies),\n"+
			"loads the attached Key Load File (all keys or none) and reports which registers\n"+
			"changed. Every gateway Error is explained with its code. The live KMC's gateway is\n"+
			"refused.")
	f := addSMFlags(e, fs)
	f.dual = true
	mf := addSMMailFlags(e, fs)
	slot := fs.Int("slot", 1, "slot number")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	c, box, err := mf.client(e)
	if err != nil {
		return err
	}
	defer box.Close()
	return f.with(e, false, func(m *sm.Module) error { return mailKLF(e, f, c, m, *slot) })
}

// mailKLF asks the gateway of c for the Key Load File of a slot's new
// request, loads it into m and reports which registers changed.
func mailKLF(e *env, f *smFlags, c *smmail.Client, m *sm.Module, slot int) error {
	ctx := context.Background()
	officer := sm.Officer.As(f.as)
	before, err := m.Registers(ctx, officer)
	if err != nil {
		return err
	}
	text, err := klfRequestText(ctx, m, officer, slot)
	if err != nil {
		return err
	}
	r, err := c.Request(ctx, smmail.GetKlf, text)
	if err != nil {
		return mailError(err)
	}
	name, bodies, err := r.KLF()
	if err != nil {
		return err
	}
	dual, err := smDualActor(m, f)
	if err != nil {
		return err
	}
	regs, err := m.LoadKLF(ctx, dual, slot, bodies)
	if err != nil {
		return fmt.Errorf("load %s: %w", name, err)
	}
	printLoaded(e, f.json, name, slot, before, regs)
	return nil
}

// printLoaded reports the registers a Key Load File loaded: new, replaced
// (with the old KCV) or reloaded, against the registers before.
func printLoaded(e *env, asJSON bool, name string, slot int, before, regs []sm.Register) {
	old := map[sm.RegisterKey]sm.Register{}
	for _, g := range before {
		old[g.RegisterKey] = g
	}
	if !asJSON {
		fmt.Fprintf(e.stdout, "loaded %s into slot %d: %d register(s)\n", name, slot, len(regs))
	}
	for _, g := range regs {
		change := "new"
		if o, ok := old[g.RegisterKey]; ok {
			change = "replaced (KCV was " + o.KCV + ")"
			if o.KCV == g.KCV {
				change = "reloaded (same key)"
			}
		}
		if asJSON {
			printJSON(e.stdout, map[string]any{"register": g, "change": strings.Fields(change)[0]})
			continue
		}
		fmt.Fprintf(e.stdout, "%s SGC %06d KRN %d KT %d KCV %s CLM %d\n", change, g.SGC, g.KRN, g.KT, g.KCV, g.CLMLoaded)
	}
}

// klfRequestText makes a VKLOAD.REQ.1 from a slot of m and returns the text
// of the {KMS:GetKlfStsEd2} mail that carries it.
func klfRequestText(ctx context.Context, m *sm.Module, a sm.Actor, slot int) (string, error) {
	req, err := m.Request(ctx, a, slot)
	if err != nil {
		return "", err
	}
	block, err := wrapRecord(req)
	if err != nil {
		return "", err
	}
	return "Please send the Key Load File.\r\n\r\n" + string(block), nil
}
