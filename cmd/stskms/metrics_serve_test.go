package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeMetrics: kmc serve and sm serve with --metrics serve their
// component's Prometheus metrics at http://ADDR/metrics while live: the
// store's counts and the latency of the API's requests.
func TestServeMetrics(t *testing.T) {
	for _, tc := range []struct {
		group, dir, api string
		want            []string
	}{
		{"kmc", initTestKMC(t), "/v1/identity", []string{"stskms_kmc_klfs_issued_total 0",
			`stskms_kmc_api_request_duration_seconds_count{code="401",method="get"} 1`}},
		{"sm", initTestSM(t), "/v1/identify", []string{`stskms_sm_api_request_duration_seconds_count{code="200",method="get"} 1`}},
	} {
		t.Run(tc.group, func(t *testing.T) {
			metrics := freeAddr(t)
			s := startServing(t, tc.group, tc.dir, 1, "--metrics", metrics)
			var text string
			for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline) && text == ""; time.Sleep(20 * time.Millisecond) {
				text = scrapeText(t, "http://"+metrics+"/metrics")
			}
			if text == "" {
				t.Fatal("no metrics served")
			}
			if res, err := http.Get("http://" + s.http + tc.api); err == nil {
				res.Body.Close()
			}
			text = scrapeText(t, "http://"+metrics+"/metrics")
			for _, want := range tc.want {
				if !strings.Contains("\n"+text, "\n"+want+"\n") {
					t.Errorf("no line %q in:\n%s", want, text)
				}
			}
			s.wait(t)
		})
	}
}

// scrapeText returns the body of a 200 answer to a GET of url, "" for anything
// else.
func scrapeText(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// TestServeMetricsLoopbackOnly: the metrics are plain HTTP for whoever
// reaches them, so kmc serve and sm serve refuse a --metrics address off
// loopback before opening anything.
func TestServeMetricsLoopbackOnly(t *testing.T) {
	for _, group := range []string{"kmc", "sm"} {
		var out, errOut bytes.Buffer
		rc := run([]string{group, "serve", "--dir", t.TempDir(), "--metrics", "0.0.0.0:0"}, strings.NewReader(""), &out, &errOut)
		if rc == 0 || !strings.Contains(errOut.String(), "loopback") {
			t.Errorf("%s serve --metrics 0.0.0.0:0: %d %q", group, rc, errOut.String())
		}
	}
}
