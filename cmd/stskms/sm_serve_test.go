package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/sts6"
)

// TestSMServe starts "stskms sm serve" in-process on a test module and
// calls it with the Go client.
func TestSMServe(t *testing.T) {
	s := startServe(t, func(string) {})
	dir, addr, addr6 := s.dir, s.http, s.sts6
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
	s.wait(t)
}
