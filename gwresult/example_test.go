package gwresult_test

import (
	"fmt"

	"github.com/stskms/stskms/gwresult"
)

// An integrator's software reads the X-Gateway-Result of a reply: the code
// is the contract, the text is for people.
func ExampleParse() {
	r, err := gwresult.Parse("Error\tEVkloadExpired\tThe VKLOADREQ is stale; generate a fresh VKLOADREQ and try again\t20250103T120000Z")
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Kind, r.Code, r.Final(), r.Params)
	// Output: Error EVkloadExpired true [20250103T120000Z]
}
