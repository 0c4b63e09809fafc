package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/kmcgateway"
	"github.com/stskms/stskms/internal/unseal"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/kmc"
)

// smtpSealed greets a mail connection while the gateway is sealed (RFC
// 5321 4.2.3: 421, the service closes the channel): the mail stays with
// the sender (Postfix) and is tried again.
const smtpSealed = "421 4.3.2 Service sealed, try again later\r\n"

// gatewayServer is "gateway serve": its mail port for the command's life,
// sealed or serving, and a gateway on the KMC for each unsealed phase.
type gatewayServer struct {
	e    *env
	f    *gatewayServeFlags
	kf   *kmcFlags
	cfg  gateway.Config
	opts gateway.ServerOptions
	rel  *gateway.Relay
	fail context.CancelCauseFunc
	gate *unseal.Gate // nil: opens at once
	port *servicePort
}

// servedGateway is the gateway of one unsealed phase, on its KMC and
// database.
type servedGateway struct {
	gw    *gateway.Gateway
	k     *kmc.KMC
	close func()
}

// listen listens for mail; until a phase opens, each connection is
// greeted 421 and closed.
func (s *gatewayServer) listen() error {
	l, err := listenSMTP(*s.f.listen, *s.f.limits, s.cfg.Logger)
	if err != nil {
		return err
	}
	s.port = newServicePort(l, s.gate, smtpSealed)
	return nil
}

// logSealed says where the sealed gateway listens.
func (s *gatewayServer) logSealed() {
	s.cfg.Logger.Info("gateway: sealed", "listen", s.port.addr().String(), "address", *s.f.address)
}

func (s *gatewayServer) closePort() {
	if s.port != nil {
		s.port.close()
	}
}

// open opens the KMC, with the officers' components if given, and the
// gateway's database, and makes the gateway on them.
func (s *gatewayServer) open(ctx context.Context, comps []keystore.Component) (*servedGateway, error) {
	s.kf.unsealed = comps
	k, err := s.kf.open(s.e)
	s.kf.unsealed = nil
	if err != nil {
		return nil, fmt.Errorf("KMC: %w", err)
	}
	db, err := s.f.dbf.open(ctx, s.e)
	if err != nil {
		k.Close()
		return nil, err
	}
	closeBoth := func() { db.Close(); k.Close() }
	gw, err := gateway.New(ctx, db, kmcgateway.New(k), s.rel, s.cfg)
	if err != nil {
		closeBoth()
		return nil, err
	}
	return &servedGateway{gw: gw, k: k, close: closeBoth}, nil
}

func (s *gatewayServer) audit(g *servedGateway) func([]unseal.Event) {
	return auditTo(g.k.AuditLog(), "gateway-serve", slogf(s.cfg.Logger, "gateway: unseal"))
}

// live serves mail (and metrics, with --metrics) with g until the
// returned function is called.
func (s *gatewayServer) live(g *servedGateway) (func(), error) {
	stopMetrics := func() {}
	if *s.f.metricsAddr != "" {
		var err error
		if _, stopMetrics, err = serveGatewayMetrics(g.gw, *s.f.metricsAddr, s.cfg.Logger, *s.f.limits, s.fail); err != nil {
			return nil, err
		}
	}
	l := s.port.phase()
	srv := g.gw.NewServer(s.opts)
	watchServer(s.fail, "mail server on "+l.Addr().String(), func() error { return srv.Serve(l) })
	s.cfg.Logger.Info("gateway: serving", "listen", l.Addr().String(), "lmtp", *s.f.lmtp, "address", *s.f.address, "relay", *s.f.relay)
	return func() {
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shut)
		l.Close()
		stopMetrics()
	}, nil
}

// run runs the worker until ctx ends (nil) or the worker fails.
func (s *gatewayServer) run(ctx context.Context, g *servedGateway) error {
	if err := g.gw.Run(ctx); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// serve runs the gateway through its sealed and unsealed phases.
func (s *gatewayServer) serve(ctx context.Context) error {
	start := s.listen
	if s.gate != nil {
		start = func() error {
			if err := s.listen(); err != nil {
				return err
			}
			s.logSealed()
			return nil
		}
	}
	loop := sealable[*servedGateway]{gate: s.gate, start: start,
		open:  func(comps []keystore.Component) (*servedGateway, error) { return s.open(ctx, comps) },
		audit: s.audit,
		live:  s.live,
		run:   s.run,
		close: func(g *servedGateway) { g.close() },
	}
	return loop.serve(ctx)
}
