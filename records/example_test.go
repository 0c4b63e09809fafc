package records_test

import (
	"errors"
	"fmt"

	"github.com/stskms/stskms/records"
)

// The seed PK.ECDH.1 of STS 600-9-2 §5.1.3.5 (R1 of kms-vectors.py) prints
// a record CRC that does not verify; Parse still returns the record, so a
// tool can show every field and every CRC.
func ExampleParse() {
	const r1 = "PK.ECDH.1|KMCID.1:Prism:K0001:20200622T140747Z:9863A537B5AF34F5:6850|" +
		"047D77A4819BEF702350D3912583AC169FAD4181648DA70E609447527315D931A8BD73A084204180CB7D0619C3850BF9BA1E0C" +
		"9E93200723588D427BB358570EAF2F8576447478F3953FCC50C874461C334D19D8AA8CFFDE23507B11A104027CE2|" +
		"20230601T000000Z|D318"
	r, err := records.Parse(r1)
	fmt.Println(err)
	fmt.Println(errors.Is(err, records.ErrCRC))
	for _, f := range r.Fields() {
		if f.Kind != records.KindPublicKey {
			fmt.Printf("%s = %s\n", f.Name, f.Text)
		}
	}
	for _, c := range r.CRCs() {
		fmt.Printf("%s printed %04X computed %04X ok %v\n", c.Field, c.Printed, c.Computed, c.OK)
	}
	// Output:
	// records: PK.ECDH.1 field crc: CRC mismatch: printed D318, computed 87A1
	// true
	// kmcid = KMCID.1:Prism:K0001:20200622T140747Z:9863A537B5AF34F5:6850
	// expiry = 20230601T000000Z
	// kmcid.crc printed 6850 computed 6850 ok true
	// crc printed D318 computed 87A1 ok false
}

// Declaring a record type is listing its fields; New computes the CRCs.
func ExampleNewSpec() {
	spec, err := records.NewSpec("DEMO.1",
		records.IdentField("name", 1, records.MaxIdent),
		records.DecimalField("count", 2, 0, 99),
		records.HexField("data", 2, 2),
	)
	if err != nil {
		panic(err)
	}
	r, err := records.New(spec, "Test-SSM-1", 7, []byte{0xBE, 0xEF})
	if err != nil {
		panic(err)
	}
	fmt.Println(r)
	_, err = spec.Parse("DEMO.1|Test SSM|07|BEEF|0000")
	fmt.Println(err)
	// Output:
	// DEMO.1|Test-SSM-1|07|BEEF|68C2
	// records: DEMO.1 field name: bad IDENT: ' ' at offset 4
}
