package custodytest

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
)

// Recorder records what tests show (error messages, formatted values) and
// the secrets they handle, to check at the end that nothing shown holds a
// secret. Its Output and Secret methods fit Backend. It is safe for
// concurrent use; the zero Recorder is ready.
type Recorder struct {
	mu      sync.Mutex
	outputs []string
	secrets [][]byte
}

// Output records s as shown.
func (r *Recorder) Output(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outputs = append(r.outputs, s)
}

// Secret records a copy of b as a secret.
func (r *Recorder) Secret(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, append([]byte(nil), b...))
}

// Leaks lists the outputs holding a secret, once a secret: raw (if 8
// bytes or longer), in hex (either case, any 8-byte run) or in base64.
func (r *Recorder) Leaks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.secrets {
		forms := secretForms(s)
		for _, o := range r.outputs {
			lo := strings.ToLower(o)
			for _, f := range forms {
				if strings.Contains(o, f) || strings.Contains(lo, f) {
					out = append(out, fmt.Sprintf("%q holds a secret", o))
					break
				}
			}
		}
	}
	return out
}

// secretForms returns the strings that would show s: s itself and its
// base64 forms if s has 8 bytes or more, and every 8-byte run of its hex
// form (the whole of it if shorter, down to 4 bytes).
func secretForms(s []byte) []string {
	var forms []string
	if len(s) >= 8 {
		forms = append(forms, string(s), base64.StdEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s))
	}
	h := hex.EncodeToString(s)
	for i := 0; i+16 <= len(h); i += 2 {
		forms = append(forms, h[i:i+16])
	}
	if len(h) < 16 && len(h) >= 8 {
		forms = append(forms, h)
	}
	return forms
}
