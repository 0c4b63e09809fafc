package main

import (
	"fmt"
	"time"

	"github.com/stskms/stskms/gateway"
)

// authChecker is the sender checks of "gateway serve": mode is --auth
// (record, require or off: nil), dns --dns ("" for the system's
// resolver), timeout --auth-timeout.
func authChecker(mode, dns string, timeout time.Duration) (*gateway.AuthChecker, error) {
	var c gateway.AuthChecker
	switch mode {
	case "record":
		c.Policy = gateway.RecordOnly
	case "require":
		c.Policy = gateway.RequirePass
	case "off":
		return nil, nil
	default:
		return nil, fmt.Errorf("--auth %q: want record, require or off", mode)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("--auth-timeout %v: want a positive duration", timeout)
	}
	c.Timeout = timeout
	if dns != "" {
		r, err := gateway.NewDNSResolver(dns)
		if err != nil {
			return nil, fmt.Errorf("--dns: %w", err)
		}
		c.Resolver = r
	}
	return &c, nil
}
