package gateway_test

import (
	"fmt"

	"github.com/stskms/stskms/gateway"
)

// An integrator's software reads the X-Gateway-Result of a reply: the code
// is the contract, the text is for people.
func ExampleParseResult() {
	r, err := gateway.ParseResult("Error\tEVkloadExpired\tThe VKLOADREQ is stale; generate a fresh VKLOADREQ and try again\t20250103T120000Z")
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Kind, r.Code, r.Final(), r.Params)
	// Output: Error EVkloadExpired true [20250103T120000Z]
}

// Decide is the gateway's "reply or ignore, and why", a pure function of
// the parsed mail.
func ExampleDecide() {
	raw := "From: Alice <alice@example.com>\r\n" +
		"To: gateway@kms.example.com\r\n" +
		"Subject: Automatic reply: {KMS:Help}\r\n" +
		"Auto-Submitted: auto-replied\r\n" +
		"\r\n" +
		"I am out of the office.\r\n"
	env := gateway.Envelope{From: "alice@example.com", To: []string{"gateway@kms.example.com"}}
	in := gateway.ParseMessage(env, []byte(raw), int64(len(raw)), false)
	d := gateway.Decide(in, &gateway.Policy{Addresses: []string{"gateway@kms.example.com"}})
	fmt.Println(d.Action, d.Reason)
	// Output: ignore auto-submitted
}
