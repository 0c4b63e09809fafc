package gateway

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst requests at once, then one more every
// Every. A zero Every disables the limit.
type Limit struct {
	Every time.Duration
	Burst int
}

// Limits is the flood protection. Every request that would get a reply
// (ignored mail costs nothing) takes one token from the bucket of each of
// its reply addresses, of their domains and, for {KMS:GetKlfStsEd2}, of its
// security module. Two limits follow from each bucket:
//
//   - the first: a bucket is empty. The request is deferred until all its
//     buckets have a token again; the requester gets one
//     Notice<TAB>Deferred, and the reply later.
//   - the second: the request would be deferred by more than MaxDefer. The
//     key whose bucket overflowed is blocked for BlockFor; the request is
//     dropped, the requester gets one Notice<TAB>Blocked with the end
//     time, and further requests on the key are ignored without reply
//     until then.
//
// Notices take a token of their own per reply address (Notices) and in all
// (NoticesTotal); without one, no notice is sent (the request is still
// deferred or dropped), so the gateway cannot feed a loop or a flood.
//
// The buckets live in the process (golang.org/x/time/rate); blocks are
// stored, so they hold across restarts and processes. See docs/gateway.md
// for the plan for several processes.
type Limits struct {
	Address, Domain, Module Limit
	MaxDefer                time.Duration
	BlockFor                time.Duration
	Notices, NoticesTotal   Limit
}

// DefaultLimits is a small utility's setting: a person or a script may
// send a dozen requests at once, then one a minute.
var DefaultLimits = Limits{
	Address:      Limit{Every: time.Minute, Burst: 12},
	Domain:       Limit{Every: 10 * time.Second, Burst: 60},
	Module:       Limit{Every: 2 * time.Minute, Burst: 6},
	MaxDefer:     time.Hour,
	BlockFor:     24 * time.Hour,
	Notices:      Limit{Every: 10 * time.Minute, Burst: 3},
	NoticesTotal: Limit{Every: time.Second, Burst: 60},
}

// limitKey is one bucket a request draws on.
type limitKey struct {
	key   string
	limit Limit
}

// limitKeys returns the buckets of a request: its reply addresses, their
// domains, and its module ("vendor:id"), if known.
func (l *Limits) keys(to []string, module string) []limitKey {
	var out []limitKey
	seen := map[string]bool{}
	add := func(k string, lim Limit) {
		if !seen[k] {
			seen[k] = true
			out = append(out, limitKey{k, lim})
		}
	}
	for _, a := range to {
		add("addr:"+strings.ToLower(a), l.Address)
	}
	for _, a := range to {
		if _, d := splitAddress(a); d != "" {
			add("domain:"+d, l.Domain)
		}
	}
	if module != "" {
		add("module:"+module, l.Module)
	}
	return out
}

// limiter holds the buckets.
type limiter struct {
	limits Limits

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	sweepAt time.Time
}

func newLimiter(l Limits) *limiter {
	return &limiter{limits: l, buckets: map[string]*rate.Limiter{}}
}

// sweepEvery is how often full (idle) buckets are dropped.
const sweepEvery = time.Minute

// bucket returns the bucket of key, making it full if new. l.mu is held.
func (l *limiter) bucket(now time.Time, key string, lim Limit) *rate.Limiter {
	if now.After(l.sweepAt) {
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(b.Burst()) {
				delete(l.buckets, k)
			}
		}
		l.sweepAt = now.Add(sweepEvery)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Every(lim.Every), lim.Burst)
		l.buckets[key] = b
	}
	return b
}

// admit takes one token from each key's bucket at now. It returns how long
// the request must wait for all of them (0: go ahead), or, if that is over
// MaxDefer, the key that overflowed, having taken nothing.
func (l *limiter) admit(now time.Time, keys []limitKey) (delay time.Duration, over string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var taken []*rate.Reservation
	for _, k := range keys {
		if k.limit.Every <= 0 {
			continue
		}
		r := l.bucket(now, k.key, k.limit).ReserveN(now, 1)
		d := r.DelayFrom(now)
		if !r.OK() || d > l.limits.MaxDefer {
			if r.OK() {
				r.CancelAt(now)
			}
			for _, t := range taken {
				t.CancelAt(now)
			}
			return 0, k.key
		}
		taken = append(taken, r)
		delay = max(delay, d)
	}
	return delay, ""
}

// notice reports whether a notice to addr may go out at now, and takes
// its tokens if so.
func (l *limiter) notice(now time.Time, addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	var per, total *rate.Limiter
	if l.limits.Notices.Every > 0 {
		per = l.bucket(now, "notice:"+strings.ToLower(addr), l.limits.Notices)
		if per.TokensAt(now) < 1 {
			return false
		}
	}
	if l.limits.NoticesTotal.Every > 0 {
		total = l.bucket(now, "notices", l.limits.NoticesTotal)
		if !total.AllowN(now, 1) {
			return false
		}
	}
	if per != nil {
		per.AllowN(now, 1)
	}
	return true
}

// reset forgets the bucket of key (an operator lifted its block).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}
