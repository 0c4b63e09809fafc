package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/kmcgateway"
	"github.com/stskms/stskms/internal/netguard"
)

// gatewayCommand is "stskms gateway": the KMS e-mail gateway of
// STS 600-9-2 (docs/gateway.md).
func gatewayCommand() *command {
	return &command{summary: "the KMS e-mail gateway (STS 600-9-2): serve, queue, blocks", sub: map[string]*command{
		"serve":     {summary: "accept request mail over SMTP or LMTP and answer it through a relay", run: runGatewayServe},
		"queue":     {summary: "administer the queue: list [--state S] [--json], retry ID…|--failed, purge --older-than D", run: runGatewayQueue},
		"bounces":   {summary: "list the bounces received for replies, one JSON object per line", run: runGatewayBounces},
		"blocks":    {summary: "list the senders blocked by the flood protection", run: runGatewayBlocks},
		"unblock":   {summary: "lift a block (addr:<address>, domain:<domain> or module:<vendor>:<id>)", run: runGatewayUnblock},
		"help-text": {summary: "print the {KMS:Help} reply the gateway sends", run: runGatewayHelpText},
	}}
}

// gatewayKMC opens the KMC the gateway serves, from the KMC directory
// f.dir, as gateway.KMC (internal/kmcgateway: the gateway never imports
// package kmc); the returned function closes it. A live KMC unlocks with
// f.officers (--officers of gateway serve) and their passphrases on
// standard input, or its PKCS#11 PIN; f.release is how the KMC treats
// this binary (docs/release.md), nil for the default (an unsigned build is
// reported, not refused).
func gatewayKMC(e *env, f *kmcFlags) (gateway.KMC, func() error, error) {
	k, err := f.open(e)
	if err != nil {
		return nil, nil, err
	}
	return kmcgateway.New(k), k.Close, nil
}

