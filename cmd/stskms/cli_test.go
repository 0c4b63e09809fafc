package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stskms runs the command line with stdin and returns its exit code,
// standard output and standard error.
func stskms(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// runCLI runs stskms with args and no input and returns its exit status
// and output.
func runCLI(args ...string) (int, string, string) {
	return stskms("", args...)
}

// mustRunCLI runs stskms with args (runCLI), fails t unless it exits with
// want, and returns its standard output and error.
func mustRunCLI(t testing.TB, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, out, errOut := runCLI(args...)
	if code != want {
		t.Fatalf("stskms %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

// initTestKMC makes a test-mode KMC in a new directory and returns it.
func initTestKMC(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "kmc")
	mustRunCLI(t, 0, "kmc", "init", "--dir", dir, "--mode", "test")
	return dir
}

// initTestSM makes a TEST-ONLY vending module in a new directory and
// returns it.
func initTestSM(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mod")
	mustRunCLI(t, 0, "sm", "init", "--dir", dir, "--variant", "vending", "--test")
	return dir
}

// serving is an "stskms sm serve" or "stskms kmc serve" running
// in-process.
type serving struct {
	name       string // the command: "sm serve", "kmc serve"
	dir        string
	http, sts6 string // the addresses it wrote (sts6: only with --listen)
	done       chan int
	out, err   bytes.Buffer
}

// startServing runs "GROUP serve --dir DIR --http 127.0.0.1:0" with args
// added in-process, for 5 seconds, on the directory made by initTestSM or
// initTestKMC, until it has written n addresses, one a line: its HTTP
// API's, then its STS6 port's.
func startServing(t *testing.T, group, dir string, n int, args ...string) *serving {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	s := &serving{name: group + " serve", dir: dir, done: make(chan int, 1)}
	args = append([]string{group, "serve", "--dir", dir, "--http", "127.0.0.1:0", "--addr-file", addrFile,
		"--exit-after", "5s"}, args...)
	go func() { s.done <- run(args, strings.NewReader(""), &s.out, &s.err) }()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && s.http == ""; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(addrFile); err == nil && bytes.Count(b, []byte("\n")) == n {
			s.http, s.sts6, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
		}
	}
	if s.http == "" {
		t.Fatalf("%s wrote no addresses\n%s", s.name, s.err.String())
	}
	return s
}

// wait waits for the server to stop by itself.
func (s *serving) wait(t *testing.T) {
	t.Helper()
	if rc := <-s.done; rc != 0 {
		t.Fatalf("%s: exit %d\n%s\n%s", s.name, rc, s.out.String(), s.err.String())
	}
}
