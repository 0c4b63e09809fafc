package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
)

// TestKMCServe starts "stskms kmc serve" in-process on a test-mode KMC,
// which makes its TEST-ONLY token file, and calls the API with it.
func TestKMCServe(t *testing.T) {
	s := startServing(t, "kmc", initTestKMC(t), 1)
	dir, addr := s.dir, s.http
	tokens, err := api.LoadTokens(dir)
	if err != nil || !tokens.TestOnly {
		t.Fatalf("token file: %+v, %v", tokens, err)
	}
	ctx := context.Background()
	var id api.IdentityAnswer
	if err := (&api.Client{URL: "http://" + addr, Token: tokens.Token(kmc.Auditor)}).Do(ctx, "GET", "/v1/identity", nil, &id); err != nil {
		t.Fatal(err)
	}
	if id.Mode != kmc.ModeTest || id.Vendor != "TestKMC" {
		t.Fatalf("identity = %+v", id)
	}
	var sg api.SupplyGroup
	op := &api.Client{URL: "http://" + addr, Token: tokens.Token(kmc.Operator)}
	if err := op.Do(ctx, "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 123456, Name: "g"}, &sg); err != nil {
		t.Fatal(err)
	}
	if sg.CreatedBy != "operator:test-operator" {
		t.Fatalf("supply group = %+v", sg)
	}
	s.wait(t)
	if !strings.Contains(s.err.String(), api.TestTokensWarning) || !strings.Contains(s.out.String(), "admin API on http://") {
		t.Errorf("kmc serve said %q / %q", s.out.String(), s.err.String())
	}
}

// TestKMCServeRefusals: plain HTTP off loopback is refused before the KMC
// is opened, and a live KMC refuses a TEST-ONLY token file.
func TestKMCServeRefusals(t *testing.T) {
	var out, errOut bytes.Buffer
	rc := run([]string{"kmc", "serve", "--dir", t.TempDir(), "--http", "0.0.0.0:0"}, strings.NewReader(""), &out, &errOut)
	if rc == 0 || !strings.Contains(errOut.String(), "loopback") {
		t.Fatalf("serve on 0.0.0.0 without TLS: %d %q", rc, errOut.String())
	}
	dir := t.TempDir()
	if _, err := api.InitTestTokens(dir); err != nil {
		t.Fatal(err)
	}
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	if _, err := kmcAPITokens(e, dir, "", kmc.ModeLive); err == nil {
		t.Fatal("a live KMC accepted a TEST-ONLY token file")
	}
	if _, err := kmcAPITokens(e, t.TempDir(), "", kmc.ModeLive); err == nil || !strings.Contains(err.Error(), httpapi.ErrNoTokens.Error()) {
		t.Fatalf("a live KMC without a token file: %v", err)
	}
	if tokens, err := kmcAPITokens(e, t.TempDir(), filepath.Join(dir, api.TokenFile), kmc.ModeTest); err != nil || len(tokens.Entries) != 4 {
		t.Fatalf("--tokens FILE: %v", err)
	}
}
