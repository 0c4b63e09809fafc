package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
)

// TestKMCServe starts "stskms kmc serve" in-process on a test-mode KMC,
// which makes its TEST-ONLY token file, and calls the API with it.
func TestKMCServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kmc")
	addrFile := filepath.Join(t.TempDir(), "addr")
	var out bytes.Buffer
	if rc := run([]string{"kmc", "init", "--dir", dir, "--mode", "test"}, strings.NewReader(""), &out, &out); rc != 0 {
		t.Fatalf("kmc init: %d\n%s", rc, out.String())
	}
	done := make(chan int, 1)
	var sout, serr bytes.Buffer
	go func() {
		done <- run([]string{"kmc", "serve", "--dir", dir, "--http", "127.0.0.1:0", "--addr-file", addrFile, "--exit-after", "5s"},
			strings.NewReader(""), &sout, &serr)
	}()
	var addr string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(addrFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			addr = strings.TrimSpace(string(b))
			break
		}
	}
	if addr == "" {
		t.Fatal("kmc serve wrote no address")
	}
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
	if rc := <-done; rc != 0 {
		t.Fatalf("kmc serve: %d\n%s", rc, serr.String())
	}
	if !strings.Contains(serr.String(), api.TestTokensWarning) || !strings.Contains(sout.String(), "admin API on http://") {
		t.Errorf("kmc serve said %q / %q", sout.String(), serr.String())
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
