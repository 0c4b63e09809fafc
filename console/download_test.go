package console

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// fetch is the test site's download: a file naming who asked for it.
func fetch(_ context.Context, c Call) (File, error) {
	if c.Form.Get("n") == "" {
		return File{}, BadInput("n", "missing")
	}
	return File{Name: "poke " + c.Form.Get("n") + ".txt", Type: "text/plain; charset=utf-8",
		Body: []byte("fetched by " + c.Actor.String())}, nil
}

// TestDownload: an action's Download answers an attachment with its name
// and type, after the same CSRF and role checks as any action, and is
// audited with the person's name; a refused or bad one saves nothing.
func TestDownload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base, s, sign := testServer(t, db)
		alice, csrf := sign("alice", role.Officer)
		carol, carolCSRF := sign("carol", role.Auditor)
		get := func(c *http.Cookie, form url.Values) (*http.Response, string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, base+"/console/secret/fetch", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, b := roundTrip(t, req, c)
			return res, string(b)
		}
		res, body := get(alice, url.Values{"n": {"7"}, "csrf": {csrf}})
		_, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition"))
		if res.StatusCode != http.StatusOK || err != nil || params["filename"] != "poke 7.txt" ||
			res.Header.Get("Content-Type") != "text/plain; charset=utf-8" || body != "fetched by officer:alice" ||
			!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") || res.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("download: %d %v %q", res.StatusCode, res.Header, body)
		}
		for _, tc := range []struct {
			name   string
			c      *http.Cookie
			form   url.Values
			status int
		}{
			{"bad value", alice, url.Values{"csrf": {csrf}}, http.StatusBadRequest},
			{"no token", alice, url.Values{"n": {"1"}}, http.StatusForbidden},
			{"auditor", carol, url.Values{"n": {"1"}, "csrf": {carolCSRF}}, http.StatusForbidden},
		} {
			res, body := get(tc.c, tc.form)
			if res.StatusCode != tc.status || res.Header.Get("Content-Disposition") != "" || strings.Contains(body, "fetched") {
				t.Errorf("%s: status %d, want %d; %v", tc.name, res.StatusCode, tc.status, res.Header)
			}
		}
		got := strings.Join(auditActions(t, s), "\n")
		if strings.Count(got, "console.download") != 1 || !strings.Contains(got, "officer:alice console.download secret/fetch") ||
			!strings.Contains(got, "auditor:carol console.refused secret.read") {
			t.Errorf("audit log:\n%s", got)
		}
	})
}
