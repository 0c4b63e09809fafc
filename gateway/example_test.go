package gateway_test

import (
	"fmt"

	"github.com/stskms/stskms/gateway"
)

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
