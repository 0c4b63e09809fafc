package console

import (
	"context"
	"net/url"
	"testing"

	"github.com/stskms/stskms/internal/role"
)

// TestDualAction: DualAction makes a Dual action of its name and op whose
// Describe and Do get the component and the call as they came.
func TestDualAction(t *testing.T) {
	type component struct{ name string }
	x := &component{"kmc"}
	call := Call{Actor: role.Officer.As("alice"), Approver: role.Officer.As("bob"), Form: url.Values{"slot": {"3"}}}
	var got []string
	a := DualAction(x, "rotate", "key.rotate",
		func(_ context.Context, y *component, c Call) (Operation, error) {
			got = append(got, y.name+" describes for "+c.Actor.Name+" slot "+c.Form.Get("slot"))
			return Operation{Kind: "k"}, nil
		},
		func(_ context.Context, y *component, c Call) (string, error) {
			got = append(got, y.name+" does for "+c.Actor.Name+"+"+c.Approver.Name)
			return "done", nil
		})
	if a.Name != "rotate" || a.Op != "key.rotate" || !a.Dual || a.Confirm || a.Download != nil {
		t.Errorf("action %+v", a)
	}
	o, err := a.Describe(context.Background(), call)
	if err != nil || o.Kind != "k" {
		t.Errorf("describe: %+v, %v", o, err)
	}
	done, err := a.Do(context.Background(), call)
	if err != nil || done != "done" {
		t.Errorf("do: %q, %v", done, err)
	}
	if len(got) != 2 || got[0] != "kmc describes for alice slot 3" || got[1] != "kmc does for alice+bob" {
		t.Errorf("calls %q", got)
	}
}
