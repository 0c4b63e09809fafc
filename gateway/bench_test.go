package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/mail"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/internal/smtpsink"
	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// BenchmarkGetKlfEndToEnd sends {KMS:GetKlfStsEd2} requests over SMTP on
// loopback (8 clients) to a running gateway and waits for every reply at
// the relay; it reports requests per second and the p50/p99 latency from
// the client's 250 to the reply handed to the relay. The KMC is the
// keyload-based fake (real ECDH, HKDF and AES-GCM per request).
func BenchmarkGetKlfEndToEnd(b *testing.B) { benchGetKlf(b, 0) }

// BenchmarkGetKlfPaced offers 100 requests a second (the target
// rate) instead of a burst: the latencies are then the gateway's, not a
// queue's.
func BenchmarkGetKlfPaced(b *testing.B) { benchGetKlf(b, 100) }

func benchGetKlf(b *testing.B, rate int) {
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		var mu sync.Mutex
		sent := map[string]time.Time{}
		var lat []time.Duration
		h := &harness{t: b, db: db, clock: testclock.New(time.Now().UTC().Truncate(time.Second))}
		h.sink = newSink(b, func(srv *smtp.Server, s *sink) {
			srv.Backend = smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
				return &benchSession{Session: s.Session(c), done: func(subject string) {
					mu.Lock()
					defer mu.Unlock()
					if t0, ok := sent[subject]; ok {
						lat = append(lat, time.Since(t0))
					}
				}}, nil
			})
		})
		h.kmc = newFakeKMC(b, time.Now)
		h.kmc.window = time.Hour
		h.cfg = Config{Address: gwAddr, Limits: &Limits{}, Workers: 8, Senders: 4, PollInterval: 100 * time.Millisecond}
		h.start()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go h.gw.Run(ctx)

		// Requests are made before the clock starts: the SM's work is not
		// the gateway's.
		reqs := make([]string, b.N)
		base := time.Now()
		for i := range reqs {
			cb := clientBodies(b, h.kmc.request(b, base.Add(time.Duration(i)*time.Second)))[1]
			reqs[i] = klfRequest(cb, fmt.Sprintf("Subject: {KMS:GetKlfStsEd2} %d", i), fmt.Sprintf("Message-ID: <b%d@example.com>", i))
		}
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan int)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if err := h.send(alice, []string{gwAddr}, reqs[i]); err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					sent[fmt.Sprintf("Auto: {KMS:GetKlfStsEd2} %d", i)] = time.Now()
					mu.Unlock()
				}
			}()
		}
		var tick *time.Ticker
		if rate > 0 {
			tick = time.NewTicker(time.Second / time.Duration(rate))
			defer tick.Stop()
		}
		for i := range reqs {
			if tick != nil {
				<-tick.C
			}
			next <- i
		}
		close(next)
		wg.Wait()
		deadline := time.After(5 * time.Minute)
		for msgs, kept := h.sink.Messages(); len(msgs) < b.N; msgs, kept = h.sink.Messages() {
			select {
			case <-kept:
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				b.Fatalf("%d of %d replies", len(h.sink.messages()), b.N)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		mu.Lock()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
		}
		mu.Unlock()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	})
}

// benchSession reports each reply's Subject as it arrives.
type benchSession struct {
	*smtpsink.Session
	done func(subject string)
}

func (s *benchSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if m, err := mail.ReadMessage(bytes.NewReader(b)); err == nil {
		s.done(m.Header.Get("Subject"))
	}
	return s.Session.Data(bytes.NewReader(b))
}
