package sts6

import (
	"errors"
	"testing"
)

// FuzzDecodeCommand: the decoder of every command takes any frame without
// panicking, and refuses with a field status (60–63) or "not supported".
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		"SM?VCN123456~N1~N2~N600727000000000009~N1~N11~N2~N0~N100~Pvc-1~",
		"SM?VCN123456~N1~N2~N600727000000000009~N1~N11~N2~N4~P-12345~",
		"SM?VMN123456~N1~N2~N600727000000000009~N1~N0~N5000~",
		"SM?VKN123456~N1~N2~N600727000000000009~N1~N123456~N2~N2~N1~N0~",
		"SM?VTN123456~N1~N2~N600727000000000009~N1~N12345678901234567890~",
		"SM?VDN0~N0~N28~", "SM?VDN1~N1234~N268435455~Pvd-1~",
		"SM?GAN123456~N1~N2~", "SM?CQ", "SM?DI", "SM?KRN1~", "SM?KXN1~", "SM?KFN1~Ptoken~",
		"SM?KCPrecord~H0011223344556677~N1~N0~Ptoken~", "SM?KLN1~Pa~Pb~", "SM?MK", "SM?ZZN1~",
	} {
		f.Add([]byte(s + crcHex(s) + "\r"))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := Parse(b)
		if err != nil || q.Reply || q.Prefix != "SM" {
			return
		}
		cmd, o, err := decodeCommand(q)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) && !errors.Is(err, ErrNotSupported) {
				t.Fatalf("decode %q: %v", b, err)
			}
			if fe != nil && (fe.Code < CodeFieldCount || fe.Code > CodeFieldRange) {
				t.Fatalf("decode %q: status %s", b, fe.Code)
			}
			return
		}
		if o == nil || cmd.decode == nil {
			t.Fatalf("decode %q: no op", b)
		}
	})
}

func crcHex(s string) string {
	const d = "0123456789ABCDEF"
	v := CRC16ARC([]byte(s))
	return string([]byte{d[v>>12], d[v>>8&15], d[v>>4&15], d[v&15]})
}
