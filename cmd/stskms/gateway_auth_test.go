package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/gateway"
)

// TestGatewayAuthFlags: --auth, --dns and --auth-timeout make the sender
// checks; bad values are refused naming the flag.
func TestGatewayAuthFlags(t *testing.T) {
	c, err := authChecker("require", "127.0.0.1:5353", time.Second)
	if err != nil || c.Policy != gateway.RequirePass || c.Timeout != time.Second || c.Resolver == nil {
		t.Errorf("require with --dns: %+v, %v", c, err)
	}
	if c, err := authChecker("record", "", gateway.DefaultAuthTimeout); err != nil || c.Resolver != nil || c.Policy != gateway.RecordOnly {
		t.Errorf("record: %+v, %v", c, err)
	}
	if c, err := authChecker("off", "", time.Second); c != nil || err != nil {
		t.Errorf("off: %+v, %v", c, err)
	}
	for _, bad := range []struct{ mode, dns, flag string }{
		{"maybe", "", "--auth"}, {"record", ":53", "--dns"}, {"record", "127.0.0.1:", "--dns"},
	} {
		if _, err := authChecker(bad.mode, bad.dns, time.Second); err == nil || !strings.Contains(err.Error(), bad.flag) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if _, err := authChecker("record", "", 0); err == nil || !strings.Contains(err.Error(), "--auth-timeout") {
		t.Errorf("zero timeout: %v", err)
	}
}

// TestGatewayAuthSettings: --dns, --auth-timeout and --dedupe-window are
// settings of [gateway.serve] like every flag.
func TestGatewayAuthSettings(t *testing.T) {
	file := writeConfig(t, `
[gateway.serve]
dns = "127.0.0.1:5353"
auth-timeout = "500ms"
dedupe-window = "24h"
`)
	e := &env{getenv: func(string) string { return "" }}
	got := configuredSettings(t, e, "gateway serve", file)
	want := map[string]string{"dns": "127.0.0.1:5353", "auth-timeout": "500ms", "dedupe-window": "24h0m0s"}
	for _, s := range got {
		if w, ok := want[s.Name]; ok {
			if s.Value != w || s.Source != fromFile {
				t.Errorf("%s: %+v, want %q from the file", s.Name, s, w)
			}
			delete(want, s.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("not settings: %v", want)
	}
}
