package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/kmc"
)

// TestKMCServePrunes: "kmc serve" prunes the seen requests at start and
// then every --prune-every, each run audited (kmc.prune by "kmc serve");
// a --retain that replay protection still needs (under twice the
// freshness window), a negative one and a non-positive interval are
// refused before anything serves.
func TestKMCServePrunes(t *testing.T) {
	dir := initTestKMC(t)
	for _, c := range []struct{ flags, want string }{
		{"--retain 30m", "replay protection"},
		{"--retain -1h", "positive age"},
		{"--prune-every 0s", "positive interval"},
	} {
		var sout, serr bytes.Buffer
		args := append([]string{"kmc", "serve", "--dir", dir, "--http", "127.0.0.1:0", "--exit-after", "1s"}, strings.Fields(c.flags)...)
		if rc := run(args, strings.NewReader(""), &sout, &serr); rc == 0 || !strings.Contains(serr.String(), c.want) {
			t.Errorf("%s: %d %q, want %q", c.flags, rc, serr.String(), c.want)
		}
	}

	var sout, serr bytes.Buffer
	rc := run([]string{"kmc", "serve", "--dir", dir, "--http", "127.0.0.1:0", "--exit-after", "1500ms",
		"--retain", "2h", "--prune-every", "300ms"}, strings.NewReader(""), &sout, &serr)
	if rc != 0 {
		t.Fatalf("kmc serve: %d\n%s", rc, serr.String())
	}
	if n := strings.Count(serr.String(), "retention: pruned before"); n < 2 {
		t.Errorf("%d prunes logged, want 2 or more:\n%s", n, serr.String())
	}
	k, err := kmc.OpenDir(context.Background(), dir, kmc.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	audited := 0
	if err := k.AuditLog().Records(context.Background(), 1, func(r audit.Record) error {
		if r.Action == "kmc.prune" && r.Actor == "kmc serve" {
			audited++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if audited < 2 {
		t.Errorf("%d kmc.prune audit records, want 2 or more", audited)
	}
}

// TestGatewayServeRetainFlags: "gateway serve" refuses a negative
// --retain and a non-positive --prune-every before it opens anything.
func TestGatewayServeRetainFlags(t *testing.T) {
	for _, c := range []struct{ flags, want string }{
		{"--retain -1h", "positive age"},
		{"--prune-every 0s", "positive interval"},
	} {
		var sout, serr bytes.Buffer
		args := append([]string{"gateway", "serve", "--dir", t.TempDir(), "--address", "kmc@kms.test"}, strings.Fields(c.flags)...)
		if rc := run(args, strings.NewReader(""), &sout, &serr); rc == 0 || !strings.Contains(serr.String(), c.want) {
			t.Errorf("%s: %d %q, want %q", c.flags, rc, serr.String(), c.want)
		}
	}
}
