package sts6_test

import (
	"bufio"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sm/api/sts6"
)

func TestCRC16ARC(t *testing.T) {
	if got := sts6.CRC16ARC([]byte("123456789")); got != 0xBB3D {
		t.Fatalf("CRC-16/ARC check = %04X, want BB3D", got)
	}
	if got := sts6.CRC16ARC(nil); got != 0 {
		t.Fatalf("CRC of nothing = %04X", got)
	}
}

func TestRoundTrip(t *testing.T) {
	f := sts6.Frame{Cmd: "VC", Fields: []sts6.Field{sts6.Num(123456), sts6.Print("hello world"), sts6.Hex("0a1b"),
		sts6.Date(time.Date(2026, 3, 1, 12, 30, 5, 0, time.UTC))}}
	b, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	body := "SM?VCN123456~Phello world~H0A1B~D20260301123005~"
	if !strings.HasPrefix(string(b), body) || len(b) != len(body)+5 || b[len(b)-1] != '\r' {
		t.Fatalf("Encode = %q", b)
	}
	g, err := sts6.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	f.Prefix = "SM"
	if !reflect.DeepEqual(g, f) {
		t.Fatalf("Parse = %+v, want %+v", g, f)
	}
	r := sts6.Frame{Reply: true, Cmd: "DI", Status: "00", Fields: []sts6.Field{}}
	b, err = r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if g, err := sts6.Parse(b); err != nil || !g.Reply || g.Status != "00" || g.Cmd != "DI" {
		t.Fatalf("Parse(%q) = %+v, %v", b, g, err)
	}
}

func frame(body string) []byte {
	var b strings.Builder
	b.WriteString(body)
	b.WriteString(strings.ToUpper(hex4(sts6.CRC16ARC([]byte(body)))))
	b.WriteByte('\r')
	return []byte(b.String())
}

func hex4(v uint16) string {
	const d = "0123456789ABCDEF"
	return string([]byte{d[v>>12], d[v>>8&15], d[v>>4&15], d[v&15]})
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		code sm.Code
	}{
		{[]byte("SM?DI0000"), sm.CodeFormat},           // no CR
		{[]byte("SM?DI0000\r"), sm.CodeFormat},         // bad CRC
		{frame("XX?DI"), sm.CodeFormat},                // header
		{frame("SM?di"), sm.CodeFormat},                // command
		{frame("SM!DI"), sm.CodeFormat},                // reply without status
		{frame("SM?DIN12"), sts6.CodeFieldCount},       // no ~
		{frame("SM?DIX12~"), sts6.CodeFieldType},       // type
		{frame("SM?DIN1a~"), sts6.CodeFieldEncoding},   // not decimal
		{frame("SM?DIHABC~"), sts6.CodeFieldEncoding},  // odd hex
		{frame("SM?DIP\x01~"), sts6.CodeFieldEncoding}, // not printable
		{frame("SM?DID20261301000000~"), sts6.CodeFieldRange},
	} {
		_, err := sts6.Parse(c.in)
		var fe *sts6.Error
		if !errors.As(err, &fe) || fe.Code != c.code {
			t.Errorf("Parse(%q) = %v, want status %s", c.in, err, c.code)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(frame("SM?DI"))
	f.Add(frame("SM!DI00PSMID~Pvending~PSSMAPI01~"))
	f.Add(frame("SM?VCN123~H0A~D20260301120000~Px~"))
	f.Add([]byte("GL!ER49\r"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := sts6.Parse(b)
		if err != nil {
			var fe *sts6.Error
			if !errors.As(err, &fe) {
				t.Fatalf("error not *Error: %v", err)
			}
			return
		}
		enc, err := g.Encode()
		if err != nil {
			t.Fatalf("a parsed frame does not encode: %v", err)
		}
		h, err := sts6.Parse(enc)
		if err != nil || !reflect.DeepEqual(g, h) {
			t.Fatalf("round trip: %+v -> %q -> %+v, %v", g, enc, h, err)
		}
	})
}

// TestIdentifyTCP asks SM?DI over TCP on loopback.
func TestIdentifyTCP(t *testing.T) {
	m := testModule(t, apitest.New)
	addr := serve(t, sts6.NewServer(m, sts6.Config{}), nil)[0]

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	ask := func(q []byte) sts6.Frame {
		t.Helper()
		if _, err := c.Write(q); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadBytes('\r')
		if err != nil {
			t.Fatal(err)
		}
		f, err := sts6.Parse(line)
		if err != nil {
			t.Fatalf("reply %q: %v", line, err)
		}
		return f
	}
	q, _ := sts6.Frame{Cmd: "DI"}.Encode()
	f := ask(q)
	id := m.Identify()
	want := []sts6.Field{sts6.Print(id.SMID.String()), sts6.Print("vending"), sts6.Print(sm.FirmwareSTS6), sts6.Print(sm.Model), sts6.Num(1)}
	if !f.Reply || f.Cmd != "DI" || f.Status != sm.CodeOK || !reflect.DeepEqual(f.Fields, want) {
		t.Fatalf("SM!DI = %+v, want fields %+v", f, want)
	}
	if f := ask([]byte("SM?DI0000\r")); f.Prefix != "GL" || f.Cmd != "ER" || f.Status != sm.CodeFormat {
		t.Fatalf("bad CRC answered %+v", f)
	}
	q, _ = sts6.Frame{Cmd: "CQ"}.Encode()
	if f := ask(q); f.Cmd != "CQ" || f.Status != sm.CodeExtended {
		t.Fatalf("SM?CQ answered %+v", f)
	}
}
