package httpapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/httpapi/httpapitest"
)

type role string

func (r role) String() string { return string(r) }

type actor struct{ role, name string }

func parseActor(r, name string) (actor, error) {
	if r != "reader" && r != "writer" {
		return actor{}, fmt.Errorf("unknown role %q", r)
	}
	return actor{r, name}, nil
}

const format = "test-tokens/1"

func TestTokens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	if _, err := httpapi.LoadTokenFile(path, format); !errors.Is(err, httpapi.ErrNoTokens) {
		t.Fatalf("no file: %v", err)
	}
	f, err := httpapi.WriteTestTokenFile(path, format, "TEST ONLY", []string{"reader", "writer", "writer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := httpapi.WriteTestTokenFile(path, format, "TEST ONLY", []string{"reader"}); err == nil {
		t.Fatal("WriteTestTokenFile overwrote a file")
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, %v", st.Mode(), err)
	}
	g, err := httpapi.LoadTokenFile(path, format)
	if err != nil || !g.TestOnly || len(g.Tokens) != 3 {
		t.Fatalf("LoadTokenFile = %+v, %v", g, err)
	}
	if names := []string{g.Tokens[0].Name, g.Tokens[1].Name, g.Tokens[2].Name}; strings.Join(names, ",") != "test-reader,test-writer,test-writer-2" {
		t.Fatalf("names %q", names)
	}
	if _, err := httpapi.LoadTokenFile(path, "other/1"); err == nil {
		t.Fatal("a file of another format was accepted")
	}
	tokens, err := httpapi.NewTokens(f, parseActor)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := tokens.Actor(f.Tokens[2].Token); !ok || a != (actor{"writer", "test-writer-2"}) {
		t.Fatalf("Actor = %v, %v", a, ok)
	}
	for _, bad := range []string{"", "x", f.Tokens[0].Token + "x", strings.ToUpper(f.Tokens[0].Token)} {
		if a, ok := tokens.Actor(bad); ok {
			t.Errorf("Actor(%q) = %v", bad, a)
		}
	}
	var nilTokens *httpapi.Tokens[actor]
	if _, ok := nilTokens.Actor(f.Tokens[0].Token); ok {
		t.Error("nil Tokens authenticated a token")
	}
	if tokens.Token(role("writer")) != f.Tokens[1].Token || tokens.Token(role("admin")) != "" {
		t.Error("Token by role")
	}
	long := strings.Repeat("a", httpapi.MinTokenLen)
	for name, entries := range map[string][]httpapi.TokenEntry{
		"short":     {{Token: "short", Role: "reader", Name: "a"}},
		"bad role":  {{Token: long, Role: "admin", Name: "a"}},
		"duplicate": {{Token: long, Role: "reader", Name: "a"}, {Token: long, Role: "writer", Name: "b"}},
	} {
		if _, err := httpapi.NewTokens(httpapi.TokenFile{Format: format, Tokens: entries}, parseActor); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), long) {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": "", "": ""} {
		if got := httpapi.Bearer(h); got != want {
			t.Errorf("Bearer(%q) = %q, want %q", h, got, want)
		}
	}
}

func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer", " Bearer  x", "Basic a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if tok := httpapi.Bearer(h); strings.ContainsAny(tok, " \t") && strings.TrimSpace(tok) != tok {
			t.Fatalf("Bearer(%q) = %q, untrimmed", h, tok)
		}
	})
}

func TestListenRules(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0", "nonsense"} {
		if ln, err := httpapi.Listen(addr, nil); !errors.Is(err, httpapi.ErrPlainNotLoopback) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("Listen(%q, no TLS) = %v, want ErrPlainNotLoopback", addr, err)
		}
		if err := httpapi.CheckPlain(addr, false); !errors.Is(err, httpapi.ErrPlainNotLoopback) {
			t.Errorf("CheckPlain(%q) = %v", addr, err)
		}
		if err := httpapi.CheckPlain(addr, true); err != nil {
			t.Errorf("CheckPlain(%q, TLS) = %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0", "127.9.9.9:0"} {
		if !httpapi.IsLoopback(addr) || httpapi.CheckPlain(addr, false) != nil {
			t.Errorf("%q is not loopback", addr)
		}
	}
}

type echo struct {
	Text string `json:"text"`
}