// openGatewayAdmin opens the gateway's queue for the queue and block
// commands (no KMC, no relay, no server). The command's own line on
// standard output says what it did; only warnings are logged, as JSON
// lines on standard error.
func openGatewayAdmin(ctx context.Context, e *env, f gatewayDBFlags) (*gateway.Queue, func(), error) {
	db, err := f.openExisting(ctx, e)
	if err != nil {
		return nil, nil, err
	}
	gq, err := gateway.OpenQueue(ctx, db, gateway.Config{
		Logger: slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return gq, func() { db.Close() }, nil
}

// withGatewayAdmin opens the gateway's queue for an admin command (see
// openGatewayAdmin), runs op on it and closes it.
func withGatewayAdmin(e *env, f gatewayDBFlags, op func(context.Context, *gateway.Queue) error) error {
	ctx := context.Background()
	gq, done, err := openGatewayAdmin(ctx, e, f)
	if err != nil {
		return err
	}
	defer done()
	return op(ctx, gq)
}

// gatewayJSONLines is a command that takes only the database flags and
// prints what list returns, one JSON object per line.
func gatewayJSONLines[T any](e *env, args []string, fs *flagSet, list func(*gateway.Queue, context.Context) ([]T, error)) error {
	dbf := addGatewayDB(fs)
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	return withGatewayAdmin(e, dbf, func(ctx context.Context, gq *gateway.Queue) error {
		items, err := list(gq, ctx)
		if err != nil {
			return err
		}
		printEach(e, true, items, itself, nil)
		return nil
	})
}

// gatewayAddrList is a repeatable flag.
type gatewayAddrList []string

func (l *gatewayAddrList) String() string     { return strings.Join(*l, ",") }
func (l *gatewayAddrList) Set(v string) error { *l = append(*l, v); return nil }

// runGatewayServe is "gateway serve": it reads its flags into the
// gateway's configuration, server options and relay, then serves until a
// signal or a failure stops it (serveGateway).
func runGatewayServe(e *env, args []string) error {
	fs, f := newGatewayServeFlags()
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if err := f.check(e); err != nil {
		return err
	}
	cfg, err := f.config(e)
	if err != nil {
		return err
	}
	opts, err := f.serverOptions()
	if err != nil {
		return err
	}
	return serveGateway(e, f, cfg, opts, f.relayConfig(e))
}

// gatewayServeFlags are the flags of "gateway serve".
type gatewayServeFlags struct {
	dbf                                             gatewayDBFlags
	address, listen, cert, key, relay, relayUser    *string
	hostname, envSender, metricsAddr, authMode, dns *string
	lmtp, relayTLS                                  *bool
	stsa                                            gatewayAddrList
	authTimeout, dedupe, heartbeat, takeover        *time.Duration
	maxBytes                                        *int64
	retain                                          retainFlags
	limits                                          *netguard.Limits
	release                                         *releaseFlags
	officers, pinFile                               *string
}

// kmc is how the gateway opens the KMC of its directory (gatewayKMC).
func (f *gatewayServeFlags) kmc() *kmcFlags {
	return &kmcFlags{officers: *f.officers, dirFlags: dirFlags{dir: *f.dbf.dir, pinFile: *f.pinFile, release: f.release,
		dbPasswordFile: *f.dbf.passwordFile}}
}

// newGatewayServeFlags defines the flags of "gateway serve".
func newGatewayServeFlags() (*flagSet, *gatewayServeFlags) {
	fs := newFlags("gateway serve", "--dir DIR --address ADDRESS [flags]",
		"Accepts request mail for ADDRESS on --listen (SMTP, or LMTP with --lmtp), stores each\n"+
			"message before answering 250, processes it against the KMC of DIR and sends the replies\n"+
			"through --relay. Runs until interrupted. Claims of a gateway process that stopped are\n"+
			"taken over once its heartbeat is silent for --takeover-after; finished mails are pruned\n"+
			"after --retain, with the KMC's seen requests (audited). The relay password, if any, is read from\n"+
			"$STSKMS_RELAY_PASSWORD. Logs are JSON lines on standard error. On a live KMC given no\n"+
			"--officers it starts sealed, greeting mail 421, until each officer runs `stskms kmc unseal`\n"+
			"(docs/kmc.md §2.2).")
	f := &gatewayServeFlags{dbf: addGatewayDB(fs)}
	f.address = fs.String("address", "", "the gateway's e-mail address (required)")
	f.listen = fs.String("listen", "127.0.0.1:2525", "address to accept mail on")
	f.lmtp = fs.Bool("lmtp", false, "speak LMTP instead of SMTP (behind Postfix)")
	f.cert = fs.String("tls-cert", "", "certificate (PEM) to offer STARTTLS with")
	f.key = fs.String("tls-key", "", "its private key (PEM)")
	f.relay = fs.String("relay", "127.0.0.1:25", "SMTP relay host:port for replies")
	f.relayTLS = fs.Bool("relay-starttls", false, "require STARTTLS with the relay (else used when offered, off loopback)")
	f.relayUser = fs.String("relay-user", "", "user name for AUTH PLAIN at the relay")
	f.hostname = fs.String("hostname", "", "host name in greetings and Message-IDs (default: the address's domain)")
	f.envSender = fs.String("envelope-sender", "", "bounce address: replies go out from its VERP form and bounces to it are recorded (default: the null sender <>, no bounces)")
	f.metricsAddr = fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics (default: off)")
	fs.Var(&f.stsa, "stsa-sender", "an STS Association address allowed to use {KMS:SmUpdateStsEd2} (repeatable)")
	f.authMode = fs.String("auth", "record", "sender authenticity: record (SPF/DKIM/DMARC recorded only), require, or off")
	f.dns = fs.String("dns", "", "DNS server host:port the sender checks ask (UDP, TCP for long answers; default: the system's resolver)")
	f.authTimeout = fs.Duration("auth-timeout", gateway.DefaultAuthTimeout, "cut off a request's SPF/DKIM/DMARC lookups after this long (the check is then temperror)")
	f.dedupe = fs.Duration("dedupe-window", gateway.DefaultDedupeWindow, "a mail delivered again (same envelope sender and Message-ID) within this long is stored as a duplicate and not answered (0: never)")
	f.maxBytes = fs.Int64("max-message-bytes", 128<<10, "larger requests are ignored")
	f.heartbeat = fs.Duration("heartbeat", gateway.DefaultHeartbeat, "how often this process records in the database that it is alive")
	f.takeover = fs.Duration("takeover-after", 0, "take over the claims of a gateway process silent this long (default 3 × --heartbeat)")
	f.retain = addRetainFlags(fs, "finished mails with their replies (and the KMC's seen requests)")
	f.limits = addListenFlags(fs)
	f.release = addReleaseFlags(fs, true)
	f.dbf.addRecordDBFlag(fs)
	f.officers = fs.String("officers", "", "a live KMC: its officers, comma-separated, as for the kmc commands; their\n"+
		"                 passphrases are read from standard input (also [kmc] officers, $STSKMS_KMC_OFFICERS)")
	f.pinFile = fs.String("pin-file", "", pinFileUsage+" (also [kmc] pin-file)")
	return fs, f
}

// check refuses a missing --address or --dir (a usage error) and bad
// retention or listener limits.
func (f *gatewayServeFlags) check(e *env) error {
	if *f.address == "" || *f.dbf.dir == "" {
		fmt.Fprintln(e.stderr, "stskms gateway serve: --address and --dir are required (see --help)")
		return errUsage
	}
	if err := f.retain.check(); err != nil {
		return err
	}
	return checkLimits(f.limits)
}

// config is the gateway's configuration, logging JSON lines to standard
// error; a bad --auth or --dns is a usage error.
func (f *gatewayServeFlags) config(e *env) (gateway.Config, error) {
	cfg := gateway.Config{
		Address: *f.address, Hostname: *f.hostname, EnvelopeSender: *f.envSender, STSASenders: f.stsa,
		MaxMessageBytes:  *f.maxBytes,
		Heartbeat:        *f.heartbeat,
		HeartbeatTimeout: *f.takeover,
		Retain:           cmp.Or(*f.retain.age, -1), // 0: keep everything
		PruneEvery:       *f.retain.every,
		Logger:           slog.New(slog.NewJSONHandler(e.stderr, nil)),
		DedupeWindow:     cmp.Or(*f.dedupe, -1), // 0: no deduplication
	}
	auth, err := authChecker(*f.authMode, *f.dns, *f.authTimeout)
	if err != nil {
		fmt.Fprintf(e.stderr, "stskms gateway serve: %v\n", err)
		return cfg, errUsage
	}
	cfg.Auth = auth
	return cfg, nil
}

// serverOptions are the mail server's: SMTP or LMTP, the idle timeout,
// and STARTTLS with --tls-cert and --tls-key.
func (f *gatewayServeFlags) serverOptions() (gateway.ServerOptions, error) {
	opts := gateway.ServerOptions{LMTP: *f.lmtp, ReadTimeout: f.limits.IdleTimeout}
	if *f.cert != "" || *f.key != "" {
		pair, err := tls.LoadX509KeyPair(*f.cert, *f.key)
		if err != nil {
			return opts, fmt.Errorf("TLS certificate: %w", err)
		}
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// relayConfig is the relay the replies go out through, greeted with
// --hostname (default: the address's domain), its password from
// $STSKMS_RELAY_PASSWORD.
func (f *gatewayServeFlags) relayConfig(e *env) *gateway.Relay {
	rel := &gateway.Relay{Addr: *f.relay, Hostname: *f.hostname, Username: *f.relayUser, Password: e.getenv("STSKMS_RELAY_PASSWORD")}
	if rel.Hostname == "" {
		_, rel.Hostname, _ = strings.Cut(*f.address, "@")
	}
	if *f.relayTLS {
		host, _, _ := net.SplitHostPort(*f.relay)
		rel.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return rel
}

// serveGateway serves mail (and metrics, with --metrics) and runs the
// worker until SIGINT or SIGTERM, or until a server fails for good: then
// it returns the reason. On a live KMC given no officers it starts sealed
// (kmcGate): its mail port answers 421 until the officers unseal it.
func serveGateway(e *env, f *gatewayServeFlags, cfg gateway.Config, opts gateway.ServerOptions, rel *gateway.Relay) error {
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, fail := context.WithCancelCause(sigCtx)
	defer fail(nil)
	kf := f.kmc()
	gate, err := kmcGate(e, kf.dir, kf.officers, "gateway-serve")
	if err != nil {
		return fmt.Errorf("KMC: %w", err)
	}
	defer gate.Close()
	s := &gatewayServer{e: e, f: f, kf: kf, cfg: cfg, opts: opts, rel: rel, fail: fail, gate: gate}
	defer s.closePort()
	runErr := s.serve(ctx)
	if sigCtx.Err() != nil {
		// The cause names the signal (SIGINT or SIGTERM).
		cfg.Logger.Info("gateway: stopping", "reason", context.Cause(sigCtx).Error())
	}
	return stopped(ctx, cfg.Logger, runErr)
}

// stopped is what "gateway serve" returns once its worker stopped with
// runErr: the reason a server failed for good (logged), nothing after a
// signal, else runErr.
func stopped(ctx context.Context, log *slog.Logger, runErr error) error {
	if err := stopReason(ctx); err != nil {
		log.Error("gateway: " + err.Error())
		return err
	}
	if errors.Is(runErr, context.Canceled) {
		return nil
	}
	return runErr
}

// serveGatewayMetrics serves gw's metrics at http://ADDR/metrics until the
// returned function is called; it returns the URL.
// Its connections are bounded by lim; if it stops for good, fail (if not
// nil) ends the command with the reason.
func serveGatewayMetrics(gw *gateway.Gateway, addr string, log *slog.Logger, lim netguard.Limits, fail context.CancelCauseFunc) (string, func(), error) {
	return serveMetrics("gateway", gw.MetricsHandler(), addr, log, lim, fail)
}

// serveMetrics serves h, the metrics of the component name, at
// http://ADDR/metrics as serveGatewayMetrics does.
func serveMetrics(name string, h http.Handler, addr string, log *slog.Logger, lim netguard.Limits, fail context.CancelCauseFunc) (string, func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics: %w", err)
	}
	l = netguard.Wrap(l, netguard.Options{Limits: lim, Logf: slogf(log, name+": metrics listener")})
	url := "http://" + l.Addr().String() + "/metrics"
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := httpapi.NewHTTPServerWith(mux, lim)
	go func() {
		if err := serverStopped("metrics server on "+l.Addr().String(), srv.Serve(l), http.ErrServerClosed); err != nil {
			log.Error(name+": metrics server failed", "err", err)
			if fail != nil {
				fail(err)
			}
		}
	}()
	log.Info(name+": serving metrics", "url", url)
	return url, func() { srv.Close() }, nil
}

// runGatewayQueue is "gateway queue list|retry|purge"; without a verb it
// lists as JSON lines, as it always has.
func runGatewayQueue(e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return runGatewayQueueList(e, args[1:], false)
		case "retry":
			return runGatewayQueueRetry(e, args[1:])
		case "purge":
			return runGatewayQueuePurge(e, args[1:])
		}
	}
	return runGatewayQueueList(e, args, true)
}

// queueFlags are the flags of every queue verb, and the verb's database.
func queueFlags(verb, synopsis, description string) (*flagSet, gatewayDBFlags) {
	fs := newFlags("gateway queue "+verb, "--dir DIR | --db DSN "+synopsis, description)
	return fs, addGatewayDB(fs)
}

func runGatewayQueueList(e *env, args []string, bare bool) error {
	fs, dbf := queueFlags("list", "[--state STATE] [--json]",
		"Lists the request mails of the queue, oldest first, with their replies: state, why it was\n"+
			"ignored or what it was answered, attempts, the relay's or a bounce's reason. --state keeps\n"+
			"the mails in STATE or with a reply in it (received, processing, replied, ignored, failed;\n"+
			"pending, sending, sent, bounced). Without a verb, \"gateway queue\" is \"queue list --json\".\n"+
			"Other verbs: \"queue retry ID…|--failed\", \"queue purge --older-than D [--dry-run]\".")
	state := fs.String("state", "", "only mails in this state, or with a reply in it")
	asJSON := fs.Bool("json", bare, "one JSON object per line")
	pos, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "stskms gateway queue: unknown verb %q: list, retry or purge (see --help)\n", pos[0])
		return errUsage
	}
	return withGatewayAdmin(e, dbf, func(ctx context.Context, gq *gateway.Queue) error {
		q, err := gq.List(ctx, *state)
		if err != nil {
			return err
		}
		if *asJSON {
			printEach(e, true, q, itself, nil)
		} else {
			printQueue(e.stdout, q)
		}
		return nil
	})
}

