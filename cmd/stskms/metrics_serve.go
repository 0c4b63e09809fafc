package main

import (
	"context"
	"log/slog"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/metrics"
	"github.com/stskms/stskms/internal/netguard"
)

// metricsFlag is --metrics of kmc serve and sm serve: where to serve the
// component's Prometheus metrics ("": not served).
type metricsFlag struct{ addr *string }

// addMetricsFlag adds --metrics to fs.
func addMetricsFlag(fs *flagSet) metricsFlag {
	return metricsFlag{fs.String("metrics", "",
		"serve Prometheus metrics at http://ADDR/metrics while unsealed; a loopback address (default: off)")}
}

// check refuses an address that is not loopback: the metrics are served
// in plain HTTP to whoever reaches the address, as the gateway's are.
func (m metricsFlag) check() error { return httpapi.CheckPlain(*m.addr, false) }

// serve serves set's metrics (the API's latency, the store's counts) until
// the returned function is called; nothing if --metrics was not given.
func (m metricsFlag) serve(e *env, name string, set *metrics.Set, lim netguard.Limits, fail context.CancelCauseFunc) (func(), error) {
	if *m.addr == "" {
		return func() {}, nil
	}
	_, stop, err := serveMetrics(name, set.Handler(), *m.addr, slog.New(slog.NewJSONHandler(e.stderr, nil)), lim, fail)
	return stop, err
}
