package gateway

import (
	"math/bits"
	"strings"
	"time"
)

// Limit is a token bucket: Burst requests at once, then one more every
// Every. A zero Every disables the limit.
type Limit struct {
	Every time.Duration
	Burst int
}

// Limits is the flood protection. Every request that would get a reply
// (ignored mail costs nothing) takes one token from the bucket of each of
// its reply addresses, one from its domain's bucket for each reply address
// in that domain (so five recipients at one domain cost that domain five),
// one from the bucket of each requester address (the envelope sender and
// the first From, once each even when they are also reply addresses) and,
// for {KMS:GetKlfStsEd2}, one from its security module's. Two limits
// follow from each bucket:
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
// The buckets and the blocks are stored in the gateway's database
// (ratestore.go), so they hold across restarts, and every gateway process
// on one database draws from the same buckets: N processes admit what one
// would. There is no in-process limiter.
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

// limitKey is one bucket a request draws on, and how many tokens it takes.
type limitKey struct {
	key   string
	limit Limit
	n     int
}

// keys returns the buckets of a request: one token for each of its reply
// addresses (to) and requester addresses, one for each reply address's
// domain per reply address, and one for its module ("vendor:id"), if
// known.
func (l *Limits) keys(requesters, to []string, module string) []limitKey {
	var out []limitKey
	idx := map[string]int{}
	add := func(k string, lim Limit, each bool) {
		if i, ok := idx[k]; ok {
			if each {
				out[i].n++
			}
			return
		}
		idx[k] = len(out)
		out = append(out, limitKey{k, lim, 1})
	}
	for _, a := range to {
		add("addr:"+strings.ToLower(a), l.Address, false)
	}
	for _, a := range requesters {
		if a != "" {
			add("addr:"+strings.ToLower(a), l.Address, false)
		}
	}
	for _, a := range to {
		if _, d := splitAddress(a); d != "" {
			add("domain:"+d, l.Domain, true)
		}
	}
	if module != "" {
		add("module:"+module, l.Module, false)
	}
	return out
}

// requesters returns the addresses a request comes from: its envelope
// sender (BATV and SRS tags undone, so that a tag per mail does not make
// a new address) and its first From.
func requesters(in *Inbound) []string {
	var out []string
	if a := in.Envelope.From; a != "" {
		local, domain := splitAddress(a)
		out = append(out, unrewrite(local)+"@"+domain)
	}
	if len(in.From) > 0 && !containsAddress(out, in.From[0]) {
		out = append(out, in.From[0])
	}
	return out
}

// tokenUnit is the fixed-point unit of a bucket's token count: a bucket
// holds tokens/tokenUnit tokens, so that refilling by the elapsed time is
// exact integer arithmetic in both databases.
const tokenUnit = 1_000_000_000

// bucket is the state of one token bucket: its tokens (in tokenUnit, below
// zero when requests were deferred against it) as of Unix time at (ns).
type bucket struct {
	tokens, at int64
}

// fullBucket is the bucket of a key never seen, or idle long enough.
func fullBucket(now int64, lim Limit) bucket {
	return bucket{tokens: int64(lim.Burst) * tokenUnit, at: now}
}

// fill returns b refilled at now: one token per lim.Every since b.at, at
// most lim.Burst. A clock behind b.at adds nothing.
func (b bucket) fill(now int64, lim Limit) bucket {
	if now <= b.at {
		return b
	}
	full := fullBucket(now, lim)
	gain, ok := mulDiv(now-b.at, tokenUnit, lim.Every.Nanoseconds(), false)
	if !ok || gain >= full.tokens-b.tokens {
		return full
	}
	return bucket{tokens: b.tokens + gain, at: now}
}

// take takes n tokens from b (filled to now). It returns the bucket after
// and how long until its count is back at zero, which is how long the
// request must wait; ok is false if the bucket can never hold n tokens
// (Burst < n).
func (b bucket) take(lim Limit, n int) (after bucket, wait time.Duration, ok bool) {
	if lim.Burst < max(n, 1) {
		return b, 0, false
	}
	b.tokens -= int64(max(n, 1)) * tokenUnit
	if b.tokens >= 0 {
		return b, 0, true
	}
	d, ok := mulDiv(-b.tokens, lim.Every.Nanoseconds(), tokenUnit, true)
	return b, time.Duration(d), ok
}

// mulDiv returns a·b/c for a, b ≥ 0 and c > 0, rounded down or (ceil) up,
// and false if the result does not fit an int64.
func mulDiv(a, b, c int64, ceil bool) (int64, bool) {
	if a < 0 || b < 0 || c <= 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	if ceil && r > 0 {
		q++
	}
	if q > 1<<63-1 {
		return 0, false
	}
	return int64(q), true
}

// limiter applies Limits to the buckets stored in the gateway's database
// (ratestore.go).
type limiter struct {
	limits Limits
	// idle is how long after its last use any bucket is full again, so
	// that its row can be dropped.
	idle time.Duration

	// sweep paces the deletion of idle buckets (ratestore.go).
	sweep sweepClock
}

func newLimiter(l Limits) *limiter {
	idle := l.MaxDefer
	var longest time.Duration
	for _, lim := range []Limit{l.Address, l.Domain, l.Module, l.Notices, l.NoticesTotal} {
		if lim.Every > 0 {
			longest = max(longest, time.Duration(lim.Burst+1)*lim.Every)
		}
	}
	return &limiter{limits: l, idle: idle + longest}
}
