package console

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
)

// Cookies of the console, both HttpOnly, SameSite=Strict, Path /console/,
// and Secure when the console is served over TLS.
const (
	sessionCookie  = "stskms_console"
	ceremonyCookie = "stskms_console_ceremony"
)

// View is what every page template is rendered with.
type View struct {
	Site  string     // the component's name
	Title string     // the page's heading
	Actor role.Actor // the person signed in (zero when signed out)
	CSRF  string     // the session's CSRF token, for every form
	Nav   []NavItem  // the site's pages, then the console's own
	Now   time.Time  // when the page was made (UTC)
	Data  any        // the page's own data
	allow func(role.Actor, string) error
}

// NavItem is one entry of the navigation.
type NavItem struct {
	Path, Title string
	Current     bool
}

// SignedIn reports whether the page is for a signed-in person.
func (v *View) SignedIn() bool { return v.Actor.Name != "" }

// Can reports whether the person signed in may do op, by the site's rules:
// pages offer only what Can allows, and the handler asks again.
func (v *View) Can(op string) bool {
	return v.SignedIn() && v.allow(v.Actor, op) == nil
}

// view makes the View of a page for sess (nil: signed out).
func (s *Server) view(sess *session, title, current string, data any) *View {
	v := &View{Site: s.cfg.Site.Name, Title: title, Now: s.st.now().UTC(), Data: data, allow: s.cfg.Site.Allow}
	if sess == nil {
		return v
	}
	v.Actor, v.CSRF = sess.actor(), sess.csrf
	for _, p := range s.cfg.Site.Pages {
		if p.Op != "" && s.cfg.Site.Allow(v.Actor, p.Op) != nil {
			continue // not offered: the page would refuse
		}
		v.Nav = append(v.Nav, NavItem{Path: "/console/" + p.Path, Title: p.Title, Current: p.Path == current})
	}
	if s.dual {
		v.Nav = append(v.Nav, NavItem{Path: "/console/approvals", Title: "Approvals", Current: current == "approvals"})
	}
	v.Nav = append(v.Nav, NavItem{Path: "/console/accounts", Title: "Accounts", Current: current == "accounts"})
	return v
}

// render writes t with v, or a plain error if it fails (before any byte
// of it went out).
func (s *Server) render(w http.ResponseWriter, status int, t *template.Template, v *View) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		s.cfg.Log.Printf("console: page %q: %v", v.Title, err)
		http.Error(w, "console: the page could not be made", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// message renders a page that says one thing (an error, a refusal).
func (s *Server) message(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	s.render(w, status, s.core["message"], s.view(nil, title, "", Message{Text: text, Back: "/console/", BackTitle: "the console"}))
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.message(w, r, http.StatusNotFound, "Not found", "There is no such page in the console.")
}

// failed answers a server-side failure (the database) without its text.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.Log.Printf("console: %s %s: %v", r.Method, r.URL.Path, err)
	s.message(w, r, http.StatusInternalServerError, "Failed", "The console could not do this; the server's log says why.")
}

// signedIn runs h for a request of a live session; anyone else is sent to
// sign in (GET) or refused (POST).
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var id string
		if c, err := r.Cookie(sessionCookie); err == nil {
			id = c.Value
		}
		sess, err := s.st.session(r.Context(), id, s.cfg.IdleTimeout, s.cfg.MaxSession)
		switch {
		case errors.Is(err, errNoSession) && r.Method == http.MethodGet:
			http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
		case errors.Is(err, errNoSession):
			s.message(w, r, http.StatusUnauthorized, "Signed out", "Your session has ended; sign in again.")
		case err != nil:
			s.failed(w, r, err)
		default:
			h(w, r, &sess)
		}
	}
}

// checkForm checks a POST's CSRF token against the session's; a mismatch
// is refused and audited with the person's name.
func (s *Server) checkForm(w http.ResponseWriter, r *http.Request, sess *session) bool {
	if tokenMatches(r.PostFormValue("csrf"), sess.csrf) {
		return true
	}
	s.refused(r, sess.actor(), r.URL.Path, "missing or wrong CSRF token")
	s.message(w, r, http.StatusForbidden, "Refused", "The form was not sent from this console (CSRF token missing or wrong). Reload the page and try again.")
	return false
}

// allow checks op with the site's rules; a refusal is audited.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, sess *session, op string) bool {
	if err := s.cfg.Site.Allow(sess.actor(), op); err != nil {
		s.refused(r, sess.actor(), op, "role")
		s.message(w, r, http.StatusForbidden, "Not allowed", "Your role ("+sess.account.Role.String()+") may not do this.")
		return false
	}
	return true
}

// refused audits a refused attempt of a known person.
func (s *Server) refused(r *http.Request, a role.Actor, what, why string) {
	if _, err := s.st.log.AppendNow(r.Context(), audit.Entry{Actor: a.String(), Action: "console.refused", Subject: what,
		Details: map[string]string{"reason": why}}); err != nil {
		s.cfg.Log.Printf("console: failed to audit a refusal: %v", err)
	}
}

// sitePage renders one of the site's pages.
func (s *Server) sitePage(w http.ResponseWriter, r *http.Request, sess *session) {
	p, ok := s.pages[r.PathValue("page")]
	if !ok {
		s.notFound(w, r)
		return
	}
	if p.Op != "" && !s.allow(w, r, sess, p.Op) {
		return
	}
	data, err := p.Data(r.Context(), sess.actor(), Query{r.URL.Query()})
	var bad *InputError
	if errors.As(err, &bad) { // a filter the page cannot take: 400 naming it
		s.outcome(w, sess, http.StatusBadRequest, "Not shown", bad.Error(), p)
		return
	}
	if err != nil {
		s.failed(w, r, err)
		return
	}
	s.render(w, http.StatusOK, p.tmpl, s.view(sess, p.Title, p.Path, data))
}

// accountsPage lists the console's accounts.
func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request, sess *session) {
	accounts, err := s.st.Accounts(r.Context())
	if err != nil {
		s.failed(w, r, err)
		return
	}
	s.render(w, http.StatusOK, s.core["accounts"], s.view(sess, "Accounts", "accounts", accounts))
}

// revokeAccount revokes the account named in the form (OpRevoke).
func (s *Server) revokeAccount(w http.ResponseWriter, r *http.Request, sess *session) {
	if !s.checkForm(w, r, sess) || !s.allow(w, r, sess, OpRevoke) {
		return
	}
	name := r.PostFormValue("name")
	err := s.st.Revoke(r.Context(), sess.actor().String(), name)
	switch {
	case errors.Is(err, ErrNoAccount):
		s.message(w, r, http.StatusNotFound, "No such account", "There is no active account of that name.")
	case err != nil:
		s.failed(w, r, err)
	default:
		http.Redirect(w, r, "/console/accounts", http.StatusSeeOther)
	}
}

// signOut ends the session.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request, sess *session) {
	if !s.checkForm(w, r, sess) {
		return
	}
	err := s.st.log.Tx(r.Context(), func(tx *store.Tx) error {
		if err := endSession(r.Context(), tx, sess.idHash); err != nil {
			return err
		}
		_, err := s.st.log.Append(r.Context(), tx, audit.Entry{Actor: sess.actor().String(), Action: "console.signout"})
		return err
	})
	if err != nil {
		s.failed(w, r, err)
		return
	}
	s.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

// setCookie sets (maxAge > 0 seconds, 0: for the browser's session) or
// clears (maxAge < 0) one of the console's cookies.
func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
}
