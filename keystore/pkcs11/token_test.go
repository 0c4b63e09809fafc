//go:build cgo

package pkcs11_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodytest"
	"github.com/stskms/stskms/keystore/pkcs11"
	"github.com/stskms/stskms/keystore/pkcs11/softhsmtest"
)

var ctx = context.Background()

// hsm is one test's SoftHSM2 token.
type hsm struct {
	t   testing.TB
	cfg pkcs11.Config
	pin []byte
	ns  int
}

// newHSM makes a token for t.
func newHSM(t testing.TB) *hsm {
	t.Helper()
	cfg, pin := softhsmtest.New(t).Token("stskms-test")
	return &hsm{t: t, cfg: cfg, pin: pin}
}

// custody initialises a custody in a new namespace of the token; it is
// locked at cleanup.
func (h *hsm) custody() *pkcs11.Token {
	h.t.Helper()
	h.ns++
	cfg := h.cfg
	cfg.Namespace = fmt.Sprintf("ns%d", h.ns)
	tok, err := pkcs11.Init(cfg, h.pin)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(tok.Lock)
	return tok
}

// reopen locks tok and opens its namespace again.
func (h *hsm) reopen(tok *pkcs11.Token) *pkcs11.Token {
	h.t.Helper()
	tok.Lock()
	tok, err := pkcs11.Open(tok.Config(), h.pin)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(tok.Lock)
	return tok
}

// TestCustodyContract runs the contract every keystore.Custody keeps
// (package custodytest) on a SoftHSM2 token.
func TestCustodyContract(t *testing.T) {
	var out custodytest.Recorder
	hsms := map[*testing.T]*hsm{}
	tokenOf := func(t *testing.T) *hsm {
		if hsms[t] == nil {
			hsms[t] = newHSM(t)
			out.Secret(hsms[t].pin)
		}
		return hsms[t]
	}
	custodytest.Run(t, custodytest.Backend{
		New: func(t *testing.T) keystore.Custody { return tokenOf(t).custody() },
		Reopen: func(t *testing.T, c keystore.Custody) keystore.Custody {
			return tokenOf(t).reopen(c.(*pkcs11.Token))
		},
		Secret:       out.Secret,
		Output:       out.Output,
		SealOverhead: keystore.SealOverhead,
	})
	for _, l := range out.Leaks() {
		t.Error(l)
	}
}

// TestPrivateKeyNotExtractable reads the attributes of the private key and
// of the storage key through PKCS#11 itself: sensitive, not extractable,
// on the token, and CKA_VALUE cannot be read.
func TestPrivateKeyNotExtractable(t *testing.T) {
	h := newHSM(t)
	tok := h.custody()
	if _, err := tok.GenerateECDH(ctx, "sm-ecdh"); err != nil {
		t.Fatal(err)
	}
	raw := p11.New(h.cfg.Module)
	if raw == nil {
		t.Fatal("module does not load")
	}
	defer raw.Destroy()
	if err := raw.Initialize(); err != nil && !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		t.Fatal(err)
	}
	sh := session(t, raw, h.cfg.TokenLabel)
	defer raw.CloseSession(sh)

	for _, o := range []struct {
		class uint
		label string
	}{
		{p11.CKO_PRIVATE_KEY, "stskms/ns1/ecdh/sm-ecdh"},
		{p11.CKO_SECRET_KEY, "stskms/ns1/storage"},
	} {
		obj := findOne(t, raw, sh, o.class, o.label)
		attrs, err := raw.GetAttributeValue(sh, obj, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_SENSITIVE, nil), p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
			p11.NewAttribute(p11.CKA_TOKEN, nil), p11.NewAttribute(p11.CKA_NEVER_EXTRACTABLE, nil),
			p11.NewAttribute(p11.CKA_ALWAYS_SENSITIVE, nil),
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []byte{1, 0, 1, 1, 1} {
			if !bytes.Equal(attrs[i].Value, []byte{want}) {
				t.Errorf("%s: attribute %#x is %v, want %d", o.label, attrs[i].Type, attrs[i].Value, want)
			}
		}
		_, err = raw.GetAttributeValue(sh, obj, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
		if !errors.Is(err, p11.Error(p11.CKR_ATTRIBUTE_SENSITIVE)) {
			t.Errorf("%s: reading CKA_VALUE gave %v, want CKR_ATTRIBUTE_SENSITIVE", o.label, err)
		}
	}
	// No secret key but the storage key is left on the token (the ECDH
	// secrets were session objects, destroyed).
	peer, _ := ecdh.P384().GenerateKey(rand.Reader)
	z, err := tok.ECDH(ctx, "sm-ecdh", peer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	clear(z)
	if n := count(t, raw, sh, p11.CKO_SECRET_KEY); n != 1 {
		t.Errorf("%d secret keys on the token after ECDH, want 1 (the storage key)", n)
	}
}

// session opens a logged-in session on the token labelled label (the
// custody logged the process in).
func session(t *testing.T, raw *p11.Ctx, label string) p11.SessionHandle {
	t.Helper()
	slots, err := raw.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if info, err := raw.GetTokenInfo(s); err == nil && info.Label == label {
			sh, err := raw.OpenSession(s, p11.CKF_SERIAL_SESSION)
			if err != nil {
				t.Fatal(err)
			}
			return sh
		}
	}
	t.Fatalf("no token %q", label)
	return 0
}

