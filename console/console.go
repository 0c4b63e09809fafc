package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/stskms/stskms/internal/role"
)

// OpRevoke is the operation a Site's Allow is asked about before a
// signed-in person revokes an account from the console.
const OpRevoke = "console.revoke"

// Site is what a console shows of one component, and its rules.
type Site struct {
	// Name is the component in headings and titles: "KMC", "Security
	// module".
	Name string
	// Allow is the component's own role check (kmc.Allow, sm.Allow): the
	// console asks it before every state change, and pages ask it before
	// offering one.
	Allow func(a role.Actor, op string) error
	// Pages are the component's pages; the first is the overview at
	// /console/.
	Pages []Page
	// Explain, if not nil, says how the component's API answers err: its
	// HTTP status and words for people, or status 0 for an internal
	// error, whose words are logged and not shown.
	Explain func(err error) (status int, text string)
}

// Page is one page of a Site.
type Page struct {
	// Path is the page under /console/: "" for the overview, else one
	// lower-case word ("identity").
	Path string
	// Title is the page's heading and its entry in the navigation.
	Title string
	// Op, if not "", is the operation the site's Allow must grant a
	// person before the page is read (kmc.OpRead); a refusal is a 403 and
	// audited.
	Op string
	// Template is html/template text that defines "content", rendered
	// with a *View whose Data is what Data returned.
	Template string
	// Data reads what the page shows for a, filtered and paged as q asks.
	Data func(ctx context.Context, a role.Actor, q Query) (any, error)
	// Actions are the state changes the page offers as forms.
	Actions []Action
	// Charts are the page's charts, served as SVG under /console/charts/.
	Charts []PageChart
}

// Config is what a console Server runs on.
type Config struct {
	// Store holds accounts and sessions, and the audit log. Required.
	Store *Store
	// Site is the component. Required, with at least one page.
	Site Site
	// Origin is the scheme, host and port the browser reaches the console
	// at: "http://localhost:8081" on a loopback listener, or
	// "https://kmc.example.org:8081" with TLS. Passkeys are bound to its
	// host (the WebAuthn RP ID) and every ceremony to the origin; a
	// request for another host is redirected to it (GET) or refused.
	Origin string
	// IdleTimeout and MaxSession end sessions (DefaultIdleTimeout,
	// DefaultMaxSession if 0).
	IdleTimeout, MaxSession time.Duration
	// ProposalLifetime is how long a proposal of a Dual action waits for
	// its approval (DefaultProposalLifetime if 0).
	ProposalLifetime time.Duration
	// Log receives server errors (never secrets); nil discards them.
	Log *log.Logger
}

// Server serves the console under /console/. It is an http.Handler.
type Server struct {
	cfg    Config
	st     *Store
	wa     *webauthn.WebAuthn
	host   string // the origin's host[:port], as requests must name it
	secure bool   // https: Secure cookies, HSTS
	mux    *http.ServeMux
	core   map[string]*template.Template
	pages  map[string]*sitePage
	dual   bool // some action is under dual control: the approvals page is offered
	charts map[string]*siteChart
}

// sitePage is a Page with its parsed template.
type sitePage struct {
	Page
	tmpl *template.Template
}

//go:embed templates static
var assets embed.FS