// printQueue prints the queue as a table, each mail's replies under it.
func printQueue(w io.Writer, q []gateway.QueueEntry) {
	if len(q) == 0 {
		fmt.Fprintln(w, "none")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tSTATE\tTRIES\tSERVICE\tREASON\tFROM\tRESULT")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return strings.ReplaceAll(s, "\t", " | ")
	}
	for _, m := range q {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", m.ID, m.Received.Format(time.RFC3339), m.State, m.Attempts,
			dash(m.Service), dash(m.Reason), dash(m.From), dash(m.Result))
		for _, o := range m.Replies {
			why := o.LastError
			if o.BounceStatus != "" || o.BounceDiagnostic != "" {
				why = strings.TrimSpace(o.BounceStatus + " " + o.BounceDiagnostic)
			}
			fmt.Fprintf(tw, "\t  reply %d %s\t%s\t%d\t\t\t%s\t%s\n", o.ID, o.Kind, o.State, o.Attempts,
				"to "+strings.Join(o.To, ","), dash(why))
		}
	}
	tw.Flush()
}

func runGatewayQueueRetry(e *env, args []string) error {
	fs, dbf := queueFlags("retry", "ID… | --failed",
		"Puts failed mails (given up after too many attempts) back to received and failed replies\n"+
			"(refused by the relay, or not taken for too long) back to pending, their attempts reset,\n"+
			"due now: those of the mails ID… (as \"queue list\" prints them), or with --failed all of\n"+
			"them. All or nothing: an ID that names no mail, or a mail of which nothing failed, is an\n"+
			"error and changes nothing. A running gateway picks them up at its next poll.")
	all := fs.Bool("failed", false, "retry every failed mail and reply")
	pos, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if *all == (len(pos) > 0) {
		fmt.Fprintln(e.stderr, "stskms gateway queue retry: give mail IDs or --failed (see --help)")
		return errUsage
	}
	ids := make([]int64, len(pos))
	for i, p := range pos {
		if ids[i], err = strconv.ParseInt(p, 10, 64); err != nil || ids[i] <= 0 {
			fmt.Fprintf(e.stderr, "stskms gateway queue retry: %q is not a mail ID\n", p)
			return errUsage
		}
	}
	return withGatewayAdmin(e, dbf, func(ctx context.Context, gq *gateway.Queue) error {
		var res gateway.RetryResult
		if *all {
			res, err = gq.RetryFailed(ctx)
		} else {
			res, err = gq.Retry(ctx, ids)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "retried %s, %s\n", count(res.Mails, "mail", "mails"), count(res.Replies, "reply", "replies"))
		return nil
	})
}