func find(t *testing.T, raw *p11.Ctx, sh p11.SessionHandle, tmpl []*p11.Attribute) []p11.ObjectHandle {
	t.Helper()
	if err := raw.FindObjectsInit(sh, tmpl); err != nil {
		t.Fatal(err)
	}
	objs, _, err := raw.FindObjects(sh, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.FindObjectsFinal(sh); err != nil {
		t.Fatal(err)
	}
	return objs
}

func findOne(t *testing.T, raw *p11.Ctx, sh p11.SessionHandle, class uint, label string) p11.ObjectHandle {
	t.Helper()
	objs := find(t, raw, sh, []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class), p11.NewAttribute(p11.CKA_LABEL, label)})
	if len(objs) != 1 {
		t.Fatalf("%d objects labelled %q", len(objs), label)
	}
	return objs[0]
}

func count(t *testing.T, raw *p11.Ctx, sh p11.SessionHandle, class uint) int {
	t.Helper()
	return len(find(t, raw, sh, []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)}))
}

// TestWrongPIN: a wrong PIN is ErrPIN (and keystore.ErrBadPassphrase), and
// the message does not hold the PIN; nothing is created.
func TestWrongPIN(t *testing.T) {
	h := newHSM(t)
	tok := h.custody()
	cfg := tok.Config()
	tok.Lock()
	wrong := []byte("wrong-pin-417")
	for _, f := range []func(pkcs11.Config, []byte) (*pkcs11.Token, error){pkcs11.Open, pkcs11.Init} {
		_, err := f(cfg, wrong)
		if !errors.Is(err, pkcs11.ErrPIN) || !errors.Is(err, keystore.ErrBadPassphrase) {
			t.Fatalf("wrong PIN: %v, want ErrPIN", err)
		}
		for _, p := range [][]byte{wrong, h.pin} {
			if strings.Contains(err.Error(), string(p)) {
				t.Fatalf("error %q holds a PIN", err)
			}
		}
	}
	for _, short := range [][]byte{nil, []byte("123"), bytes.Repeat([]byte("1"), pkcs11.MaxPINLen+1)} {
		if _, err := pkcs11.Open(cfg, short); !errors.Is(err, pkcs11.ErrPIN) {
			t.Fatalf("PIN of %d bytes: %v, want ErrPIN", len(short), err)
		}
	}
	// The right PIN still works (the wrong ones did not lock it).
	h.reopen(h.custody())
}

// TestOpenRefuses: no token, no store, a namespace in use, a bad module.
func TestOpenRefuses(t *testing.T) {
	h := newHSM(t)
	tok := h.custody()
	cfg := tok.Config()

	_, err := pkcs11.Init(cfg, h.pin)
	if !errors.Is(err, keystore.ErrStoreExists) {
		t.Fatalf("Init of a namespace in use: %v", err)
	}
	other := cfg
	other.Namespace = "empty"
	if _, err := pkcs11.Open(other, h.pin); !errors.Is(err, keystore.ErrNoStore) {
		t.Fatalf("Open of an empty namespace: %v", err)
	}
	tok.Lock()
	other = cfg
	other.TokenLabel = "no-such-token"
	if _, err := pkcs11.Open(other, h.pin); !errors.Is(err, pkcs11.ErrToken) {
		t.Fatalf("Open of a missing token: %v", err)
	}
	other = cfg
	other.Module = "/nonexistent/libpkcs11.so"
	if _, err := pkcs11.Open(other, h.pin); !errors.Is(err, pkcs11.ErrModule) {
		t.Fatalf("Open with a missing module: %v", err)
	}
	other.Module = "relative.so"
	if _, err := pkcs11.Open(other, h.pin); !errors.Is(err, pkcs11.ErrConfig) {
		t.Fatalf("Open with a relative module path: %v", err)
	}
}

// TestNamespacesApart: two custodies on one token (an SM and a KMC) use
// the same key name without clashing, and neither opens the other's blobs.
func TestNamespacesApart(t *testing.T) {
	h := newHSM(t)
	a, b := h.custody(), h.custody()
	pa, err := a.GenerateECDH(ctx, "ecdh")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.GenerateECDH(ctx, "ecdh")
	if err != nil {
		t.Fatal(err)
	}
	if pa.Equal(pb) {
		t.Fatal("the two namespaces share a key")
	}
	blob, err := a.Seal(ctx, []byte("a's"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, blob, nil); !errors.Is(err, keystore.ErrUnseal) {
		t.Fatalf("b opened a's blob: %v", err)
	}
	if err := b.Delete(ctx, "ecdh"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PublicKey(ctx, "ecdh"); err != nil {
		t.Fatalf("deleting b's key touched a's: %v", err)
	}
	if f := fmt.Sprintf("%v %+v %#v %s", a, a, a, a); strings.Contains(f, string(h.pin)) || !strings.Contains(f, "pkcs11.Token{") {
		t.Fatalf("formatted: %q", f)
	}
}
