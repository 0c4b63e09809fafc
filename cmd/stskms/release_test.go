package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/gobin"
)

// buildAs builds this command as a release of version v (as
// .ci/reproducible and docs/release.md do) into dir.
func buildAs(t *testing.T, dir, v string) string {
	t.Helper()
	goBin := gobin.Path(t)
	out := filepath.Join(dir, "stskms-"+v)
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags", "-X github.com/stskms/stskms/release.Version="+v, "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// stskmsRun runs a built binary; it returns its output and whether it
// exited 0.
func stskmsRun(t *testing.T, stdin string, bin string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return out.String(), err == nil
}

// TestSignedReleaseBinary: real release builds of two versions. The
// newer is signed and its self-test says so; a copy changed by one byte
// refuses to start where signed releases are required; the older is
// refused by a production module the newer has opened until two officers
// lower the version floor.
func TestSignedReleaseBinary(t *testing.T) {
	dir := t.TempDir()
	v15, v14 := buildAs(t, dir, "v1.5.0"), buildAs(t, dir, "v1.4.0")
	must := func(stdin, bin string, args ...string) string {
		t.Helper()
		out, ok := stskmsRun(t, stdin, bin, args...)
		if !ok {
			t.Fatalf("%s %s: %s", filepath.Base(bin), strings.Join(args, " "), out)
		}
		return out
	}
	refused := func(want, stdin, bin string, args ...string) {
		t.Helper()
		out, ok := stskmsRun(t, stdin, bin, args...)
		if ok || !strings.Contains(out, want) {
			t.Fatalf("%s %s: want a refusal saying %q, got: %s", filepath.Base(bin), strings.Join(args, " "), want, out)
		}
	}
	in := func(name string) string { return filepath.Join(dir, name) }

	if out := must("", v15, "version"); !strings.HasPrefix(out, "stskms v1.5.0\n") {
		t.Fatalf("version: %s", out)
	}
	must("", v15, "release", "keygen", "--key", in("rel.key"), "--pub", in("rel.pub"))
	// -trimpath keeps no -ldflags in the build information: the signer
	// says the version.
	refused("give --version", "", v15, "release", "sign", "--key", in("rel.key"), "--out", in("MANIFEST"), v15)
	if out := must("", v15, "release", "sign", "--key", in("rel.key"), "--out", in("MANIFEST"), "--version", "v1.5.0", v15); !strings.Contains(out, "of v1.5.0 signed") {
		t.Fatalf("sign: %s", out)
	}
	must("", v15, "release", "verify", "--pub", in("rel.pub"), in("MANIFEST"), v15)
	// A manifest that gives a binary another version than its own does not
	// vouch for it.
	must("", v15, "release", "sign", "--key", in("rel.key"), "--out", in("M14"), "--version", "v1.5.0", v14)

	// A production module: officers on standard input.
	officers := "alice=correct horse battery\nbob=staple tuna mirror 42\n"
	mod := in("mod")
	must(officers, v15, "sm", "init", "--dir", mod, "--variant", "vending")
	signed := []string{"--release-manifest", in("MANIFEST"), "--release-key", in("rel.pub"), "--require-signed-release"}
	out := must(officers, v15, append([]string{"sm", "selftest", "--dir", mod}, signed...)...)
	if !strings.Contains(out, "release: signed release v1.5.0 (release key ") {
		t.Fatalf("self-test of the signed release: %s", out)
	}
	if out := must(officers, v15, "sm", "selftest", "--dir", mod); !strings.Contains(out, "release: unsigned development build") {
		t.Fatalf("self-test without a manifest: %s", out)
	}

	// One byte changed: no longer the signed binary.
	exe, err := os.ReadFile(v15)
	if err != nil {
		t.Fatal(err)
	}
	exe[len(exe)-1] ^= 1
	patched := in("stskms-patched")
	if err := os.WriteFile(patched, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	refused("does not list this executable", officers, patched, append([]string{"sm", "selftest", "--dir", mod}, signed...)...)
	refused("lists this executable as v1.5.0, but it was built as v1.4.0", officers, v14, "sm", "selftest", "--dir", mod,
		"--release-manifest", in("M14"), "--release-key", in("rel.pub"), "--require-signed-release")

	// Anti-rollback: the older release is refused, naming both versions,
	// until both officers lower the floor.
	refused("opened by stskms v1.5.0; this binary is stskms v1.4.0, older", officers, v14, "sm", "identify", "--dir", mod)
	refused("quorum not met", "alice=correct horse battery\n", v14, "sm", "downgrade", "--dir", mod)
	if out := must(officers, v14, "sm", "downgrade", "--dir", mod); !strings.Contains(out, "lowered from v1.5.0 to v1.4.0") {
		t.Fatalf("downgrade: %s", out)
	}
	must(officers, v14, "sm", "identify", "--dir", mod)
}