func runGatewayQueuePurge(e *env, args []string) error {
	fs, dbf := queueFlags("purge", "--older-than DURATION [--dry-run]",
		"Deletes the finished mails (replied, ignored, failed) that finished more than DURATION\n"+
			"ago (e.g. 720h or 30d), with their replies and the bounce records they brought. Mails\n"+
			"still waiting or in work, and mails with a reply still to send, are never deleted.")
	older := fs.String("older-than", "", "age of the finished mails to delete: a Go duration (720h) or days (30d)")
	dry := fs.Bool("dry-run", false, "only count what would be deleted")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	age, err := parseAge(*older)
	if err != nil {
		fmt.Fprintf(e.stderr, "stskms gateway queue purge: --older-than: %v (see --help)\n", err)
		return errUsage
	}
	return withGatewayAdmin(e, dbf, func(ctx context.Context, gq *gateway.Queue) error {
		res, err := gq.Purge(ctx, age, *dry)
		if err != nil {
			return err
		}
		verb := "purged"
		if res.DryRun {
			verb = "would purge"
		}
		fmt.Fprintf(e.stdout, "%s %s, %s, %s finished before %s\n", verb, count(res.Mails, "mail", "mails"),
			count(res.Replies, "reply", "replies"), count(res.Bounces, "bounce record", "bounce records"), res.Before.Format(time.RFC3339))
		return nil
	})
}

