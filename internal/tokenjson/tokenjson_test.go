package tokenjson_test

import (
	"encoding/json"
	"testing"

	"github.com/stskms/stskms/internal/tokenjson"
	"github.com/stskms/stskms/sts"
)

// TestOf: every token prints in the API's snake_case names, in order, with
// tid and rnd always present, never a Go field name.
func TestOf(t *testing.T) {
	amt, err := sts.EncodeAmount(256)
	if err != nil {
		t.Fatal(err)
	}
	kc := sts.KeyChange{Sub: sts.DecoderKey1, KeyPart: 0xDEADBEEF, KeyType: sts.DUTK, KRN: 2, KENHigh: 15, Rollover: true}
	for _, tc := range []struct {
		fs   tokenjson.Fields
		want string
	}{
		{tokenjson.Of(sts.Credit{Sub: sts.Electricity, TID: 7, RND: 5, Amount: amt}), `{"tid":7,"rnd":5,"amount":25.6}`},
		{tokenjson.Of(sts.Test{MfrCode: 4, Control: 1}), `{"tid":null,"rnd":null,"mfr":4,"control":1}`},
		{tokenjson.Of(kc), `{"tid":null,"rnd":null,"section":1,"key_part":"deadbeef","kt":2,"krn":2,"ken_high":15,"rollover":1}`},
		{tokenjson.Of(kc).Without("key_part"), `{"tid":null,"rnd":null,"section":1,"kt":2,"krn":2,"ken_high":15,"rollover":1}`},
	} {
		got, err := json.Marshal(tc.fs)
		if err != nil || string(got) != tc.want {
			t.Errorf("got %s (%v), want %s", got, err, tc.want)
		}
	}
}
