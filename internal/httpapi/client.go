package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
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
