package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// attachmentPage is the test site's "files" page: its Dual action "load"
// carries the form's "file" as its Operation.Attachment; its Do records
// each call in e.
func attachmentPage(e *approvalEnv) Page {
	none := func(context.Context, role.Actor, Query) (any, error) { return nil, nil }
	return Page{Path: "files", Title: "Files", Template: `{{define "content"}}<p>files</p>{{end}}`, Data: none,
		Actions: []Action{{Name: "load", Op: "key.rotate", Dual: true,
			Describe: func(_ context.Context, c Call) (Operation, error) {
				f := c.Form.Get("file")
				return Operation{Kind: "test.file.load", Params: map[string]string{"slot": "1"}, Words: "Load a file", Attachment: []byte(f)}, nil
			},
			Do: func(_ context.Context, c Call) (string, error) {
				e.mu.Lock()
				defer e.mu.Unlock()
				e.calls = append(e.calls, c)
				return "loaded " + string(c.Attachment), nil
			}}}}
}

// TestApprovalAttachment: an operation's attachment (a file too large for
// a parameter) is kept with its proposal and named by its SHA-256 in the
// parameters, so the digest both officers sign covers it; Do gets the
// file. An approval of the proposal of one file sent for the proposal of
// another is refused, and so is the approval of a proposal whose kept
// file was changed after it was proposed: nothing runs, it stays pending.
// A Describe may not set the hash's parameter itself.
func TestApprovalAttachment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newApprovalEnv(t, db)
		ctx := context.Background()
		alice, bob := e.enrol("alice", role.Officer), e.enrol("bob", role.Officer)
		p1 := e.proposeForm(alice, "/console/files/load", url.Values{"file": {"file one"}})
		p2 := e.proposeForm(alice, "/console/files/load", url.Values{"file": {"file two"}})
		prop1, _ := e.st.proposal(ctx, e.st.db, p1)
		prop2, _ := e.st.proposal(ctx, e.st.db, p2)
		if prop1.Params[AttachmentParam] != attachmentHash([]byte("file one")) || prop1.DigestHex() == prop2.DigestHex() {
			t.Fatalf("P1 %v, P2 %v", prop1.Params, prop2.Params)
		}
		_, c1, _ := e.begin(e.base, bob, p1)
		answer := bob.auth.assert(t, e.base, c1)
		_, _, cookie2 := e.begin(e.base, bob, p2)
		if got := e.finish(e.base, bob, p2, cookie2, answer); got != http.StatusForbidden {
			t.Errorf("the approval of file one sent for file two: %d, want 403", got)
		}
		if _, err := e.st.db.Exec(ctx, `UPDATE console_proposals SET attachment = $1 WHERE id = $2`, []byte("file 2"), p2); err != nil {
			t.Fatal(err)
		}
		if got := e.step(e.base, bob, p2); got != http.StatusConflict {
			t.Errorf("approving a proposal whose file changed: %d, want 409", got)
		}
		if e.ncalls() != 0 || e.state(p2) != StatePending {
			t.Fatalf("a refused approval did something: %d calls, P2 %s", e.ncalls(), e.state(p2))
		}
		if got := e.step(e.base, bob, p1); got != http.StatusOK {
			t.Fatalf("bob approves P1: %d", got)
		}
		if e.ncalls() != 1 || string(e.calls[0].Attachment) != "file one" || e.calls[0].Form.Get(AttachmentParam) != prop1.Params[AttachmentParam] {
			t.Errorf("calls %+v", e.calls)
		}
		if !strings.Contains(strings.Join(auditActions(t, e.st), "\n"), "officer:bob console.refused console.approval "+p2) {
			t.Error("the refused approval of the changed file is not audited")
		}
		if err := checkOperation(Operation{Kind: "k", Words: "w", Params: map[string]string{AttachmentParam: "00"}}); err == nil {
			t.Error("a Describe set the attachment's hash itself")
		}
	})
}
