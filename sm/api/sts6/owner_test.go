package sts6_test

import (
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestRequestIDOwner: on the STS6 port too, a request id belongs to its
// caller: another operator giving it is refused (EE), never answered
// (testdata/owner/owner.vec).
func TestRequestIDOwner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, sm.Operator.As("pos-2"))
		k := newKMC(t)
		v := &vectorRun{t: t, e: e, kmc: k, conns: map[string]*conn{}, values: map[string]string{
			"kmc": k.record, "fp": fpOf(k), "kmcid": k.kmcid.String(), "second": e.tokens.Token(sm.Officer)}}
		v.run("testdata/owner/owner.vec")
	})
}
