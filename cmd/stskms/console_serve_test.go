package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeMountsConsole: kmc serve and sm serve serve the console under
// /console/ on their API listener, at http://localhost:PORT (a request for
// 127.0.0.1 is sent there), with its CSP; the API beside it is unchanged.
func TestServeMountsConsole(t *testing.T) {
	for _, tc := range []struct {
		group string
		init  []string
		api   string // a path of the API that needs no token
	}{
		{"kmc", []string{"kmc", "init", "--mode", "test"}, "/v1/identity"},
		{"sm", []string{"sm", "init", "--variant", "vending", "--test"}, "/v1/identify"},
	} {
		t.Run(tc.group, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tc.group)
			addrFile := filepath.Join(t.TempDir(), "addr")
			var out bytes.Buffer
			if rc := run(append(tc.init, "--dir", dir), strings.NewReader(""), &out, &out); rc != 0 {
				t.Fatalf("init: %d\n%s", rc, out.String())
			}
			done := make(chan int, 1)
			var sout, serr bytes.Buffer
			go func() {
				done <- run([]string{tc.group, "serve", "--dir", dir, "--http", "127.0.0.1:0", "--addr-file", addrFile, "--exit-after", "4s"},
					strings.NewReader(""), &sout, &serr)
			}()
			var addr string
			for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if b, err := os.ReadFile(addrFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
					addr, _, _ = strings.Cut(string(b), "\n")
				}
			}
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("address %q: %v", addr, err)
			}
			origin := "http://localhost:" + port
			noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			var res *http.Response
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if res, err = noRedirect.Get(origin + "/console/signin"); err == nil {
					res.Body.Close()
					if res.StatusCode == http.StatusOK {
						break
					}
				}
			}
			if res == nil || res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Fatalf("console sign-in page: %+v, %v\n%s", res, err, serr.String())
			}
			if res, err = noRedirect.Get("http://" + addr + "/console/signin"); err != nil || res.StatusCode != http.StatusTemporaryRedirect ||
				res.Header.Get("Location") != origin+"/console/signin" {
				t.Errorf("console by address: %+v, %v", res, err)
			} else {
				res.Body.Close()
			}
			if res, err = noRedirect.Get("http://" + addr + tc.api); err != nil || res.StatusCode == http.StatusNotFound ||
				res.Header.Get("Content-Security-Policy") != "" {
				t.Errorf("the API beside the console: %+v, %v", res, err)
			} else {
				res.Body.Close()
			}
			if rc := <-done; rc != 0 {
				t.Fatalf("serve: %d\n%s", rc, serr.String())
			}
			if !strings.Contains(serr.String(), "console: "+origin+"/console/") {
				t.Errorf("serve did not say where the console is: %q", serr.String())
			}
		})
	}
}
