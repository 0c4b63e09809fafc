package console

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// authenticator is a software passkey: a P-256 key that signs WebAuthn
// assertions as a browser's authenticator would.
type authenticator struct {
	key   *ecdsa.PrivateKey
	id    []byte
	count uint32
}

func newAuthenticator(t *testing.T) *authenticator {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &authenticator{key: key, id: randomBytes(16)}
}

// credential is the passkey as the server keeps it after registration.
func (a *authenticator) credential(t *testing.T) *webauthn.Credential {
	t.Helper()
	pt, err := a.key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pk, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         int64(webauthncose.P256), XCoord: pt[1:33], YCoord: pt[33:]})
	if err != nil {
		t.Fatal(err)
	}
	return &webauthn.Credential{ID: a.id, PublicKey: pk, AttestationType: "none",
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: true}}
}

// assert signs challenge (base64url, as the server's options name it) for
// origin, with user presence and verification, and returns the
// PublicKeyCredential's JSON.
func (a *authenticator) assert(t *testing.T, origin, challenge string) []byte {
	t.Helper()
	a.count++
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": challenge, "origin": origin, "crossOrigin": false})
	rp := sha256.Sum256([]byte("localhost"))
	auth := binary.BigEndian.AppendUint32(append(rp[:], 0x05), a.count)
	cdh := sha256.Sum256(cd)
	digest := sha256.Sum256(append(auth, cdh[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b := base64.RawURLEncoding.EncodeToString
	out, _ := json.Marshal(map[string]any{"id": b(a.id), "rawId": b(a.id), "type": "public-key",
		"response": map[string]string{"clientDataJSON": b(cd), "authenticatorData": b(auth), "signature": b(sig)}})
	return out
}

// person is a signed-in account with its own passkey.
type person struct {
	cookie *http.Cookie
	csrf   string
	auth   *authenticator
}

// testLifetime is the proposals' lifetime in tests: shorter than a
// session's idle timeout.
const testLifetime = 10 * time.Minute

// approvalEnv is a console whose "keys" page has a Dual action, "rotate":
// its Do records each call.
type approvalEnv struct {
	t     *testing.T
	base  string
	st    *Store
	clock *clock
	mu    sync.Mutex
	calls []Call
}

func newApprovalEnv(t *testing.T, db *store.DB) *approvalEnv {
	t.Helper()
	e := &approvalEnv{t: t}
	e.st, e.clock = newStore(t, db)
	e.base = e.serve(e.st)
	return e
}

// serve serves a console on st, as a restarted server would, and returns
// its origin.
func (e *approvalEnv) serve(st *Store) string {
	srv := httptest.NewServer(nil)
	e.t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	base := "http://localhost:" + u.Port()
	h, err := New(Config{Store: st, Site: e.site(), Origin: base, ProposalLifetime: testLifetime})
	if err != nil {
		e.t.Fatal(err)
	}
	srv.Config.Handler = h
	return base
}

func (e *approvalEnv) site() Site {
	none := func(context.Context, role.Actor, Query) (any, error) { return nil, nil }
	return Site{Name: "Test", Allow: func(a role.Actor, op string) error {
		if op == "key.rotate" && a.Role != role.Officer {
			return errors.New("role")
		}
		return nil
	}, Pages: []Page{{Title: "Overview", Template: `{{define "content"}}<p>hello</p>{{end}}`, Data: none},
		{Path: "keys", Title: "Keys", Template: `{{define "content"}}<p>keys</p>{{end}}`, Data: none,
			Actions: []Action{{Name: "rotate", Op: "key.rotate", Dual: true,
				Describe: func(_ context.Context, c Call) (Operation, error) {
					d := c.Form.Get("days")
					if d == "" {
						return Operation{}, BadInput("days", "missing")
					}
					return Operation{Kind: "test.key.rotate", Params: map[string]string{"days": d}, Words: "Rotate the key for " + d + " days"}, nil
				},
				Do: func(_ context.Context, c Call) (string, error) {
					if c.Form.Get("days") == "13" {
						return "", BadInput("days", "unlucky")
					}
					e.mu.Lock()
					defer e.mu.Unlock()
					e.calls = append(e.calls, c)
					return "rotated for " + c.Form.Get("days") + " days", nil
				}}}},
		attachmentPage(e), confirmPage(e)}}
}

// enrol makes an account with a software passkey and signs it in.
func (e *approvalEnv) enrol(name string, r role.Role) *person {
	e.t.Helper()
	ctx := context.Background()
	code, _, err := e.st.Enrol(ctx, "cli:root", name, r)
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := e.st.enrolmentOf(ctx, e.st.db, hashText(code))
	if err != nil {
		e.t.Fatal(err)
	}
	p := &person{auth: newAuthenticator(e.t)}
	var id string
	err = e.st.log.Tx(ctx, func(tx *store.Tx) error {
		var err error
		id, err = e.st.addPasskey(ctx, tx, en, randomBytes(32), p.auth.credential(e.t))
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	sess, err := e.st.session(ctx, id, time.Hour, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	p.cookie, p.csrf = &http.Cookie{Name: sessionCookie, Value: id}, sess.csrf
	return p
}

// request sends a POST of p (nil: signed out) with the CSRF header and
// extra cookies, and returns the status and body.
func (e *approvalEnv) request(base, path string, p *person, body []byte, cookies ...*http.Cookie) (int, []byte, *http.Response) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if p != nil {
		req.Header.Set("X-CSRF-Token", p.csrf)
		req.AddCookie(p.cookie)
	}
	res, b := roundTrip(e.t, req, cookies...)
	return res.StatusCode, b, res
}

// begin starts p's passkey step on proposal id: the status, the challenge
// the server asks to sign and the ceremony's cookie.
func (e *approvalEnv) begin(base string, p *person, id string) (int, string, *http.Cookie) {
	e.t.Helper()
	return e.beginAt(base, "/console/approvals/"+id+"/begin", p, []byte("{}"))
}

// beginAt posts body as p to the begin path of a passkey step: the
// status, the challenge the server asks to sign and the ceremony's
// cookie.
func (e *approvalEnv) beginAt(base, path string, p *person, body []byte) (int, string, *http.Cookie) {
	e.t.Helper()
	status, answer, res := e.request(base, path, p, body)
	if status != http.StatusOK {
		return status, "", nil
	}
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(answer, &opts); err != nil {
		e.t.Fatal(err)
	}
	for _, c := range res.Cookies() {
		if c.Name == ceremonyCookie {
			return status, opts.PublicKey.Challenge, c
		}
	}
	e.t.Fatal("begin set no ceremony cookie")
	return 0, "", nil
}

// finish sends a passkey answer for proposal id with a ceremony cookie.
func (e *approvalEnv) finish(base string, p *person, id string, ceremony *http.Cookie, answer []byte) int {
	e.t.Helper()
	status, _, _ := e.request(base, "/console/approvals/"+id+"/finish", p, answer, ceremony)
	return status
}

// step signs p's step on proposal id: the status of begin if refused,
// else of finish.
func (e *approvalEnv) step(base string, p *person, id string) int {
	e.t.Helper()
	status, challenge, c := e.begin(base, p, id)
	if status != http.StatusOK {
		return status
	}
	return e.finish(base, p, id, c, p.auth.assert(e.t, base, challenge))
}

// propose posts the rotate form as p and signs the proposal: its id.
func (e *approvalEnv) propose(p *person, days string) string {
	e.t.Helper()
	return e.proposeForm(p, "/console/keys/rotate", url.Values{"days": {days}})
}

// proposeForm posts form to a Dual action's path as p and signs the
// proposal: its id.
func (e *approvalEnv) proposeForm(p *person, path string, form url.Values) string {
	e.t.Helper()
	form.Set("csrf", p.csrf)
	res := post(e.t, e.base, path, p.cookie, form, nil)
	id, ok := strings.CutPrefix(res.Header.Get("Location"), "/console/approvals/")
	if res.StatusCode != http.StatusSeeOther || !ok {
		e.t.Fatalf("propose: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if status := e.step(e.base, p, id); status != http.StatusOK {
		e.t.Fatalf("the proposer's signature: %d", status)
	}
	return id
}

// state is the state of proposal id now.
func (e *approvalEnv) state(id string) string {
	e.t.Helper()
	p, err := e.st.proposal(context.Background(), e.st.db, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.State(e.st.now())
}

func (e *approvalEnv) ncalls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}

// TestApprovalTwoOfficers: an officer's proposal of a Dual action is done
// only when a different officer approves it with their passkey; Do gets
// both names, the digest and the stored parameters; the approval is used
// once and audited with both names and the digest. The proposer cannot
// approve her own, nor an auditor anyone's, nor another officer sign a
// draft; every refusal changes nothing.
func TestApprovalTwoOfficers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newApprovalEnv(t, db)
		alice, bob, carol := e.enrol("alice", role.Officer), e.enrol("bob", role.Officer), e.enrol("carol", role.Auditor)
		if res := post(t, e.base, "/console/keys/rotate", alice.cookie, url.Values{"csrf": {alice.csrf}}, nil); res.StatusCode != http.StatusBadRequest {
			t.Errorf("a proposal without its value: %d, want 400", res.StatusCode)
		}
		if res := post(t, e.base, "/console/keys/rotate", carol.cookie, url.Values{"days": {"30"}, "csrf": {carol.csrf}}, nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("an auditor's proposal: %d, want 403", res.StatusCode)
		}
		res := post(t, e.base, "/console/keys/rotate", alice.cookie, url.Values{"days": {"30"}, "csrf": {alice.csrf}}, nil)
		draft := strings.TrimPrefix(res.Header.Get("Location"), "/console/approvals/")
		if got := e.step(e.base, bob, draft); got != http.StatusForbidden {
			t.Errorf("bob signs alice's draft: %d, want 403", got)
		}
		if got := e.state(draft); got != StateDraft {
			t.Errorf("draft is %s", got)
		}
		if status, _, _ := e.request(e.base, "/console/approvals/"+draft+"/begin", &person{cookie: alice.cookie, csrf: "wrong"}, nil); status != http.StatusForbidden {
			t.Errorf("begin without the CSRF token: %d", status)
		}
		if got := e.step(e.base, alice, draft); got != http.StatusOK {
			t.Fatalf("alice signs her draft: %d", got)
		}
		id := draft
		for name, p := range map[string]*person{"alice (her own)": alice, "carol (auditor)": carol} {
			if got := e.step(e.base, p, id); got != http.StatusForbidden {
				t.Errorf("%s approves: %d, want 403", name, got)
			}
		}
		if e.ncalls() != 0 || e.state(id) != StatePending {
			t.Fatalf("refused approvals did something: %d calls, %s", e.ncalls(), e.state(id))
		}
		if got := e.step(e.base, bob, id); got != http.StatusOK {
			t.Fatalf("bob approves: %d", got)
		}
		prop, _ := e.st.proposal(context.Background(), e.st.db, id)
		if e.ncalls() != 1 {
			t.Fatalf("%d calls, want 1", e.ncalls())
		}
		c := e.calls[0]
		if c.Actor != role.Officer.As("alice") || c.Approver != role.Officer.As("bob") || c.Digest != prop.DigestHex() ||
			c.Form.Encode() != "days=30" || prop.State(e.st.now()) != StateDone || prop.Outcome != "rotated for 30 days" {
			t.Errorf("call %+v, proposal %+v", c, prop)
		}
		if got := e.step(e.base, bob, id); got != http.StatusConflict {
			t.Errorf("a second approval: %d, want 409", got)
		}
		if e.ncalls() != 1 {
			t.Errorf("a second approval ran the action again")
		}
		var approve audit.Record
		err := e.st.log.Records(context.Background(), 1, func(r audit.Record) error {
			if r.Action == "console.approve" {
				approve = r
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]string
		raw, _ := approve.Details.(json.RawMessage)
		json.Unmarshal(raw, &d)
		if approve.Actor != "officer:bob" || d["proposer"] != "alice" || d["approver"] != "bob" || d["digest"] != prop.DigestHex() {
			t.Errorf("approval audited as %+v", approve)
		}
		got := strings.Join(auditActions(t, e.st), "\n")
		for _, want := range []string{"officer:alice console.propose test.key.rotate", "officer:alice console.refused console.approval " + id,
			"auditor:carol console.refused console.approval " + id, "officer:bob console.refused console.approval " + id} {
			if !strings.Contains(got, want) {
				t.Errorf("audit lacks %q:\n%s", want, got)
			}
		}
	})
}

// TestApprovalReplay: a passkey's approval of one proposal, sent for
// another (with that one's ceremony, or its own), or in another session,
// is refused and does nothing: the challenge is derived from the
// proposal's digest and id, and the ceremony bound to its session.
func TestApprovalReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newApprovalEnv(t, db)
		alice, bob := e.enrol("alice", role.Officer), e.enrol("bob", role.Officer)
		p1, p2 := e.propose(alice, "30"), e.propose(alice, "60")
		_, c1, cookie1 := e.begin(e.base, bob, p1)
		answer := bob.auth.assert(t, e.base, c1)
		_, _, cookie2 := e.begin(e.base, bob, p2)
		if got := e.finish(e.base, bob, p2, cookie2, answer); got != http.StatusForbidden {
			t.Errorf("P1's approval with P2's ceremony: %d, want 403", got)
		}
		if got := e.finish(e.base, bob, p2, cookie1, answer); got != http.StatusBadRequest {
			t.Errorf("P1's approval and ceremony sent for P2: %d, want 400", got)
		}
		dave := e.enrol("dave", role.Officer)
		_, c2, cookie2 := e.begin(e.base, bob, p2)
		if got := e.finish(e.base, dave, p2, cookie2, bob.auth.assert(t, e.base, c2)); got != http.StatusBadRequest {
			t.Errorf("bob's ceremony and approval sent in dave's session: %d, want 400", got)
		}
		if e.ncalls() != 0 || e.state(p1) != StatePending || e.state(p2) != StatePending {
			t.Fatalf("a replayed approval did something: %d calls", e.ncalls())
		}
		_, c1, cookie1 = e.begin(e.base, bob, p1)
		answer = bob.auth.assert(t, e.base, c1)
		if got := e.finish(e.base, bob, p1, cookie1, answer); got != http.StatusOK {
			t.Fatalf("bob approves P1: %d", got)
		}
		_, _, cookie2 = e.begin(e.base, bob, p2)
		if got := e.finish(e.base, bob, p2, cookie2, answer); got != http.StatusForbidden {
			t.Errorf("P1's used approval replayed for P2: %d, want 403", got)
		}
		if e.ncalls() != 1 || e.calls[0].Form.Get("days") != "30" || e.state(p2) != StatePending {
			t.Errorf("calls %+v, P2 %s", e.calls, e.state(p2))
		}
		if d1, d2 := operationDigest("Test", Proposal{Params: map[string]string{"a": "bc"}}),
			operationDigest("Test", Proposal{Params: map[string]string{"ab": "c"}}); hex.EncodeToString(d1) == hex.EncodeToString(d2) {
			t.Error("the digest does not separate its fields")
		}
	})
}

// TestApprovalLifecycle: a proposal expires unapproved, is withdrawn only
// by its proposer, survives a restart of the console, and stays pending
// when its operation is refused.
func TestApprovalLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newApprovalEnv(t, db)
		alice, bob := e.enrol("alice", role.Officer), e.enrol("bob", role.Officer)
		late := e.propose(alice, "30")
		e.clock.add(testLifetime)
		if got := e.step(e.base, bob, late); got != http.StatusConflict {
			t.Errorf("approving an expired proposal: %d, want 409", got)
		}
		if pending, err := e.st.pendingProposals(context.Background()); err != nil || len(pending) != 0 {
			t.Errorf("pending after expiry: %v, %v", pending, err)
		}
		gone := e.propose(alice, "31")
		form := func(p *person) url.Values { return url.Values{"csrf": {p.csrf}} }
		if res := post(t, e.base, "/console/approvals/"+gone+"/withdraw", bob.cookie, form(bob), nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("bob withdraws alice's: %d, want 403", res.StatusCode)
		}
		if res := post(t, e.base, "/console/approvals/"+gone+"/withdraw", alice.cookie, form(alice), nil); res.StatusCode != http.StatusSeeOther {
			t.Errorf("alice withdraws hers: %d", res.StatusCode)
		}
		if got := e.step(e.base, bob, gone); got != http.StatusConflict {
			t.Errorf("approving a withdrawn proposal: %d, want 409", got)
		}
		unlucky := e.propose(alice, "13")
		if got := e.step(e.base, bob, unlucky); got != http.StatusBadRequest {
			t.Errorf("an operation refused with a bad value: %d, want 400", got)
		}
		if got := e.state(unlucky); got != StatePending {
			t.Errorf("a refused operation left its proposal %s", got)
		}
		kept := e.propose(alice, "90")
		st2, err := OpenStore(context.Background(), db, e.clock.now)
		if err != nil {
			t.Fatal(err)
		}
		restarted := e.serve(st2)
		if got := e.step(restarted, bob, kept); got != http.StatusOK {
			t.Fatalf("approving after a restart: %d", got)
		}
		if e.ncalls() != 1 || e.calls[0].Form.Get("days") != "90" {
			t.Errorf("calls %+v", e.calls)
		}
		if got := strings.Join(auditActions(t, e.st), "\n"); !strings.Contains(got, "officer:alice console.withdraw test.key.rotate") {
			t.Errorf("withdrawal not audited:\n%s", got)
		}
	})
}