// New checks cfg and returns the console's handler.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Site.Allow == nil || len(cfg.Site.Pages) == 0 || cfg.Site.Name == "" {
		return nil, errors.New("console: Config needs a Store and a Site with a name, Allow and pages")
	}
	u, err := url.Parse(cfg.Origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.User != nil {
		return nil, fmt.Errorf("console: Origin %q: want scheme://host[:port]", cfg.Origin)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSession <= 0 {
		cfg.MaxSession = DefaultMaxSession
	}
	if cfg.ProposalLifetime <= 0 {
		cfg.ProposalLifetime = DefaultProposalLifetime
	}
	if cfg.Log == nil {
		cfg.Log = log.New(io.Discard, "", 0)
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: "stskms " + cfg.Site.Name,
		RPOrigins:     []string{cfg.Origin},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationPreferred,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s := &Server{cfg: cfg, st: cfg.Store, wa: wa, host: strings.ToLower(u.Host), secure: u.Scheme == "https",
		mux: http.NewServeMux(), core: map[string]*template.Template{}, pages: map[string]*sitePage{},
		charts: map[string]*siteChart{}}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// coreTemplates are the console's own pages.
var coreTemplates = []string{"signin", "enrol", "accounts", "message", "approvals"}

// parseTemplates parses the layout with each core and site page.
func (s *Server) parseTemplates() error {
	layout, err := template.New("layout").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/charts.html")
	if err != nil {
		return err
	}
	for _, name := range coreTemplates {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "templates/"+name+".html")
		if err != nil {
			return err
		}
		s.core[name] = t
	}
	for i, p := range s.cfg.Site.Pages {
		if (i == 0) != (p.Path == "") || i > 0 && !validPath(p.Path) {
			return fmt.Errorf("console: page %q: the first page's path is \"\", the others' one lower-case word", p.Path)
		}
		if _, dup := s.pages[p.Path]; dup {
			return fmt.Errorf("console: two pages at %q", p.Path)
		}
		t, err := template.Must(layout.Clone()).Parse(p.Template)
		if err != nil {
			return fmt.Errorf("console: page %q: %w", p.Path, err)
		}
		s.pages[p.Path] = &sitePage{Page: p, tmpl: t}
		if err := checkActions(p); err != nil {
			return err
		}
		for _, a := range p.Actions {
			s.dual = s.dual || a.Dual
		}
		if err := s.addCharts(s.pages[p.Path]); err != nil {
			return err
		}
	}
	return nil
}

// reserved are paths the console itself serves.
var reserved = map[string]bool{"signin": true, "signout": true, "enrol": true, "accounts": true, "static": true, "approvals": true, "charts": true}

// validPath accepts one lower-case word that is not reserved.
func validPath(p string) bool {
	if p == "" || reserved[p] {
		return false
	}
	for _, c := range p {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 UTC")
	},
}

// routes registers the console's handlers.
func (s *Server) routes() {
	static, _ := fs.Sub(assets, "static")
	s.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /console/signin", s.signInPage)
	s.mux.HandleFunc("POST /console/signin/begin", s.signInBegin)
	s.mux.HandleFunc("POST /console/signin/finish", s.signInFinish)
	s.mux.HandleFunc("GET /console/enrol/{code}", s.enrolPage)
	s.mux.HandleFunc("POST /console/enrol/{code}/begin", s.enrolBegin)
	s.mux.HandleFunc("POST /console/enrol/{code}/finish", s.enrolFinish)
	s.mux.HandleFunc("POST /console/signout", s.signedIn(s.signOut))
	s.mux.HandleFunc("GET /console/accounts", s.signedIn(s.accountsPage))
	s.mux.HandleFunc("POST /console/accounts/revoke", s.signedIn(s.revokeAccount))
	s.mux.HandleFunc("GET /console/approvals", s.signedIn(s.approvalsPage))
	s.mux.HandleFunc("GET /console/approvals/{id}", s.signedIn(s.proposalPage))
	s.mux.HandleFunc("POST /console/approvals/{id}/begin", s.signedIn(s.approvalBegin))
	s.mux.HandleFunc("POST /console/approvals/{id}/finish", s.signedIn(s.approvalFinish))
	s.mux.HandleFunc("POST /console/approvals/{id}/withdraw", s.signedIn(s.withdraw))
	s.mux.HandleFunc("GET /console/charts/{name}", s.signedIn(s.chart))
	s.mux.HandleFunc("GET /console/{$}", s.signedIn(s.sitePage))
	s.mux.HandleFunc("GET /console/{page}", s.signedIn(s.sitePage))
	s.mux.HandleFunc("POST /console/{page}/{action}", s.signedIn(s.act))
	s.mux.HandleFunc("POST /console/{page}/{action}/begin", s.signedIn(s.confirmBegin))
	s.mux.HandleFunc("POST /console/{page}/{action}/finish", s.signedIn(s.confirmFinish))
	s.mux.HandleFunc("/console/", s.notFound)
}

// MaxBody bounds every request body (a passkey response is about 1 KiB; a
// form carrying a Key Load File of 25 keys about 8 KiB).
const MaxBody = 64 << 10

// ServeHTTP serves a request under /console/: the security headers on
// every answer, the host check, and cross-origin POSTs refused before any
// handler runs.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.headers(w.Header())
	if !strings.EqualFold(r.Host, s.host) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, s.cfg.Origin+r.URL.EscapedPath(), http.StatusTemporaryRedirect)
			return
		}
		s.message(w, r, http.StatusMisdirectedRequest, "Wrong address", "The console answers only at "+s.cfg.Origin+".")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := crossOrigin.Check(r); err != nil {
			s.message(w, r, http.StatusForbidden, "Refused", "A request from another site was refused.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	}
	s.mux.ServeHTTP(w, r)
}

// crossOrigin refuses state changes a browser sends from another origin
// (Sec-Fetch-Site, Origin): a second line behind the CSRF token and the
// SameSite=Strict cookies.
var crossOrigin = http.NewCrossOriginProtection()

// csp is the console's Content-Security-Policy: everything from its own
// origin, no inline or eval script, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers of every answer.
func (s *Server) headers(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer") // enrolment paths hold a one-time code
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	h.Set("Cache-Control", "no-store")
	if s.secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}
