package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/testparty"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
)

// fakeKMC is a KMC built on keyload with the deterministic test keys
// sts-test-kmc and sts-test-sm (docs/formats.md §8.1): it verifies
// requests, issues real Key Load Files, keeps IssueKLF idempotent per
// request ID and refuses replays, as the KMC interface requires.
type fakeKMC struct {
	kmc, sm keyload.Module
	pk      *records.PKECDH
	pkLine  string
	now     func() time.Time
	window  time.Duration

	mu         sync.Mutex
	registered map[string][]string // SMID text → addresses registered for it
	issued     map[string]KLF      // by request ID
	seen       map[string]string   // SMID|t_req → request ID
	requests   []KLFRequest
	distinct   int // KLFs made
	failNext   int // transient failures to inject
	updates    []RegistryUpdate
	updateErr  error // ApplyRegistryUpdate's error, if set
	publicErrs int   // PublicKey failures to inject
}

func newFakeKMC(t testing.TB, now func() time.Time) *fakeKMC {
	t.Helper()
	smKey, smid := testparty.SM(t)
	kmcKey, kmcid := testparty.KMC(t)
	pk := &records.PKECDH{KMCID: kmcid, PublicKey: kmcKey.PublicKey(), Expiry: now().Add(365 * 24 * time.Hour)}
	line, err := pk.Format()
	if err != nil {
		t.Fatal(err)
	}
	return &fakeKMC{
		kmc: keyload.Module{Key: kmcKey, PKID: kmcid}, sm: keyload.Module{Key: smKey, PKID: smid},
		pk: pk, pkLine: line, now: now, window: 10 * time.Minute,
		registered: map[string][]string{smid.String(): {alice}},
		issued:     map[string]KLF{}, seen: map[string]string{},
	}
}

// request makes the test SM's VKLOAD.REQ.1 at t.
func (k *fakeKMC) request(t testing.TB, at time.Time) string {
	t.Helper()
	req, err := keyload.NewRequest(k.sm, k.pk, at, "Test-SSM-1", "SSM1V100")
	if err != nil {
		t.Fatal(err)
	}
	line, err := req.Format()
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// open is the SM opening a Key Load File answering its request of tReq.
func (k *fakeKMC) open(bodies []string, tReq time.Time) ([]keyload.VendingKey, error) {
	return keyload.Open(k.sm, keyload.Pending{KMC: k.pk, RequestTime: tReq.UTC().Truncate(time.Second)}, bodies)
}

func (k *fakeKMC) PublicKey(context.Context) (PublicKeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.publicErrs > 0 {
		k.publicErrs--
		return PublicKeyInfo{}, errors.New("key custody unavailable")
	}
	fp, err := k.pk.Fingerprint()
	if err != nil {
		return PublicKeyInfo{}, err
	}
	return PublicKeyInfo{Fingerprint: fp.String(), Record: k.pkLine}, nil
}

func (k *fakeKMC) IssueKLF(_ context.Context, r KLFRequest) (KLF, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.requests = append(k.requests, r)
	if k.failNext > 0 {
		k.failNext--
		return KLF{}, errors.New("kmc: database unavailable")
	}
	if klf, ok := k.issued[r.ID]; ok {
		return klf, nil
	}
	req, err := records.ParseVKLoadReq(r.Request)
	if req == nil {
		return KLF{}, Refusal(gwresult.ERecordFormat, err)
	}
	if err != nil {
		return KLF{}, Refusal(gwresult.ERecordCrc, err)
	}
	now := k.now()
	if err := keyload.VerifyRequest(k.kmc, req, now, k.window); err != nil {
		code := gwresult.EInternal
		switch {
		case errors.Is(err, keyload.ErrWrongKMC):
			code = gwresult.EUnknownKmc
		case errors.Is(err, keyload.ErrWrongSM):
			code = gwresult.ERecordFormat
		case errors.Is(err, keyload.ErrStale):
			code = gwresult.EVkloadExpired
		case errors.Is(err, keyagree.ErrTagMismatch):
			code = gwresult.ETagInvalid
		}
		return KLF{}, Refusal(code, err)
	}
	smid := req.SMID.String()
	allowed, ok := k.registered[smid]
	if !ok {
		return KLF{}, Refusal(gwresult.EUnknownSm, nil)
	}
	for _, a := range r.ReplyTo {
		if !containsAddress(allowed, a) {
			return KLF{}, Refusal(gwresult.ENotAuthorisedSender, fmt.Errorf("%s not registered for %s", a, smid))
		}
	}
	replay := smid + "|" + req.Time.Format(records.TimeLayout)
	if id, ok := k.seen[replay]; ok && id != r.ID {
		return KLF{}, Refusal(gwresult.EVkloadReplayed, nil)
	}
	vk, _ := hex.DecodeString("0123456789ABCDEF")
	keys := []keyload.VendingKey{{SGC: 123456, KRN: 1, KT: 2, BDT: 2014, DKGA: 2, EA: 7, KEN: 255,
		ACT: now.Add(-time.Hour), IUT: now.Add(365 * 24 * time.Hour), CLM: 0xFFFFFFFF, Key: vk}}
	bodies, err := keyload.Issue(k.kmc, req, keys, now, nil)
	if err != nil {
		return KLF{}, err
	}
	klf := KLF{SMID: smid, Bodies: bodies}
	k.issued[r.ID], k.seen[replay] = klf, r.ID
	k.distinct++
	return klf, nil
}

func (k *fakeKMC) ApplyRegistryUpdate(_ context.Context, u RegistryUpdate) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.updateErr != nil {
		return "", k.updateErr
	}
	k.updates = append(k.updates, u)
	return fmt.Sprintf("registry update %s applied: %d bytes", u.FileName, len(u.File)), nil
}

func (k *fakeKMC) calls() []KLFRequest {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]KLFRequest(nil), k.requests...)
}

var _ KMC = (*fakeKMC)(nil)
