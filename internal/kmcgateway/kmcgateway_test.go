package kmcgateway

import (
	"errors"
	"testing"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/kmc"
)

// TestServiceError: a KMC refusal keeps its code and is final, except
// EInternal; any other error is a transient EInternal. (The adapter's
// services are driven end to end by cmd/stskms TestGatewayKMC and the
// whole-loop test in package loop.)
func TestServiceError(t *testing.T) {
	var se *gateway.ServiceError
	if err := serviceError(errors.New("disk on fire")); !errors.As(err, &se) || !se.Temporary || se.Code != gwresult.EInternal {
		t.Errorf("a foreign error: %v", err)
	}
	refusal := &kmc.Error{Code: kmc.EVkloadReplayed}
	if err := serviceError(refusal); !errors.As(err, &se) || se.Temporary || se.Code != string(kmc.EVkloadReplayed) || se.Description == "" {
		t.Errorf("a refusal: %+v", se)
	}
	internal := &kmc.Error{Code: kmc.EInternal}
	if err := serviceError(internal); !errors.As(err, &se) || !se.Temporary {
		t.Errorf("an internal KMC error is not transient: %+v", se)
	}
}
