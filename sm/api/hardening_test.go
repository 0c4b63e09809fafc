package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
)

// twoOperators serves a test module whose token file has two operators,
// "pos-1" and "pos-2"; it returns the URL and their clients.
func twoOperators(t *testing.T) (string, *api.Client, *api.Client) {
	t.Helper()
	m, dir := newModule(t)
	entries := []api.TokenEntry{{Token: "tok-pos-1-0123456789abcdef", Role: "operator", Name: "pos-1"},
		{Token: "tok-pos-2-0123456789abcdef", Role: "operator", Name: "pos-2"}}
	tokens := writeTokens(t, dir, entries)
	url := serve(t, nil, api.New(m, tokens))
	return url, &api.Client{URL: url, Token: entries[0].Token}, &api.Client{URL: url, Token: entries[1].Token}
}

// TestRequestIDBelongsToCaller: a second operator who sends the first's
// request id is refused 409 and gets no token, alone or in a batch; the
// first's retry is answered.
func TestRequestIDBelongsToCaller(t *testing.T) {
	_, pos1, pos2 := twoOperators(t)
	ctx := context.Background()
	first, err := pos1.Credit(ctx, credit(3, "pos-1/1", 50))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := pos2.Credit(ctx, credit(3, "pos-1/1", 50))
	wantStatus(t, err, http.StatusConflict, sm.CodeExtended)
	var se *api.StatusError
	if len(ans.Tokens) != 0 || !strings.Contains(err.Error(), "another caller") || !errors.As(err, &se) || se.Body.Field != "request_id" {
		t.Fatalf("another operator: %+v, %v", ans, err)
	}
	var h sm.Issued
	err = pos2.Do(ctx, "POST", "/v1/credit", credit(3, "", 50), &h, "Idempotency-Key", "pos-1/1")
	wantStatus(t, err, http.StatusConflict, sm.CodeExtended)
	res, err := pos2.CreditBatch(ctx, []api.CreditRequest{credit(3, "pos-1/1", 50)})
	if err != nil || res[0].ErrorBody == nil || res[0].Issued != nil {
		t.Fatalf("another operator's batch: %+v, %v", res, err)
	}
	again, err := pos1.Credit(ctx, credit(3, "pos-1/1", 50))
	if err != nil || !again.Replayed || again.Tokens[0] != first.Tokens[0] {
		t.Fatalf("owner's retry: %+v, %v", again, err)
	}
}

// post sends a raw body as the client c and returns the status and the
// refusal.
func post(t *testing.T, url string, c *api.Client, path, body string, header ...string) (int, api.ErrorBody) {
	t.Helper()
	req, err := http.NewRequest("POST", url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out api.ErrorBody
	json.NewDecoder(bytes.NewReader(raw)).Decode(&out)
	return resp.StatusCode, out
}

// TestBadInputNamesField: input the API cannot take is 4xx naming the
// member, never 500: a PAN with a wrong check digit, a request id given
// two ways that disagree, and JSON with a member twice, a member named
// without its exact case, an unknown member or data after the value.
func TestBadInputNamesField(t *testing.T) {
	url, pos1, _ := twoOperators(t)
	good, _ := json.Marshal(credit(4, "", 10))
	meter := string(good[strings.Index(string(good), `"meter":`):strings.Index(string(good), `,"subclass"`)])
	pan := credit(4, "", 10).Meter.PAN
	badPAN := pan[:17] + string('0'+(pan[17]-'0'+1)%10)
	for _, c := range []struct {
		name, path, body string
		header           []string
		status           int
		field            string
	}{
		{"check digit", "/v1/credit", strings.Replace(string(good), pan, badPAN, 1), nil, 400, "meter.pan"},
		{"id conflict", "/v1/credit", `{"request_id":"a",` + meter + `,"subclass":0,"amount":10}`,
			[]string{"Idempotency-Key", "b"}, 400, "request_id"},
		{"id conflict, test", "/v1/test", `{"request_id":"a","subclass":0,"control":1}`,
			[]string{"Idempotency-Key", "b"}, 400, "request_id"},
		{"batch and header", "/v1/credit", `[` + string(good) + `]`, []string{"Idempotency-Key", "b"}, 400, "Idempotency-Key"},
		{"duplicate", "/v1/credit", `{` + meter + `,"subclass":0,"amount":10,"amount":99999}`, nil, 400, "amount"},
		{"nested duplicate", "/v1/credit", `{"meter":{"pan":"` + pan + `","pan":"` + pan + `"},"subclass":0,"amount":1}`, nil, 400, "meter.pan"},
		{"batch duplicate", "/v1/credit", `[{` + meter + `,"subclass":0,"amount":1,"amount":2}]`, nil, 400, "[0].amount"},
		{"case", "/v1/credit", `{` + meter + `,"subclass":0,"Amount":10}`, nil, 400, "Amount"},
		{"unknown", "/v1/credit", `{` + meter + `,"subclass":0,"amount":10,"bonus":1}`, nil, 400, "bonus"},
		{"trailing", "/v1/credit", string(good) + `{}`, nil, 400, ""},
		{"type", "/v1/management", `{` + meter + `,"subclass":"x","value":1}`, nil, 400, "subclass"},
	} {
		status, body := post(t, url, pos1, c.path, c.body, c.header...)
		if status != c.status || body.Field != c.field || body.Code == "" || body.Error == "" {
			t.Errorf("%s: %d %+v; want %d naming %q", c.name, status, body, c.status, c.field)
		}
	}
}
