// Package metrics exports the figures of a KMC and of a security module
// for Prometheus, as the e-mail gateway exports its own: what `kmc serve
// --metrics` and `sm serve --metrics` serve at /metrics (docs/operations.md).
// The counts are read from the component's store at each scrape, so they
// hold for every process on it and survive restarts; the API latency
// histograms are this process's. Nothing here is secret: counts, classes,
// codes and durations.
package metrics

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
)

// Set is one component's metrics: a registry of its own (never the global
// one) with the store's counts, the API's latency and the Go runtime's and
// process's collectors.
type Set struct {
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
}

// reader is the role the collectors read the store with: the counts an
// auditor may read, never more.
var reader = role.Auditor.As("metrics")

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 10 * time.Second

// newSet returns a Set of namespace ("stskms_kmc") with c.
func newSet(namespace string, c prometheus.Collector) *Set {
	s := &Set{reg: prometheus.NewRegistry()}
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "api_request_duration_seconds",
		Help:    "Time to answer an HTTP API request (the console's pages included), by method and status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "code"})
	s.reg.MustRegister(s.latency, c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s
}

// Handler serves the metrics in the Prometheus text format (for /metrics).
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Instrument returns h, timing each request into the latency histogram.
func (s *Set) Instrument(h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(s.latency, h)
}

// KMC returns the metrics of k: Key Load Files issued and requests refused
// by code, from its audit log.
func KMC(k *kmc.KMC) *Set { return newSet("stskms_kmc", kmcCollector{k}) }

var (
	klfsDesc = prometheus.NewDesc("stskms_kmc_klfs_issued_total", "Key Load Files issued, as the audit log records them.",
		nil, nil)
	refusalsDesc = prometheus.NewDesc("stskms_kmc_klf_refusals_total",
		"Key Load File requests of registered modules refused, by code, as the audit log records them.", []string{"code"}, nil)
)

// kmcCollector reads a KMC's counts at scrape time.
type kmcCollector struct{ k *kmc.KMC }

// Describe implements prometheus.Collector.
func (c kmcCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- klfsDesc
	ch <- refusalsDesc
}

// Collect implements prometheus.Collector.
func (c kmcCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	issued, refused := 0, map[kmc.Code]int{}
	err := c.k.KLFActivity(ctx, reader, time.Time{}, func(e kmc.KLFEvent) error {
		if e.Code == "" {
			issued++
		} else {
			refused[e.Code]++
		}
		return nil
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(klfsDesc, err)
		ch <- prometheus.NewInvalidMetric(refusalsDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(klfsDesc, prometheus.CounterValue, float64(issued))
	for code, n := range refused {
		ch <- prometheus.MustNewConstMetric(refusalsDesc, prometheus.CounterValue, float64(n), string(code))
	}
}

// SM returns the metrics of m: token requests answered with tokens, by
// class, from its audit log.
func SM(m *sm.Module) *Set { return newSet("stskms_sm", smCollector{m}) }

var tokensDesc = prometheus.NewDesc("stskms_sm_token_requests_total",
	"Token requests answered with tokens, by class (credit, test, management), as the audit log records them.",
	[]string{"class"}, nil)

// smCollector reads a module's counts at scrape time.
type smCollector struct{ m *sm.Module }

// Describe implements prometheus.Collector.
func (c smCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tokensDesc }

// Collect implements prometheus.Collector.
func (c smCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	// One period as long as time: a count per class of all the log.
	counts, err := c.m.IssueCounts(ctx, reader, sm.IssueFilter{}, math.MaxInt64)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(tokensDesc, err)
		return
	}
	byClass := map[string]int{}
	for _, n := range counts {
		byClass[n.Class.String()] += n.Requests
	}
	for class, n := range byClass {
		ch <- prometheus.MustNewConstMetric(tokensDesc, prometheus.CounterValue, float64(n), class)
	}
}
