package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/sts6"
)

// TestSMServe starts "stskms sm serve" in-process on a test module and
// calls it with the Go client.
func TestSMServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mod")
	addrFile := filepath.Join(t.TempDir(), "addr")
	var out bytes.Buffer
	if rc := run([]string{"sm", "init", "--dir", dir, "--variant", "vending", "--test"}, strings.NewReader(""), &out, &out); rc != 0 {
		t.Fatalf("sm init: %d\n%s", rc, out.String())
	}
	done := make(chan int, 1)
	var sout, serr bytes.Buffer
	go func() {
		done <- run([]string{"sm", "serve", "--dir", dir, "--http", "127.0.0.1:0", "--addr-file", addrFile, "--exit-after", "5s",
			"--listen", "127.0.0.1:0"},
			strings.NewReader(""), &sout, &serr)
	}()
	var addr, addr6 string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(addrFile); err == nil && bytes.Count(b, []byte("\n")) == 2 {
			addr, addr6, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
			break
		}
	}
	if addr == "" || addr6 == "" {
		t.Fatal("sm serve wrote no addresses")
	}
	// SM?DI on the STS6 port.
	c, err := net.Dial("tcp", addr6)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := sts6.Frame{Cmd: "DI"}.Encode()
	c.Write(q)
	line, err := bufio.NewReader(c).ReadBytes('\r')
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	di, err := sts6.Parse(line)
	if err != nil || di.Cmd != "DI" || di.Status != sm.CodeOK || len(di.Fields) < 3 || di.Fields[2].Value != sm.FirmwareSTS6 {
		t.Fatalf("SM!DI = %q: %+v, %v", line, di, err)
	}
	tokens, err := api.LoadTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var id json.RawMessage
	if err := (&api.Client{URL: "http://" + addr}).Do(ctx, "GET", "/v1/identify", nil, &id); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(id), `"test":true`) {
		t.Fatalf("identify = %s", id)
	}
	var regs api.RegistersAnswer
	if err := (&api.Client{URL: "http://" + addr, Token: tokens.Token(sm.Auditor)}).Do(ctx, "GET", "/v1/registers", nil, &regs); err != nil {
		t.Fatal(err)
	}
	if len(regs.Registers) != 0 {
		t.Fatalf("registers of a new module = %+v", regs)
	}
	if rc := <-done; rc != 0 {
		t.Fatalf("sm serve: exit %d\n%s\n%s", rc, sout.String(), serr.String())
	}
}
