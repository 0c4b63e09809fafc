package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/stskms/stskms/sm"
)

// Client calls the API.
type Client struct {
	// URL is the base URL, e.g. "http://127.0.0.1:8443".
	URL string
	// Token is the bearer token ("" sends none).
	Token string
	// HTTP is the client to use (http.DefaultClient if nil).
	HTTP *http.Client
}

// StatusError is a refusal of the API as the client sees it.
type StatusError struct {
	Status int
	ErrorBody
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("sm/api: HTTP %d, status %s: %s", e.Status, e.Code, e.ErrorBody.Error)
}

// Do sends in (JSON; nil for none) to method path and reads the answer
// into out (if not nil). A non-2xx answer is a *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, in, out any, header ...string) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Status: resp.StatusCode}
		if err := json.Unmarshal(raw, &se.ErrorBody); err != nil {
			se.ErrorBody = ErrorBody{Code: sm.CodeExtended, Error: string(bytes.TrimSpace(raw))}
		}
		return se
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// Credit asks for one credit token.
func (c *Client) Credit(ctx context.Context, req CreditRequest) (sm.Issued, error) {
	var ans sm.Issued
	err := c.Do(ctx, http.MethodPost, "/v1/credit", req, &ans)
	return ans, err
}

// CreditBatch asks for a batch of credit tokens.
func (c *Client) CreditBatch(ctx context.Context, reqs []CreditRequest) ([]Result, error) {
	var ans BatchAnswer
	err := c.Do(ctx, http.MethodPost, "/v1/credit", reqs, &ans)
	return ans.Results, err
}
