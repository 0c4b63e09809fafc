package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/kmc"
)

// Client calls the admin API.
type Client struct {
	// URL is the base URL, e.g. "https://kmc.example:8443".
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
	return fmt.Sprintf("kmc/api: HTTP %d, %s: %s", e.Status, e.Code, e.ErrorBody.Error)
}

// Do sends in (JSON; nil for none) to method path and reads the answer
// into out (if not nil). A non-2xx answer is a *StatusError. header are
// extra header pairs (name, value, …), such as "Idempotency-Key", id.
func (c *Client) Do(ctx context.Context, method, path string, in, out any, header ...string) error {
	status, raw, err := httpapi.Call(ctx, c.HTTP, method, c.URL+path, c.Token, in, header...)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		se := &StatusError{Status: status}
		if err := json.Unmarshal(raw, &se.ErrorBody); err != nil {
			se.ErrorBody = ErrorBody{Code: kmc.EInternal, Error: string(bytes.TrimSpace(raw))}
		}
		return se
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
