package kmc_test

import (
	"testing"

	"github.com/stskms/stskms/kmc"
)

// FuzzParseRequest: whatever arrives, ParseRequest either returns a request
// that formats back to a record, or refuses with ERecordFormat or
// ERecordCrc; it never panics.
func FuzzParseRequest(f *testing.F) {
	// The §3.7 vector request (kms-records.md), one-line and armoured.
	f.Add([]byte(vectorRequest))
	f.Add([]byte("STS:VKLOAD.REQ.1 BEGINS\r\n" + vectorRequest[:64] + "\r\n" + vectorRequest[64:] + "\r\nSTS:VKLOAD.REQ.1 ENDS\r\n"))
	f.Add([]byte("STS:VKLOAD.REQ.1 BEGINS\nVKLOAD.REQ.1|x|1234\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, text []byte) {
		req, err := kmc.ParseRequest(text)
		if err != nil {
			if c := kmc.CodeOf(err); c != kmc.ERecordFormat && c != kmc.ERecordCrc {
				t.Fatalf("code %s: %v", c, err)
			}
			return
		}
		if _, err := req.Format(); err != nil {
			t.Fatalf("parsed request does not format: %v", err)
		}
	})
}

// vectorRequest is the VKLOAD.REQ.1 of kms-records.md §3.7
// (docs/notes/kms-vectors.py).
const vectorRequest = "VKLOAD.REQ.1|SMID.1:TestVendor:94000001:20250102T000000Z:930F65E7777667E1:A68E|KMCID.1:TestKMC:K0001:20250101T000000Z:596A20E33788ED93:18C3|20250103T120000Z|Test-SSM-1|SSM1V100|04B076D39141FF1BE3D708F4A30A027E103D3D10AABA4C7EE653CE36A3C5500100D2434963183B9A874542F7AA13654D55B60841166AAB5ABD8176625DF60B6B7CBB354A95AE94323A4B5AF64C81447A92FA2176031A91E9137FA079421F82129B|8B0CCC180C624F7368A491124328FFF8C7CDCF6EF5F4DFB7|7220"
