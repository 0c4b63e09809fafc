package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/stskms/stskms/internal/role"
)

// Action is a state change a page offers as a form, posted to
// /console/PAGE/NAME with the session's CSRF token (field "csrf"). The
// console asks the site's Allow for Op before Do runs, and audits a
// refusal; the component checks the role again and audits the change with
// the person's name.
type Action struct {
	// Name is one lower-case word ("grant"), unique on its page.
	Name string
	// Op is the operation the site's Allow must grant the person.
	Op string
	// Do does the action and says what was done, for people. An error is
	// answered as the site's Explain says, an *InputError with 400.
	Do func(ctx context.Context, c Call) (done string, err error)
	// Download, instead of Do, answers the action with a file to save
	// (a Content-Disposition attachment), not a page: see File.
	Download func(ctx context.Context, c Call) (File, error)
	// Dual marks an operation under dual control: posting its form only
	// proposes it (Describe), and Do runs when a second officer approves
	// it, with both passkeys' signatures of the operation's digest
	// (docs/console.md, "Two-person approvals").
	Dual bool
	// Describe, required if Dual, is the canonical Operation of the
	// proposer's form, or an error as Do's (an *InputError for a bad
	// value). It changes nothing; Do receives the Operation's Params as
	// its form.
	Describe func(ctx context.Context, c Call) (Operation, error)
	// Confirm marks a step one person takes alone, with their passkey's
	// signature of the operation's digest (docs/console.md, "Passkey-
	// confirmed steps"): the form may carry a secret the console never
	// keeps. Describe (required) gets the form without its Secret fields;
	// Do gets the whole form once the passkey signed the Operation.
	Confirm bool
	// Secret names the form fields of a Confirm action that hold a
	// secret: never given to Describe, never kept, only given to Do.
	Secret []string
}

// Call is one run of an Action: who asked, and the form they sent.
type Call struct {
	Actor role.Actor
	Form  url.Values
	// Approver is the second officer of a Dual action, who approved what
	// Actor proposed; zero for other actions. The action's component
	// checks the pair with its own dual-control rule.
	Approver role.Actor
	// Digest is the approved or confirmed operation's digest (hex), ""
	// for an action neither Dual nor Confirm.
	Digest string
	// Attachment is the file the approved operation carries
	// (Operation.Attachment), its SHA-256 checked against the digest's;
	// nil if none.
	Attachment []byte
}

// InputError is a form value the console cannot take: answered 400,
// naming the field.
type InputError struct {
	Field, Problem string
}

func (e *InputError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Problem) }

// BadInput returns the *InputError of field.
func BadInput(field, problem string) error { return &InputError{Field: field, Problem: problem} }

// checkActions checks the names of p's actions.
func checkActions(p Page) error {
	seen := map[string]bool{}
	for _, a := range p.Actions {
		if !validPath(a.Name) || seen[a.Name] || a.Op == "" || (a.Do == nil) == (a.Download == nil) || (a.Dual || a.Confirm) && (a.Describe == nil || a.Do == nil) ||
			a.Dual && a.Confirm || len(a.Secret) > 0 && !a.Confirm {
			return fmt.Errorf("console: page %q: action %q needs a unique lower-case name, an Op and Do or Download", p.Path, a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}

// action finds the action of a request's path.
func (s *Server) action(r *http.Request) (*sitePage, *Action) {
	p, ok := s.pages[r.PathValue("page")]
	if !ok {
		return nil, nil
	}
	for i := range p.Actions {
		if p.Actions[i].Name == r.PathValue("action") {
			return p, &p.Actions[i]
		}
	}
	return p, nil
}

// act runs one of a page's actions for a signed-in person.
func (s *Server) act(w http.ResponseWriter, r *http.Request, sess *session) {
	p, a := s.action(r)
	if a == nil {
		s.notFound(w, r)
		return
	}
	if !s.checkForm(w, r, sess) || !s.allow(w, r, sess, a.Op) {
		return
	}
	if a.Download != nil {
		s.download(w, r, sess, p, a)
		return
	}
	if a.Dual {
		s.propose(w, r, sess, p, a)
		return
	}
	if a.Confirm {
		s.refused(r, sess.actor(), a.Op, "a passkey-confirmed step posted without the passkey")
		s.outcome(w, sess, http.StatusBadRequest, "Not done", "This step needs your passkey: use the page's form in a browser that runs the console's script.", p)
		return
	}
	done, err := a.Do(r.Context(), Call{Actor: sess.actor(), Form: r.PostForm})
	if err != nil {
		s.refusedAction(w, r, sess, p, a.Op, err)
		return
	}
	s.outcome(w, sess, http.StatusOK, "Done", done, p)
}

// refusedAction answers an action's error: its words and status as the
// site explains them (a refusal is audited), or a server failure.
func (s *Server) refusedAction(w http.ResponseWriter, r *http.Request, sess *session, p *sitePage, op string, err error) {
	status, text := s.explain(err)
	if status == 0 || status >= 500 {
		s.failed(w, r, err)
		return
	}
	s.refused(r, sess.actor(), op, text)
	s.outcome(w, sess, status, "Not done", text, p)
}

// explain is the status and words of an action's error (0: internal).
func (s *Server) explain(err error) (int, string) {
	var ie *InputError
	if errors.As(err, &ie) {
		return http.StatusBadRequest, ie.Error()
	}
	if s.cfg.Site.Explain == nil {
		return 0, ""
	}
	return s.cfg.Site.Explain(err)
}

// Message is what a message page shows: one text and the way back.
type Message struct {
	Text, Back, BackTitle string
	Done                  bool // the text says what was done, not why not
}

// outcome renders what became of an action, in the signed-in layout, with
// a link back to its page.
func (s *Server) outcome(w http.ResponseWriter, sess *session, status int, title, text string, p *sitePage) {
	s.render(w, status, s.core["message"], s.view(sess, title, "",
		Message{Text: text, Back: "/console/" + p.Path, BackTitle: p.Title, Done: status < 400}))
}
