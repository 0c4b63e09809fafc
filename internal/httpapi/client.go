package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxAnswer is the largest answer Call reads.
const maxAnswer = 64 << 20

// Call sends in (as JSON; nil for no body) to method url with the bearer
// token (none if "") and the header pairs (name, value, …), and returns
// the answer's status and body. hc nil means http.DefaultClient.
func Call(ctx context.Context, hc *http.Client, method, url, token string, in any, header ...string) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return resp.StatusCode, raw, err
}

// Client calls an HTTP/JSON API of stskms whose refusals are JSON bodies
// of type B (the API's error body): sm/api.Client and kmc/api.Client are
// this type.
type Client[B any] struct {
	// URL is the base URL, e.g. "https://127.0.0.1:8443".
	URL string
	// Token is the bearer token ("" sends none).
	Token string
	// HTTP is the client to use (http.DefaultClient if nil); give it a
	// client certificate to authenticate with one.
	HTTP *http.Client
}

// StatusError is a refusal of an API as its client sees it: the HTTP
// status and the API's error body.
type StatusError[B any] struct {
	Status int
	// Body is the error body; Text the answer as sent when it is not one
	// (such as the text of a 405 from the router).
	Body B
	Text string
}

// Error says the status and the body (its String method, if it has one).
func (e *StatusError[B]) Error() string {
	if e.Text != "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Text)
	}
	return fmt.Sprintf("HTTP %d: %v", e.Status, e.Body)
}

// Do sends in (JSON; nil for none) to method path and reads the answer
// into out (if not nil). A non-2xx answer is a *StatusError[B]. header
// are extra header pairs (name, value, …), such as "Idempotency-Key", id.
func (c *Client[B]) Do(ctx context.Context, method, path string, in, out any, header ...string) error {
	status, raw, err := Call(ctx, c.HTTP, method, c.URL+path, c.Token, in, header...)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		se := &StatusError[B]{Status: status}
		if json.Unmarshal(raw, &se.Body) != nil {
			se.Text = string(bytes.TrimSpace(raw))
		}
		return se
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
