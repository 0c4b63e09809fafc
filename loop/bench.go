package loop

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/kmcgateway"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/store"
)

// StartKMCAndGatewayConfig makes a test-mode KMC in dir/kmc and starts its
// gateway with cfg (benchmarks, stskms bench gateway, turn the flood
// protection off and choose the workers): SMTP on 127.0.0.1:0, replies
// relayed to relay. Address and PollInterval are filled in when empty.
func StartKMCAndGatewayConfig(ctx context.Context, dir, relay string, cfg gateway.Config) (s *Stack, err error) {
	return StartKMCAndGatewayServer(ctx, dir, relay, cfg, gateway.ServerOptions{})
}

// StartKMCAndGatewayServer is StartKMCAndGatewayConfig with the gateway's
// server options: with opts.LMTP, Submit is an LMTP listener, for a mail
// server such as Postfix to deliver to.
func StartKMCAndGatewayServer(ctx context.Context, dir, relay string, cfg gateway.Config, opts gateway.ServerOptions) (s *Stack, err error) {
	s = &Stack{Address: GatewayAddress}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	if cfg.Address == "" {
		cfg.Address = GatewayAddress
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	s.Address = cfg.Address
	if s.KMC, err = kmc.Init(ctx, filepath.Join(dir, "kmc"), kmc.InitOptions{Mode: kmc.ModeTest, Actor: actor}); err != nil {
		return nil, err
	}
	key, err := s.KMC.CurrentKey(ctx)
	if err != nil {
		return nil, err
	}
	s.Fingerprint, s.KMCID = key.Fingerprint.String(), fmt.Sprint(key.KMCID)
	if s.gwDB, err = store.Open(ctx, "sqlite:"+filepath.Join(dir, "kmc", "gateway.db")); err != nil {
		return nil, err
	}
	gw, err := gateway.New(ctx, s.gwDB, kmcgateway.New(s.KMC), &gateway.Relay{Addr: relay, Hostname: "kms.test"}, cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := gw.NewServer(opts)
	srv.ErrorLog = nopLogger{}
	s.srv, s.Submit = srv, ln.Addr().String()
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	gctx, cancel := context.WithCancel(context.Background())
	s.stop, s.gwDone = cancel, make(chan error, 1)
	go func() { s.gwDone <- gw.Run(gctx) }()
	return s, nil
}

// PublicKey returns the KMC key's one-line PK.ECDH.1 record, as
// {KMS:GetPublicKey} would mail it.
func (s *Stack) PublicKey(ctx context.Context) (string, error) {
	key, err := s.KMC.CurrentKey(ctx)
	if err != nil {
		return "", err
	}
	return key.Body, nil
}
