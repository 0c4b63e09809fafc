package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/kmcconsole"
	"github.com/stskms/stskms/console/smconsole"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
)

// mountKMCConsole serves the KMC's operator console under /console/ beside
// its admin API, on the API's listener (docs/console.md). The returned func
// closes the console's database handles (its own, the gateway queue's).
func mountKMCConsole(e *env, web *apiServer, f *kmcFlags, k *kmc.KMC, apiHandler http.Handler) (http.Handler, func()) {
	q, closeQueue := consoleGatewayQueue(e, f.dir, f.dbPasswordFile)
	h, closeConsole := kmcConsole.mount(e, web, f.dir, f.dbPasswordFile, kmcconsole.Site(k, kmcconsole.Options{Queue: q}), apiHandler)
	return h, func() { closeConsole(); closeQueue() }
}

// mountSMConsole serves the module's operator console under /console/
// beside its HTTP API, on the API's listener.
func mountSMConsole(e *env, web *apiServer, f *smFlags, m *sm.Module, apiHandler http.Handler) (http.Handler, func()) {
	return smConsole.mount(e, web, f.dir, f.dbPasswordFile, smconsole.Site(m), apiHandler)
}

// mount returns a handler that serves /console/ with the console of site
// and everything else with apiHandler. The console has its own handle on
// the directory's database. When it cannot be served (no host name for
// passkeys, the database), the API is served alone and the reason logged.
func (c consoleOf) mount(e *env, web *apiServer, dir, pwFile string, site console.Site, apiHandler http.Handler) (http.Handler, func()) {
	logf := func(format string, args ...any) {
		fmt.Fprintf(e.stderr, "stskms "+c.cmd+" serve: console: "+format+"\n", args...)
	}
	origin := web.consoleOrigin
	var err error
	if origin == "" {
		origin, err = consoleOrigin(web.ln.Addr(), web.tls)
	}
	if err != nil {
		logf("not served: %v", err)
		return apiHandler, func() {}
	}
	db, st, err := c.open(e, &dirFlags{dir: dir, dbPasswordFile: pwFile})
	if err != nil {
		logf("not served: %v", err)
		return apiHandler, func() {}
	}
	h, err := console.New(console.Config{Store: st, Site: site, Origin: origin, Log: logger(logf)})
	if err != nil {
		db.Close()
		logf("not served: %v", err)
		return apiHandler, func() {}
	}
	logf("%s/console/", origin)
	mux := http.NewServeMux()
	mux.Handle("/console/", h)
	mux.Handle("/", apiHandler)
	return mux, func() { db.Close() }
}

// consoleOrigin is the origin a browser reaches the console at: on a
// loopback address http(s)://localhost:PORT (a passkey needs a host name,
// never an address), else https:// and the first DNS name of the TLS
// certificate. Default ports are left out, as browsers do.
func consoleOrigin(addr net.Addr, cfg *tls.Config) (string, error) {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "", err
	}
	scheme := "http"
	if cfg != nil {
		scheme = "https"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		host = "localhost"
	} else if host, err = certHost(cfg); err != nil {
		return "", err
	}
	if p, _ := strconv.Atoi(port); scheme == "http" && p == 80 || scheme == "https" && p == 443 {
		return scheme + "://" + host, nil
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// addConsoleOriginFlag adds --console-origin to fs (kmc serve, sm serve).
func addConsoleOriginFlag(fs *flagSet) *string {
	return fs.String("console-origin", "",
		"the origin browsers reach the console at, https://HOST[:PORT], when that is not this listener\n"+
			"(a reverse proxy that keeps the Host header; default: http://localhost:PORT on loopback,\n"+
			"else https:// and the first DNS name of --tls-cert)")
}

// parseConsoleOrigin checks a --console-origin and returns it as browsers
// send it (host in lower case, no default port). Passkeys need a secure
// context and a host name: https, or http on localhost, and never an IP
// address; an origin has no path, query or user. "" stays "" (not given).
func parseConsoleOrigin(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	bad := func(why string) error { return usageError(fmt.Sprintf("--console-origin %q: %s", s, why)) }
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "", bad("want https://HOST[:PORT]")
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", bad("an origin has no user, path, query or fragment")
	case net.ParseIP(u.Hostname()) != nil:
		return "", bad("passkeys are bound to a host name, not an address")
	case u.Scheme != "https" && !(u.Scheme == "http" && strings.EqualFold(u.Hostname(), "localhost")):
		return "", bad("browsers use passkeys only over https (or http on localhost)")
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" || u.Scheme == "https" && port == "443" || u.Scheme == "http" && port == "80" {
		return u.Scheme + "://" + host, nil
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", bad("port " + port + ": want 1 to 65535")
	}
	return u.Scheme + "://" + net.JoinHostPort(host, port), nil
}

// certHost returns the first DNS name of cfg's certificate.
func certHost(cfg *tls.Config) (string, error) {
	if cfg == nil || len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
		return "", errors.New("off loopback the console needs TLS and a certificate naming its host")
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		return "", err
	}
	if len(leaf.DNSNames) == 0 {
		return "", errors.New("the TLS certificate names no DNS host; passkeys are bound to a host name")
	}
	return leaf.DNSNames[0], nil
}

// logger adapts logf to the console's *log.Logger.
func logger(logf func(string, ...any)) *log.Logger { return log.New(consoleLog{logf}, "", 0) }

// consoleLog is an io.Writer for a log.Logger that writes through logf.
type consoleLog struct{ logf func(string, ...any) }

func (l consoleLog) Write(p []byte) (int, error) {
	l.logf("%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
