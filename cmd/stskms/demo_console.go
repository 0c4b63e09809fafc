package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/loop"
)

// demoOfficer is the name of the officer `demo --console` enrols in each
// console.
const demoOfficer = "demo"

// demoServed is one component of the demo that `demo --console` serves:
// its directory in the loop's, and the serve command that serves it.
type demoServed struct {
	label string // as printed: "KMC", "vending module", ...
	sub   string // the directory in the loop's
	of    consoleOf
	serve func(e *env, args []string) error
}

// demoComponents are the loop's KMC and modules (package loop's layout).
var demoComponents = []demoServed{
	{"KMC", "kmc", kmcConsole, runKMCServe},
	{"vending module", "sm-vending", smConsole, runSMServe},
	{"manufacturing module", "sm-manufacturing", smConsole, runSMServe},
}

// runDemoConsole is `demo --console`: the loop, in --keep's directory or
// a temporary one (removed at the end), then its KMC and modules served
// with their consoles until interrupted.
func runDemoConsole(e *env, o loop.Options, tablesPath string, asJSON bool) (err error) {
	stop := "Ctrl-C stops the servers"
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "stskms-demo-*"); err != nil {
			return err
		}
		defer os.RemoveAll(o.Dir)
		stop += " and removes " + o.Dir
	}
	if err := runDemoLoop(e, o, asJSON); err != nil {
		return err
	}
	return serveDemoConsoles(e, o.Dir, tablesPath, stop)
}

// serveDemoConsoles is `demo --console` after the loop: it serves the
// KMC and the modules kept in dir, each by its own `kmc serve` or `sm
// serve` (API and console) on a free loopback port, prints a one-time
// enrolment path of an officer for each console, and returns when they
// all stopped: on SIGINT or SIGTERM, which each serve handles itself.
func serveDemoConsoles(e *env, dir, tablesPath, stop string) error {
	quiet := &env{stdin: strings.NewReader(""), stdout: e.stderr, stderr: e.stderr, getenv: e.getenv}
	done := make(chan error, len(demoComponents))
	addrFiles := make([]string, len(demoComponents))
	for i, c := range demoComponents {
		addrFiles[i] = filepath.Join(dir, c.sub+".addr")
		args := []string{"--dir", filepath.Join(dir, c.sub), "--http", "127.0.0.1:0", "--addr-file", addrFiles[i]}
		if tablesPath != "" && c.of.cmd == "sm" {
			args = append(args, "--sta-tables", tablesPath)
		}
		go func() {
			err := c.serve(quiet, args)
			if err != nil {
				err = fmt.Errorf("%s: %w", c.label, err)
			}
			done <- err
		}()
	}
	errs := waitDemo(done, len(demoComponents), func() error { return printDemoConsoles(e, dir, addrFiles, stop) })
	return errors.Join(errs...)
}

// waitDemo runs ready once every server listens (printing their paths),
// then waits for the n servers to stop and returns their errors. A server
// that stops before the paths are printed is an error of the demo, and
// ready is not run.
func waitDemo(done <-chan error, n int, ready func() error) []error {
	var errs []error
	readyErr := make(chan error, 1)
	go func() { readyErr <- ready() }()
	waiting := true
	for n > 0 {
		select {
		case err := <-done:
			n--
			if waiting && err == nil {
				err = errors.New("a console stopped before it was ready")
			}
			errs = append(errs, err)
		case err := <-readyErr:
			waiting = false
			if err != nil {
				return append(errs, err) // the servers run on until the process ends
			}
		}
	}
	return errs
}

// printDemoConsoles waits for each server's address file, enrols the
// demo's officer in each console and prints the sign-in URLs.
func printDemoConsoles(e *env, dir string, addrFiles []string, stop string) error {
	type line struct{ label, url string }
	var lines []line
	for i, c := range demoComponents {
		addr, err := waitAddrFile(addrFiles[i], time.Minute)
		if err != nil {
			return fmt.Errorf("%s: %w", c.label, err)
		}
		_, port, _ := strings.Cut(addr, "127.0.0.1:")
		origin := "http://localhost:" + port
		if err := waitConsole(origin, time.Minute); err != nil {
			return fmt.Errorf("%s: %w", c.label, err)
		}
		path, err := enrolDemoOfficer(e, c.of, filepath.Join(dir, c.sub))
		if err != nil {
			return fmt.Errorf("%s: %w", c.label, err)
		}
		lines = append(lines, line{c.label, origin + path})
	}
	fmt.Fprintln(e.stdout, "\nThe consoles are served on localhost. Open each URL in a browser with a passkey (once,")
	fmt.Fprintf(e.stdout, "within 15 minutes) to enrol as officer %q. %s.\n", demoOfficer, stop)
	for _, l := range lines {
		fmt.Fprintf(e.stdout, "  %-22s %s\n", l.label+":", l.url)
	}
	return nil
}

// enrolDemoOfficer enrols the demo's officer in the console of the
// component in dir, as `stskms kmc|sm console enroll` does, and returns
// the one-time path.
func enrolDemoOfficer(e *env, of consoleOf, dir string) (string, error) {
	db, st, err := of.open(e, &dirFlags{dir: dir})
	if err != nil {
		return "", err
	}
	defer db.Close()
	code, _, err := st.Enrol(context.Background(), "cli:demo", demoOfficer, role.Officer)
	if err != nil {
		return "", err
	}
	return console.EnrolPath(code), nil
}

// waitAddrFile waits up to timeout for a serve command's --addr-file and
// returns its first line, the HTTP address.
func waitAddrFile(path string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if first, _, whole := strings.Cut(string(b), "\n"); err == nil && whole {
			return first, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("not listening after %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitConsole waits up to timeout for the console at origin to serve its
// sign-in page: a serve command listens before its console is mounted.
func waitConsole(origin string, timeout time.Duration) error {
	c := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		res, err := c.Get(origin + "/console/signin")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no console at %s after %s", origin, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
