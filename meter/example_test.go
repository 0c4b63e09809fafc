package meter_test

import (
	"fmt"
	"time"

	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/sts"
)

// A credit token is accepted once; entered again, it is rejected as used.
func Example() {
	key := []byte("example key 0123") // a 128-bit MISTY1 decoder key
	m, err := meter.New(meter.Config{
		EA: sts.EA11, Key: key, KeyType: sts.DUTK, KRN: 1, TI: 1, KEN: 255, BaseDate: sts.BaseDate2014,
	})
	if err != nil {
		panic(err)
	}

	// The vending side: 25.0 kWh issued on 1 June 2025 at noon.
	c, err := sts.NewCipher(sts.EA11, key, nil)
	if err != nil {
		panic(err)
	}
	tid, err := sts.BaseDate2014.TID(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	amount, err := sts.EncodeAmount(250)
	if err != nil {
		panic(err)
	}
	token, err := sts.Encode(sts.Credit{Sub: sts.Electricity, TID: tid, Amount: amount}, c)
	if err != nil {
		panic(err)
	}

	for range 2 {
		r := m.Enter(token.String())
		balance := m.Balance(sts.Electricity)
		fmt.Printf("%s: %v (status %d), balance %d.%d kWh\n", token, r.Outcome, r.Outcome.Code(), balance/10, balance%10)
	}
	// Output:
	// 04637050046654270237: accepted (status 1), balance 25.0 kWh
	// 04637050046654270237: used error (status 10), balance 25.0 kWh
}
