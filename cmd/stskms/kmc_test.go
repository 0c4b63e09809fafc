package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/kmcgateway"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
)

// TestKMCHelp: every kmc command answers --help with its usage on standard
// output and nothing on standard error (in-process, so that it stays fast
// under -race; kmc_help.txtar checks the same through the binary for a few).
func TestKMCHelp(t *testing.T) {
	var walk func(name string, c *command)
	n := 0
	walk = func(name string, c *command) {
		if c.sub == nil {
			n++
			var out, errOut bytes.Buffer
			e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
			err := c.run(e, []string{"--help"})
			if !errors.Is(err, flag.ErrHelp) {
				t.Errorf("%s --help: %v", name, err)
			}
			if !strings.HasPrefix(out.String(), "Usage: stskms "+name+" ") || !strings.Contains(out.String(), "--dir") {
				t.Errorf("%s --help printed %q", name, out.String())
			}
			if errOut.Len() > 0 {
				t.Errorf("%s --help wrote to stderr: %q", name, errOut.String())
			}
			return
		}
		if c.summary == "" {
			t.Errorf("%s has no summary", name)
		}
		names := make([]string, 0, len(c.sub))
		for s := range c.sub {
			names = append(names, s)
		}
		sort.Strings(names)
		for _, s := range names {
			if c.sub[s].summary == "" {
				t.Errorf("%s %s has no summary", name, s)
			}
			walk(name+" "+s, c.sub[s])
		}
	}
	walk("kmc", kmcCommand())
	if n != 38 {
		t.Errorf("%d kmc commands, want 38", n)
	}
}

// TestKMCGatewayAdapter: the gateway's view of a test KMC — the public key,
// a Key Load File idempotent per request mail, refusals with the KMC's
// codes, only registered reply addresses, no registry updates yet.
func TestKMCGatewayAdapter(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "kmc")
	k, err := kmc.Init(ctx, dir, kmc.InitOptions{Mode: kmc.ModeTest})
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	var stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }}
	g, closeKMC, err := gatewayKMC(e, &kmcFlags{dirFlags: dirFlags{dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "TEST MODE") {
		t.Error("no TEST MODE warning")
	}
	if _, err := g.PublicKey(ctx); err != nil {
		t.Fatal(err)
	}
	closeKMC()
	// The rest drives the same adapter over a KMC this test keeps a handle on.
	if k, err = (&kmcFlags{dirFlags: dirFlags{dir: dir}}).open(e); err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	g = kmcgateway.New(k)
	info, err := g.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := records.ParsePKECDH(info.Record)
	if err != nil || records.Fingerprint(info.Record).String() != info.Fingerprint {
		t.Fatalf("public key %+v: %v", info, err)
	}

	// A module authorised for one key.
	s := &testSMFlags{label: "sts-test-sm", vendor: "TestVendor", id: "94000001", model: "Test-SSM-1", firmware: "SSM1V100"}
	mod, _ := s.module()
	now := time.Now()
	req, err := keyload.NewRequest(mod, pk, now, s.model, s.firmware)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := req.Format()
	if _, err := g.IssueKLF(ctx, gateway.KLFRequest{ID: "m0", Request: body}); serviceCode(err) != "EUnknownSm" {
		t.Fatalf("unregistered module: %v", err)
	}
	k.AddSupplyGroup(ctx, "test", 123456, "")
	k.GenerateVendingKey(ctx, "test", kmc.VKAttributes{SGC: 123456, Type: kmc.VUDK, BDT: 2014, DKGA: 4, EA: 11, KEN: 255,
		ACT: now, EXP: now.AddDate(1, 0, 0), IUT: now.AddDate(1, 0, 0), CLM: 0xFFFFFFFF})
	if _, err := k.RegisterSMFromRequest(ctx, "test", req, kmc.Registration{Variant: kmc.Vending, Virtual: true,
		Emails: []string{"ops@utility.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Grant(ctx, "test", "94000001", kmc.KUA{SGC: 123456, Types: kmc.TypesOf(kmc.VUDK), Until: now.AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.IssueKLF(ctx, gateway.KLFRequest{ID: "m1", Request: body, ReplyTo: []string{"eve@example.net"}}); serviceCode(err) != "ENotAuthorisedSender" {
		t.Fatalf("unregistered reply address: %v", err)
	}
	klf, err := g.IssueKLF(ctx, gateway.KLFRequest{ID: "m2", Request: body, ReplyTo: []string{"ops@utility.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if klf.SMID != mod.PKID.String() {
		t.Errorf("SMID %s", klf.SMID)
	}
	keys, err := keyload.Open(mod, keyload.Pending{KMC: pk, RequestTime: req.Time}, klf.Bodies)
	if err != nil || len(keys) != 1 {
		t.Fatalf("%d keys: %v", len(keys), err)
	}
	again, err := g.IssueKLF(ctx, gateway.KLFRequest{ID: "m2", Request: body, ReplyTo: []string{"ops@utility.example"}})
	if err != nil || !slices.Equal(again.Bodies, klf.Bodies) {
		t.Fatalf("the same mail again: %v", err)
	}
	_, err = g.IssueKLF(ctx, gateway.KLFRequest{ID: "m3", Request: body})
	var se *gateway.ServiceError
	if !errors.As(err, &se) || se.Code != "EVkloadReplayed" || se.Temporary || se.Description == "" {
		t.Fatalf("another mail with the same request: %v", err)
	}
	if _, err := g.IssueKLF(ctx, gateway.KLFRequest{ID: "m4", Request: "VKLOAD.REQ.1|garbage|0000"}); serviceCode(err) != "ERecordFormat" {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := g.ApplyRegistryUpdate(ctx, gateway.RegistryUpdate{ID: "u1"}); serviceCode(err) != gwresult.ENotAvailable {
		t.Fatalf("registry update: %v", err)
	}
}

func serviceCode(err error) string {
	var se *gateway.ServiceError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}