// parseAge parses a positive Go duration or a number of days ("30d").
func parseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("required")
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d <= 0 || d > 100000 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", s)
	}
	return d, nil
}

func runGatewayBounces(e *env, args []string) error {
	fs := newFlags("gateway bounces", "--dir DIR | --db DSN",
		"Prints each report of each bounce received at the bounce address (--envelope-sender of\n"+
			"serve), oldest first, one JSON object per line: the bounce mail's and the matched\n"+
			"reply's ids (reply 0: it matched none, note says why), recipient, action, status,\n"+
			"diagnostic.")
	return gatewayJSONLines(e, args, fs, (*gateway.Queue).Bounces)
}

func runGatewayBlocks(e *env, args []string) error {
	fs := newFlags("gateway blocks", "--dir DIR | --db DSN",
		"Prints the blocks in force, one JSON object per line: key, until, created, reason.")
	return gatewayJSONLines(e, args, fs, (*gateway.Queue).Blocks)
}

func runGatewayUnblock(e *env, args []string) error {
	fs := newFlags("gateway unblock", "--dir DIR | --db DSN KEY",
		"Lifts the block on KEY (as \"gateway blocks\" prints it). A running gateway forgets the\n"+
			"key's rate as well only when it is the same process; others keep their buckets.")
	dbf := addGatewayDB(fs)
	pos, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(e.stderr, "stskms gateway unblock: give one KEY (see --help)")
		return errUsage
	}
	return withGatewayAdmin(e, dbf, func(ctx context.Context, gq *gateway.Queue) error {
		ok, err := gq.Unblock(ctx, pos[0])
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no block on %s", pos[0])
		}
		fmt.Fprintf(e.stdout, "unblocked %s\n", pos[0])
		return nil
	})
}

func runGatewayHelpText(e *env, args []string) error {
	fs := newFlags("gateway help-text", "--address ADDRESS",
		"Prints the text the gateway sends in reply to {KMS:Help}.")
	address := fs.String("address", "gateway@kms.example.com", "the gateway's e-mail address")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	fmt.Fprint(e.stdout, strings.ReplaceAll(gateway.HelpText(*address), "\r\n", "\n"))
	return nil
}
