package api

import (
	"context"
	"net/http"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/sm"
)

// Client calls the API: the base URL, the bearer token ("" sends none)
// and the *http.Client to use (http.DefaultClient if nil; with a client
// certificate to authenticate with one).
type Client httpapi.Client[ErrorBody]

// StatusError is a refusal of the API as the client sees it: the HTTP
// status and the ErrorBody.
type StatusError = httpapi.StatusError[ErrorBody]

// Do sends in (JSON; nil for none) to method path and reads the answer
// into out (if not nil). A non-2xx answer is a *StatusError. header are
// extra header pairs (name, value, …), such as "Idempotency-Key", id.
func (c *Client) Do(ctx context.Context, method, path string, in, out any, header ...string) error {
	return (*httpapi.Client[ErrorBody])(c).Do(ctx, method, path, in, out, header...)
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
