package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/store"
)

// gatewayCommand is "stskms gateway": the KMS e-mail gateway of
// STS 600-9-2 (docs/gateway.md).
func gatewayCommand() *command {
	return &command{summary: "the KMS e-mail gateway (STS 600-9-2): serve, queue, blocks", sub: map[string]*command{
		"serve":     {summary: "accept request mail over SMTP or LMTP and answer it through a relay", run: runGatewayServe},
		"queue":     {summary: "list the request mails and their replies, one JSON object per line", run: runGatewayQueue},
		"blocks":    {summary: "list the senders blocked by the flood protection", run: runGatewayBlocks},
		"unblock":   {summary: "lift a block (addr:<address>, domain:<domain> or module:<vendor>:<id>)", run: runGatewayUnblock},
		"help-text": {summary: "print the {KMS:Help} reply the gateway sends", run: runGatewayHelpText},
	}}
}

// gatewayKMC opens the KMC the gateway serves, from the KMC directory dir;
// the returned function closes it. The adapter from package kmc to
// gateway.KMC assigns it; until then serve refuses to start.
var gatewayKMC = func(ctx context.Context, e *env, dir string) (gateway.KMC, func() error, error) {
	return nil, nil, errors.New("no KMC adapter is built into this binary")
}

// gatewayDBFlags are the flags that name the gateway's database.
type gatewayDBFlags struct {
	dir, db *string
}

func addGatewayDB(fs *flagSet) gatewayDBFlags {
	return gatewayDBFlags{
		dir: fs.String("dir", "", "the KMC directory; the gateway's queue is DIR/gateway.db unless --db is given"),
		db:  fs.String("db", "", "the gateway's database: sqlite:PATH or postgres://… (shared by several gateways)"),
	}
}

func (f gatewayDBFlags) open(ctx context.Context) (*store.DB, error) {
	dsn := *f.db
	if dsn == "" {
		if *f.dir == "" {
			return nil, fmt.Errorf("give --dir or --db")
		}
		dsn = "sqlite:" + filepath.Join(*f.dir, "gateway.db")
	}
	return store.Open(ctx, dsn)
}

// openGatewayAdmin opens the gateway for the queue and block commands (no KMC,
// no relay).
func openGatewayAdmin(ctx context.Context, f gatewayDBFlags) (*gateway.Gateway, func(), error) {
	db, err := f.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	gw, err := gateway.New(ctx, db, nil, nil, gateway.Config{Address: "gateway@localhost"})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return gw, func() { db.Close() }, nil
}

// gatewayAddrList is a repeatable flag.
type gatewayAddrList []string

func (l *gatewayAddrList) String() string     { return strings.Join(*l, ",") }
func (l *gatewayAddrList) Set(v string) error { *l = append(*l, v); return nil }