// server serves a tiny API over TLS on loopback: POST /echo (writer)
// and GET /who (any role).
func server(t *testing.T) (string, *http.Client, *httpapi.Tokens[actor]) {
	t.Helper()
	dir := t.TempDir()
	f, err := httpapi.WriteTestTokenFile(filepath.Join(dir, "t.json"), format, "", []string{"reader", "writer"})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := httpapi.NewTokens(f, parseActor)
	if err != nil {
		t.Fatal(err)
	}
	errRole := errors.New("role refused")
	x := &httpapi.API[actor]{Tokens: tokens, Realm: "test", MaxBody: 64,
		Unauthorized: map[string]string{"code": "auth"},
		Refusal: func(err error) (int, any) {
			var ie *httpapi.InputError
			if errors.As(err, &ie) {
				return http.StatusBadRequest, map[string]string{"code": "bad", "field": ie.Field, "error": err.Error()}
			}
			if errors.Is(err, errRole) {
				return http.StatusForbidden, map[string]string{"code": "role"}
			}
			return http.StatusInternalServerError, map[string]string{"code": "internal"}
		}}
	mux := http.NewServeMux()
	writer := func(a actor) error {
		if a.role != "writer" {
			return errRole
		}
		return nil
	}
	mux.HandleFunc("POST /echo", httpapi.Handle(x, func(_ context.Context, a actor, _ *http.Request, req echo) (any, error) {
		return echo{Text: a.name + ":" + req.Text}, nil
	}, writer))
	mux.HandleFunc("GET /who", httpapi.HandleGet(x, func(_ context.Context, a actor, _ *http.Request) (any, error) {
		return echo{Text: a.name}, nil
	}))
	certFile, keyFile, hc := httpapitest.SelfSigned(t, dir)
	cfg, err := httpapi.TLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := httpapi.Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := httpapi.Serve(ctx, httpapi.NewHTTPServer(mux), ln); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return "https://" + ln.Addr().String(), hc, tokens
}

func TestHandle(t *testing.T) {
	url, hc, tokens := server(t)
	ctx := context.Background()
	call := func(method, path, token string, in any) (int, map[string]string) {
		t.Helper()
		status, raw, err := httpapi.Call(ctx, hc, method, url+path, token, in)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]string
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %q: %v", method, path, raw, err)
		}
		return status, out
	}
	writer, reader := tokens.Token(role("writer")), tokens.Token(role("reader"))
	if st, out := call("POST", "/echo", writer, echo{"hi"}); st != 200 || out["text"] != "test-writer:hi" {
		t.Fatalf("echo = %d %v", st, out)
	}
	if st, out := call("GET", "/who", reader, nil); st != 200 || out["text"] != "test-reader" {
		t.Fatalf("who = %d %v", st, out)
	}
	for _, c := range []struct {
		name, token string
		in          any
		status      int
		code        string
	}{
		{"no token", "", echo{"x"}, 401, "auth"},
		{"wrong token", writer + "x", echo{"x"}, 401, "auth"},
		{"role", reader, echo{"x"}, 403, "role"},
		{"role before body", reader, "not an echo", 403, "role"},
		{"unknown field", writer, map[string]string{"text": "x", "other": "y"}, 400, "bad"},
		{"too big", writer, echo{strings.Repeat("x", 100)}, 400, "bad"},
		{"no body", writer, nil, 400, "bad"},
		{"duplicate member", writer, json.RawMessage(`{"text":"x","text":"y"}`), 400, "bad"},
		{"case-mismatched member", writer, json.RawMessage(`{"Text":"x"}`), 400, "bad"},
	} {
		if st, out := call("POST", "/echo", c.token, c.in); st != c.status || out["code"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, out, c.status, c.code)
		}
	}
	// A refused member is named.
	for in, field := range map[string]string{`{"text":"x","other":1}`: "other", `{"text":"x","text":"y"}`: "text",
		`{"Text":"x"}`: "Text", `{"text":1}`: "text"} {
		if _, out := call("POST", "/echo", writer, json.RawMessage(in)); out["field"] != field {
			t.Errorf("%s: %v, want field %q", in, out, field)
		}
	}
	// Plain HTTP to the TLS port is refused.
	if st, _, err := httpapi.Call(ctx, nil, "GET", "http"+strings.TrimPrefix(url, "https")+"/who", reader, nil); err == nil && st == 200 {
		t.Fatal("plain HTTP served on the TLS port")
	}
	// An untrusting client does not get through.
	if _, _, err := httpapi.Call(ctx, nil, "GET", url+"/who", reader, nil); err == nil {
		t.Fatal("a client without the server's certificate connected")
	}
}

func TestDecodeBytes(t *testing.T) {
	var v echo
	for raw, ok := range map[string]bool{`{"text":"a"}`: true, ` {"text":"a"} `: true, `{"text":1}`: false,
		`{"text":"a","x":1}`: false, `{"text":"a"} {}`: false, `{"text":"a"} }`: false, `{"text":"a"}]`: false, ``: false, `[`: false} {
		if err := httpapi.DecodeBytes([]byte(raw), &v); (err == nil) != ok {
			t.Errorf("DecodeBytes(%q) = %v", raw, err)
		}
	}
}