// TestApprovalPages: the approvals page lists a pending proposal with its
// words, parameters and digest; its page offers the proposer withdrawal
// and another officer the approval, and says why not to the proposer.
func TestApprovalPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newApprovalEnv(t, db)
		alice, bob := e.enrol("alice", role.Officer), e.enrol("bob", role.Officer)
		id := e.propose(alice, "30")
		prop, _ := e.st.proposal(context.Background(), e.st.db, id)
		get := func(p *person, path string) string {
			req, _ := http.NewRequest(http.MethodGet, e.base+path, nil)
			req.AddCookie(p.cookie)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", path, res.StatusCode)
			}
			return string(b)
		}
		list := get(bob, "/console/approvals")
		for _, want := range []string{"Rotate the key for 30 days", "days = 30", prop.DigestHex(), "/console/approvals/" + id} {
			if !strings.Contains(list, want) {
				t.Errorf("approvals page lacks %q", want)
			}
		}
		if page := get(bob, "/console/approvals/"+id); !strings.Contains(page, "Approve with your passkey") || strings.Contains(page, "Withdraw the proposal") {
			t.Error("bob is not offered the approval, or is offered withdrawal")
		}
		if page := get(alice, "/console/approvals/"+id); strings.Contains(page, "Approve with your passkey") ||
			!strings.Contains(page, "a different officer must approve it") || !strings.Contains(page, "Withdraw the proposal") {
			t.Error("alice is offered her own approval, or not withdrawal")
		}
	})
}

// TestApprovalConfig: a Dual action without Describe is refused when the
// console is made, and a site with a Dual action offers the approvals
// page in its navigation.
func TestApprovalConfig(t *testing.T) {
	e := &approvalEnv{t: t}
	site := e.site()
	site.Pages[1].Actions[0].Describe = nil
	if _, err := New(Config{Store: &Store{}, Site: site, Origin: "http://localhost"}); err == nil {
		t.Error("a Dual action without Describe accepted")
	}
	s, err := New(Config{Store: &Store{now: time.Now}, Site: e.site(), Origin: "http://localhost"})
	if err != nil {
		t.Fatal(err)
	}
	v := s.view(&session{account: Account{Name: "alice", Role: role.Officer}}, "x", "", nil)
	found := false
	for _, n := range v.Nav {
		found = found || n.Path == "/console/approvals"
	}
	if !found || s.cfg.ProposalLifetime != DefaultProposalLifetime {
		t.Errorf("approvals not offered (%v) or lifetime %v", v.Nav, s.cfg.ProposalLifetime)
	}
}
