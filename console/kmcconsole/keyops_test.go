package kmcconsole

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
)

// TestKeyOpsDualControl: the trust page's operations describe themselves
// canonically (the rotation names the key it replaces; an STSA key given
// as PEM is kept as its point), refuse bad values naming the field, and
// when approved run only for two different officers, audited by the KMC
// as "officer:A+B"; a rotation proposed before another one is refused.
func TestKeyOpsDualControl(t *testing.T) {
	ctx := context.Background()
	k, _ := consoletest.KMC(t)
	p := keyOpsPage(k)
	act := map[string]console.Action{}
	for _, a := range p.Actions {
		if !a.Dual {
			t.Errorf("%s is not under dual control", a.Name)
		}
		act[a.Name] = a
	}
	alice, bob := role.Officer.As("alice"), role.Officer.As("bob")
	run := func(name string, form url.Values, approver role.Actor) (string, error) {
		t.Helper()
		o, err := act[name].Describe(ctx, console.Call{Actor: alice, Form: form})
		if err != nil {
			return "", err
		}
		return act[name].Do(ctx, consoletest.Approval(o, alice, approver))
	}
	var ie *console.InputError
	for _, bad := range []url.Values{{"lifetime_days": {"0"}}, {"lifetime_days": {"x"}}, {"lifetime_days": {"1", "2"}}} {
		if _, err := act["rotate"].Describe(ctx, console.Call{Actor: alice, Form: bad}); !errors.As(err, &ie) || ie.Field != "lifetime_days" {
			t.Errorf("rotate %v: %v", bad, err)
		}
	}
	if _, err := run("rotate", url.Values{"lifetime_days": {"30"}}, alice); !errors.Is(err, kmc.ErrDualControl) {
		t.Errorf("alice approving her own rotation: %v, want kmc.ErrDualControl", err)
	}
	stale, err := act["rotate"].Describe(ctx, console.Call{Actor: alice, Form: url.Values{"lifetime_days": {"30"}}})
	if err != nil {
		t.Fatal(err)
	}
	if done, err := run("rotate", url.Values{"lifetime_days": {"30"}}, bob); err != nil || !strings.Contains(done, "New KMC key 2") {
		t.Fatalf("rotation: %q, %v", done, err)
	}
	if _, err := act["rotate"].Do(ctx, consoletest.Approval(stale, alice, bob)); !errors.As(err, &ie) || ie.Field != "replaces" {
		t.Errorf("a stale rotation: %v", err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if _, err := act["stsaadd"].Describe(ctx, console.Call{Actor: alice, Form: url.Values{"public_key": {"not a key"}}}); !errors.As(err, &ie) || ie.Field != "public_key" {
		t.Errorf("stsa add of garbage: %v", err)
	}
	o, err := act["stsaadd"].Describe(ctx, console.Call{Actor: alice, Form: url.Values{"public_key": {pemText}}})
	if err != nil || strings.Contains(o.Params["public_key"], "BEGIN") {
		t.Fatalf("stsa add: %+v, %v", o, err)
	}
	if _, err := run("stsaadd", url.Values{"public_key": {pemText}}, bob); err != nil {
		t.Fatal(err)
	}
	keys, _ := k.STSAKeys(ctx)
	if len(keys) != 1 {
		t.Fatalf("%d STSA keys", len(keys))
	}
	if _, err := act["stsaremove"].Describe(ctx, console.Call{Actor: alice, Form: url.Values{"key_id": {"0123456789ABCDEF"}}}); !errors.As(err, &ie) || ie.Field != "key_id" {
		t.Errorf("removing an unknown key: %v", err)
	}
	if _, err := run("stsaremove", url.Values{"key_id": {strings.ToLower(keys[0].ID.String())}}, bob); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"kmc.key.generate", "stsa.key.add", "stsa.key.remove"} {
		if !auditHas(t, k, "officer:alice+bob", action) {
			t.Errorf("audit lacks %s by officer:alice+bob", action)
		}
	}
}
