package gateway

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stskms/stskms/gwresult"
)

// metrics are the gateway's Prometheus metrics, in a registry of its own
// (never the global one). Counters count what this process did, after
// the transaction that did it committed; the gauges of queueCollector are
// read from the store at each scrape, so they hold for all processes on it.
type metrics struct {
	reg      *prometheus.Registry
	sessions prometheus.Counter
	accepted prometheus.Counter
	rejected *prometheus.CounterVec // reason
	requests *prometheus.CounterVec // service, result
	ignored  *prometheus.CounterVec // reason
	givenUp  prometheus.Counter
	replies  *prometheus.CounterVec // outcome
	bounces  *prometheus.CounterVec // match
	limited  *prometheus.CounterVec // action
	latency  prometheus.Histogram
}

const metricsNamespace = "stskms_gateway"

func newMetrics(q *Queue) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.sessions = counter("smtp_sessions_total", "SMTP or LMTP connections accepted.")
	m.accepted = counter("smtp_messages_accepted_total", "Messages stored and answered 250.")
	m.rejected = vec("smtp_rejected_total", "SMTP commands refused, by reason.", "reason")
	m.requests = vec("requests_total", "Replies queued, by service and result code (Success, an E… error code, or a notice code).",
		"service", "result")
	m.ignored = vec("ignored_total", "Mails finished without a reply, by reason.", "reason")
	m.givenUp = counter("requests_given_up_total", "Requests given up after MaxAttempts failed processing attempts.")
	m.replies = vec("replies_total", "Outcomes of sending replies: sent, retried (temporary failure), failed (for good), bounced.",
		"outcome")
	m.bounces = vec("bounces_total", "Mails to the bounce address, by whether they matched a reply.", "match")
	m.limited = vec("ratelimit_total", "Flood protection decisions: deferred or blocked requests.", "action")
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "reply_latency_seconds",
		Help:    "Time from a request's acceptance to its final reply handed to the relay.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400},
	})
	m.reg.MustRegister(m.latency, queueCollector{q},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// reject counts an SMTP refusal and returns it.
func (m *metrics) reject(reason string, err error) error {
	m.rejected.WithLabelValues(reason).Inc()
	return err
}

// finished counts a committed mail update.
func (m *metrics) finished(u *mailUpdate) {
	switch u.state {
	case StateIgnored:
		m.ignored.WithLabelValues(string(u.reason)).Inc()
	case StateFailed:
		m.givenUp.Inc()
	}
	service := u.service
	if service == "" {
		service = "none"
	}
	for _, o := range u.out {
		m.requests.WithLabelValues(service, resultCode(o.result)).Inc()
	}
	if u.block != nil {
		m.limited.WithLabelValues("blocked").Inc()
	}
	if u.limited == "deferred" {
		m.limited.WithLabelValues("deferred").Inc()
	}
	if b := u.bounce; b != nil {
		match := "unmatched"
		if b.matched {
			match = "matched"
		}
		m.bounces.WithLabelValues(match).Inc()
		if b.bounced {
			m.replies.WithLabelValues(OutBounced).Inc()
		}
	}
}

// sent counts a committed send outcome; a final reply handed to the relay
// adds its latency.
func (m *metrics) sent(o *outbound, state string, now time.Time) {
	switch state {
	case OutSent:
		m.replies.WithLabelValues(OutSent).Inc()
		if o.kind == kindFinal {
			m.latency.Observe(now.Sub(o.received).Seconds())
		}
	case OutFailed:
		m.replies.WithLabelValues(OutFailed).Inc()
	default:
		m.replies.WithLabelValues("retried").Inc()
	}
}

// resultCode is the code of a result: "Success", or the error or notice
// code.
func resultCode(r gwresult.Result) string {
	if r.Kind == gwresult.Success {
		return string(gwresult.Success)
	}
	return r.Code
}

// queueCollector reads the gauges from the store at scrape time.
type queueCollector struct{ q *Queue }

var (
	queueDesc = prometheus.NewDesc(metricsNamespace+"_queue_mails", "Mails in the queue, by state.",
		[]string{"state"}, nil)
	outboxDesc = prometheus.NewDesc(metricsNamespace+"_outbox_replies", "Replies in the outbox, by state.",
		[]string{"state"}, nil)
	blocksDesc = prometheus.NewDesc(metricsNamespace+"_blocks_active", "Blocks of the flood protection in force.",
		nil, nil)
)

// Describe implements prometheus.Collector.
func (q queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- outboxDesc
	ch <- blocksDesc
}

// Collect implements prometheus.Collector.
func (q queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, t := range []struct {
		desc   *prometheus.Desc
		table  string
		states []string
	}{
		{queueDesc, "gateway_mail", mailStates},
		{outboxDesc, "gateway_outbox", outStates},
	} {
		counts, err := q.q.countStates(ctx, t.table)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(t.desc, err)
			continue
		}
		for _, s := range t.states {
			ch <- prometheus.MustNewConstMetric(t.desc, prometheus.GaugeValue, float64(counts[s]), s)
		}
	}
	n, err := q.q.countBlocks(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(blocksDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(blocksDesc, prometheus.GaugeValue, float64(n))
}