func FuzzDecodeBytes(f *testing.F) {
	for _, s := range []string{`{"text":"a"}`, `{"text":"a"}{}`, `{"x":1}`, `"s"`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v echo
		if httpapi.DecodeBytes(raw, &v) == nil && !json.Valid(raw) {
			t.Fatalf("DecodeBytes accepted invalid JSON %q", raw)
		}
	})
}

func FuzzTokenFile(f *testing.F) {
	f.Add([]byte(`{"format":"test-tokens/1","tokens":[{"token":"aaaaaaaaaaaaaaaaaaaaaaaa","role":"reader","name":"a"}]}`))
	f.Add([]byte(`{"format":"test-tokens/1","test_only":true,"tokens":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(t.TempDir(), "t.json")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		tf, err := httpapi.LoadTokenFile(path, format)
		if err != nil {
			return
		}
		tokens, err := httpapi.NewTokens(tf, parseActor)
		if err != nil {
			return
		}
		for _, e := range tf.Tokens {
			if a, ok := tokens.Actor(e.Token); !ok || a.role != e.Role {
				t.Fatalf("token of %q authenticates %v, %v", e.Role, a, ok)
			}
		}
	})
}

const clientFormat = "test-clients/1"

func TestClients(t *testing.T) {
	p := httpapitest.NewPKI(t)
	alice, bob, eve := p.Cert("alice", false), p.Cert("bob", false), p.Cert("eve", false)
	c, err := httpapi.NewClients([]httpapi.ClientEntry{
		{CertSHA256: httpapi.CertSHA256(alice.Leaf), Role: "writer", Name: "alice"},
		{CommonName: "bob", Role: "reader", Name: "bob"},
	}, parseActor)
	if err != nil {
		t.Fatal(err)
	}
	for cert, want := range map[*tls.Certificate]actor{&alice: {"writer", "alice"}, &bob: {"reader", "bob"}} {
		if a, ok := c.Actor(cert.Leaf); !ok || a != want {
			t.Errorf("Actor(%s) = %v, %v", cert.Leaf.Subject.CommonName, a, ok)
		}
	}
	if a, ok := c.Actor(eve.Leaf); ok {
		t.Errorf("an unknown certificate is %v", a)
	}
	var none *httpapi.Clients[actor]
	if _, ok := none.Actor(alice.Leaf); ok {
		t.Error("nil Clients authenticated a certificate")
	}
	if httpapi.VerifiedCert(nil) != nil || httpapi.VerifiedCert(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{alice.Leaf}}) != nil {
		t.Error("an unverified certificate counts as verified")
	}
	if _, err := httpapi.WithClientCA(&tls.Config{}, filepath.Join(t.TempDir(), "none.pem"), tls.VerifyClientCertIfGiven); err == nil {
		t.Error("WithClientCA without a CA file")
	}
	cfg, err := httpapi.WithClientCA(&tls.Config{}, p.CAFile, tls.VerifyClientCertIfGiven)
	if err != nil || cfg.ClientAuth != tls.VerifyClientCertIfGiven || cfg.ClientCAs == nil {
		t.Fatalf("WithClientCA = %+v, %v", cfg, err)
	}
}

func FuzzClientFile(f *testing.F) {
	f.Add([]byte(`{"format":"test-clients/1","clients":[{"common_name":"pos-1","role":"writer","name":"pos-1"}]}`))
	f.Add([]byte(`{"format":"test-clients/1","clients":[{"cert_sha256":"` + strings.Repeat("ab", 32) + `","role":"reader","name":"a"}]}`))
	f.Add([]byte(`{"format":"test-clients/1","clients":[{"common_name":"x","cert_sha256":"00","role":"reader","name":"x"}]}`))
	f.Add([]byte(`{"format":"test-clients/1","clients":[],"extra":1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(t.TempDir(), "c.json")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := httpapi.LoadClientFile(path, clientFormat, parseActor)
		if err != nil {
			if c != nil {
				t.Fatal("a refused file gave clients")
			}
			return
		}
		var cf httpapi.ClientFile
		if err := json.Unmarshal(raw, &cf); err != nil || cf.Format != clientFormat {
			t.Fatalf("accepted %q", raw)
		}
		for _, e := range cf.Clients {
			if e.Name == "" || (e.CertSHA256 == "") == (e.CommonName == "") {
				t.Fatalf("accepted entry %+v", e)
			}
		}
	})
}
