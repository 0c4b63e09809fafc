// Package testclock is the settable clock the tests of stskms give the
// components that take a Now function (sm, kmc, kmc/api, gateway), so that
// expiry, freshness windows and back-off are tested without waiting.
package testclock

import (
	"sync/atomic"
	"time"
)

// Clock is a settable clock, safe for concurrent use. Its zero value reads
// the Unix epoch; Now is always in UTC.
type Clock struct{ ns atomic.Int64 }

// New returns a clock set to t.
func New(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time, in UTC.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