func runGatewayServe(e *env, args []string) error {
	fs := newFlags("gateway serve", "--dir DIR --address ADDRESS [flags]",
		"Accepts request mail for ADDRESS on --listen (SMTP, or LMTP with --lmtp), stores each\n"+
			"message before answering 250, processes it against the KMC of DIR and sends the replies\n"+
			"through --relay. Runs until interrupted. The relay password, if any, is read from\n"+
			"$STSKMS_RELAY_PASSWORD. Logs are JSON lines on standard error.")
	dbf := addGatewayDB(fs)
	address := fs.String("address", "", "the gateway's e-mail address (required)")
	listen := fs.String("listen", "127.0.0.1:2525", "address to accept mail on")
	lmtp := fs.Bool("lmtp", false, "speak LMTP instead of SMTP (behind Postfix)")
	cert := fs.String("tls-cert", "", "certificate (PEM) to offer STARTTLS with")
	key := fs.String("tls-key", "", "its private key (PEM)")
	relay := fs.String("relay", "127.0.0.1:25", "SMTP relay host:port for replies")
	relayTLS := fs.Bool("relay-starttls", false, "require STARTTLS with the relay (else used when offered, off loopback)")
	relayUser := fs.String("relay-user", "", "user name for AUTH PLAIN at the relay")
	hostname := fs.String("hostname", "", "host name in greetings and Message-IDs (default: the address's domain)")
	envSender := fs.String("envelope-sender", "", "MAIL FROM of replies (default: the null sender <>)")
	var stsa gatewayAddrList
	fs.Var(&stsa, "stsa-sender", "an STS Association address allowed to use {KMS:SmUpdateStsEd2} (repeatable)")
	authMode := fs.String("auth", "record", "sender authenticity: record (SPF/DKIM/DMARC recorded only), require, or off")
	maxBytes := fs.Int64("max-message-bytes", 128<<10, "larger requests are ignored")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if *address == "" || *dbf.dir == "" {
		fmt.Fprintln(e.stderr, "stskms gateway serve: --address and --dir are required (see --help)")
		return errUsage
	}
	cfg := gateway.Config{
		Address: *address, Hostname: *hostname, EnvelopeSender: *envSender, STSASenders: stsa,
		MaxMessageBytes: *maxBytes,
		Logger:          slog.New(slog.NewJSONHandler(e.stderr, nil)),
	}
	switch *authMode {
	case "record":
		cfg.Auth = &gateway.AuthChecker{Policy: gateway.RecordOnly}
	case "require":
		cfg.Auth = &gateway.AuthChecker{Policy: gateway.RequirePass}
	case "off":
	default:
		fmt.Fprintf(e.stderr, "stskms gateway serve: --auth %q: want record, require or off\n", *authMode)
		return errUsage
	}
	var opts gateway.ServerOptions
	opts.LMTP = *lmtp
	if *cert != "" || *key != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	rel := &gateway.Relay{Addr: *relay, Hostname: *hostname, Username: *relayUser, Password: e.getenv("STSKMS_RELAY_PASSWORD")}
	if rel.Hostname == "" {
		_, rel.Hostname, _ = strings.Cut(*address, "@")
	}
	if *relayTLS {
		host, _, _ := net.SplitHostPort(*relay)
		rel.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kmc, closeKMC, err := gatewayKMC(ctx, e, *dbf.dir)
	if err != nil {
		return fmt.Errorf("KMC: %w", err)
	}
	defer closeKMC()
	db, err := dbf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	gw, err := gateway.New(ctx, db, kmc, rel, cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := gw.NewServer(opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	cfg.Logger.Info("gateway: serving", "listen", l.Addr().String(), "lmtp", *lmtp, "address", *address, "relay", *relay)
	runErr := gw.Run(ctx)
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shut)
	select {
	case err := <-served:
		if err != nil && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
			return err
		}
	default:
	}
	if errors.Is(runErr, context.Canceled) {
		return nil
	}
	return runErr
}

func runGatewayQueue(e *env, args []string) error {
	fs := newFlags("gateway queue", "--dir DIR | --db DSN",
		"Prints every request mail of the queue, oldest first, as one JSON object per line: its\n"+
			"state, why it was ignored or what it was answered, and its replies.")
	dbf := addGatewayDB(fs)
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	ctx := context.Background()
	gw, done, err := openGatewayAdmin(ctx, dbf)
	if err != nil {
		return err
	}
	defer done()
	q, err := gw.Queue(ctx)
	if err != nil {
		return err
	}
	for _, m := range q {
		printJSON(e.stdout, m)
	}
	return nil
}

func runGatewayBlocks(e *env, args []string) error {
	fs := newFlags("gateway blocks", "--dir DIR | --db DSN",
		"Prints the blocks in force, one JSON object per line: key, until, created, reason.")
	dbf := addGatewayDB(fs)
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	ctx := context.Background()
	gw, done, err := openGatewayAdmin(ctx, dbf)
	if err != nil {
		return err
	}
	defer done()
	blocks, err := gw.Blocks(ctx)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		printJSON(e.stdout, b)
	}
	return nil
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
	ctx := context.Background()
	gw, done, err := openGatewayAdmin(ctx, dbf)
	if err != nil {
		return err
	}
	defer done()
	ok, err := gw.Unblock(ctx, pos[0])
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no block on %s", pos[0])
	}
	fmt.Fprintf(e.stdout, "unblocked %s\n", pos[0])
	return nil
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
