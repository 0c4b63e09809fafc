package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// consoleServes are the two serve commands that mount a console, each with
// the way to make its directory and a path of its API that needs no token.
var consoleServes = []struct {
	group string
	init  func(testing.TB) string
	api   string
}{
	{"kmc", initTestKMC, "/v1/identity"},
	{"sm", initTestSM, "/v1/identify"},
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// getAs GETs path from the server at addr as a browser that reached it
// under host would, closing the body; it retries while the console is not
// yet mounted (the server is still unsealing).
func getAs(t *testing.T, addr, host, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	var res *http.Response
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if res, err = noRedirect.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusServiceUnavailable {
				return res
			}
		}
	}
	t.Fatalf("GET %s (Host %s): %+v, %v", path, host, res, err)
	return nil
}

// TestServeMountsConsole: kmc serve and sm serve serve the console under
// /console/ on their API listener, at http://localhost:PORT (a request for
// 127.0.0.1 is sent there), with its CSP; the API beside it is unchanged.
func TestServeMountsConsole(t *testing.T) {
	for _, tc := range consoleServes {
		t.Run(tc.group, func(t *testing.T) {
			s := startServing(t, tc.group, tc.init(t), 1)
			_, port, err := net.SplitHostPort(s.http)
			if err != nil {
				t.Fatalf("address %q: %v", s.http, err)
			}
			origin := "http://localhost:" + port
			res := getAs(t, s.http, "localhost:"+port, "/console/signin")
			if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Fatalf("console sign-in page: %+v", res)
			}
			if res := getAs(t, s.http, s.http, "/console/signin"); res.StatusCode != http.StatusTemporaryRedirect ||
				res.Header.Get("Location") != origin+"/console/signin" {
				t.Errorf("console by address: %+v", res)
			}
			if res := getAs(t, s.http, s.http, tc.api); res.Header.Get("Content-Security-Policy") != "" {
				t.Errorf("the API beside the console: %+v", res)
			}
			s.wait(t)
			if !strings.Contains(s.err.String(), "console: "+origin+"/console/") {
				t.Errorf("serve did not say where the console is: %q", s.err.String())
			}
		})
	}
}

// TestConsoleOriginFlag: behind a reverse proxy the console answers at the
// --console-origin given (Secure cookies under https), sends a browser
// that reached it by another name there, and says so at start; an origin
// at which a browser would not use a passkey is a usage error (exit 2)
// before anything is opened.
func TestConsoleOriginFlag(t *testing.T) {
	for _, tc := range consoleServes {
		t.Run(tc.group, func(t *testing.T) {
			dir := tc.init(t)
			s := startServing(t, tc.group, dir, 1, "--console-origin", "https://KMS.Example.test:443")
			const origin = "https://kms.example.test"
			res := getAs(t, s.http, "kms.example.test", "/console/signin")
			if res.StatusCode != http.StatusOK || res.Header.Get("Strict-Transport-Security") == "" {
				t.Errorf("console at its origin's host: %+v", res)
			}
			if res := getAs(t, s.http, s.http, "/console/signin"); res.StatusCode != http.StatusTemporaryRedirect ||
				res.Header.Get("Location") != origin+"/console/signin" {
				t.Errorf("console by the listener's address: %+v", res)
			}
			s.wait(t)
			if !strings.Contains(s.err.String(), "console: "+origin+"/console/") {
				t.Errorf("serve did not say where the console is: %q", s.err.String())
			}
			_, errOut := mustRunCLI(t, 2, tc.group, "serve", "--dir", dir, "--console-origin", "http://kms.example.test")
			if !strings.Contains(errOut, "--console-origin") {
				t.Errorf("plain http origin: %q", errOut)
			}
		})
	}
}

// TestParseConsoleOrigin: the origins a browser can use a passkey at are
// taken as it sends them; the others are refused, naming the flag.
func TestParseConsoleOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"https://kms.example.org":      "https://kms.example.org",
		"https://kms.example.org/":     "https://kms.example.org",
		"https://KMS.example.org:443":  "https://kms.example.org",
		"https://kms.example.org:8443": "https://kms.example.org:8443",
		"http://localhost:9000":        "http://localhost:9000",
		"http://LocalHost:80":          "http://localhost",
	} {
		if got, err := parseConsoleOrigin(in); got != want || err != nil {
			t.Errorf("parseConsoleOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"http://kms.example.org", "https://10.0.0.1", "https://[::1]:8443", "https://kms.example.org/console",
		"https://op@kms.example.org", "kms.example.org", "ftp://kms.example.org", "https://kms.example.org?x=1",
		"https://kms.example.org#top", "https://kms.example.org:0", "https://kms.example.org:99999", "https://",
		"https://kms.example.org:port", "mailto:kms@example.org",
	} {
		if got, err := parseConsoleOrigin(in); err == nil || !strings.Contains(err.Error(), "--console-origin") {
			t.Errorf("parseConsoleOrigin(%q) = %q, %v; want a usage error", in, got, err)
		}
	}
}
