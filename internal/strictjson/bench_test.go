package strictjson_test

import (
	"encoding/json"
	"testing"

	"github.com/stskms/stskms/internal/strictjson"
)

// batch is a body like a batch of 256 credit requests of the module's API.
func batch(b *testing.B) []byte {
	reqs := make([]request, 256)
	for i := range reqs {
		reqs[i] = request{ID: "pos-1/000042", Meter: meter{PAN: "600727000000000009", ref: ref{SGC: 123456, KRN: 1}}, Amount: 10}
	}
	raw, err := json.Marshal(reqs)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkUnmarshalBatch is the strict decoder on a batch body; compare
// BenchmarkStdlibBatch, encoding/json alone.
func BenchmarkUnmarshalBatch(b *testing.B) { benchBatch(b, strictjson.Unmarshal) }

// BenchmarkStdlibBatch is encoding/json on the body of BenchmarkUnmarshalBatch.
func BenchmarkStdlibBatch(b *testing.B) { benchBatch(b, json.Unmarshal) }

// benchBatch decodes a batch body with unmarshal, once per iteration.
func benchBatch(b *testing.B, unmarshal func(data []byte, v any) error) {
	raw := batch(b)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		var v []request
		if err := unmarshal(raw, &v); err != nil {
			b.Fatal(err)
		}
	}
}
