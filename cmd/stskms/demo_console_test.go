package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoConsole runs `stskms demo --console` as a person does: after
// the loop it prints a one-time enrolment URL for the KMC's and each
// module's console; each opens the enrolment page of officer "demo"; SIGINT stops the servers cleanly (exit 0) and the
// temporary directory is removed.
func TestDemoConsole(t *testing.T) {
	bin, err := exec.LookPath("stskms") // this test binary as stskms (TestMain)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "demo", "--console")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })

	urlLine := regexp.MustCompile(`^  (KMC|vending module|manufacturing module): +(http://localhost:[0-9]+/console/enrol/[A-Za-z0-9_-]+)$`)
	urls := map[string]string{}
	var out []string
	var kept string
	timeout := time.After(3 * time.Minute)
	for len(urls) < 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo --console ended before printing three URLs:\n%s\n%s", strings.Join(out, "\n"), stderr.String())
			}
			out = append(out, l)
			if m := urlLine.FindStringSubmatch(l); m != nil {
				urls[m[1]] = m[2]
			}
			if d, ok := strings.CutPrefix(l, "state kept in "); ok {
				kept = d
			}
		case <-timeout:
			t.Fatalf("no URLs after 3 minutes:\n%s", strings.Join(out, "\n"))
		}
	}
	for name, u := range urls {
		if code, body := getPage(t, u); code != http.StatusOK || !strings.Contains(body, `id="passkey-register"`) ||
			!strings.Contains(body, demoOfficer) {
			t.Errorf("%s: GET %s: %d, no enrolment page", name, u, code)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() { // drain
		for range lines {
		}
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("demo --console did not stop within a minute of SIGINT")
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	if kept == "" {
		t.Error("the demo did not say where its state is")
	} else if _, err := os.Stat(kept); !os.IsNotExist(err) {
		t.Errorf("the temporary directory %s is still there (%v)", kept, err)
	}
}

// getPage GETs u and returns the status and body.
func getPage(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}
