package main

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/records"
)

// settableValue returns a value the flag named name of the command at path
// accepts, and the value it then shows, trying its default first.
func settableValue(t *testing.T, path []string, f *flag.Flag) (given, shown string, ok bool) {
	t.Helper()
	for _, v := range []string{f.DefValue, "x", "1", "true", "30s", "01", "20260101T000000Z", "600123", "vending", "127.0.0.1:1"} {
		if v == "" {
			continue
		}
		fs, err := inspectFlags(&env{getenv: func(string) string { return "" }}, path)
		if err != nil {
			t.Fatal(err)
		}
		if fs.Set(f.Name, v) == nil {
			return v, fs.Lookup(f.Name).Value.String(), true
		}
	}
	return "", "", false
}

// TestEverySettingFromEnvAndFile: for every command, every flag is set the
// same way by its variable (STSKMS_<COMMAND>_<FLAG>) and by its setting in
// the command's TOML section, and config check knows the section.
func TestEverySettingFromEnvAndFile(t *testing.T) {
	n := 0
	eachCommand(t, func(cmd string, fs *flagSet) {
		path := strings.Fields(cmd)
		vars := map[string]string{}
		var toml strings.Builder
		fmt.Fprintf(&toml, "[%s]\n", strings.Join(path, "."))
		want := map[string]string{}
		fs.visitAll(func(f *flag.Flag) {
			if f.Name == configFlag {
				return
			}
			given, shown, ok := settableValue(t, path, f)
			if !ok {
				t.Errorf("%s --%s: no value found that it accepts", cmd, f.Name)
				return
			}
			vars[envNames(path, f.Name)[0]] = given
			fmt.Fprintf(&toml, "%s = %q\n", f.Name, given)
			want[f.Name] = shown
			n++
		})
		file := writeConfig(t, toml.String())
		tree, err := loadConfig(file)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if problems := checkTree(tree, commands(), nil); len(problems) > 0 {
			t.Errorf("%s: config check: %v", cmd, problems)
		}
		for _, how := range []struct {
			src  source
			file string
			env  map[string]string
		}{{fromEnv, "", vars}, {fromFile, file, nil}} {
			e := &env{getenv: func(k string) string { return how.env[k] }}
			fs, err := inspectFlags(e, path)
			if err != nil {
				t.Fatal(err)
			}
			if how.file != "" {
				fs.Set(configFlag, how.file)
			}
			got, err := fs.applySettings(e)
			if err != nil {
				t.Errorf("%s from %s: %v", cmd, how.src, err)
				continue
			}
			for _, s := range got {
				if w, ok := want[s.Name]; ok && (s.Source != how.src || s.Value != w) {
					t.Errorf("%s --%s from %s: %+v, want %q", cmd, s.Name, how.src, s, w)
				}
			}
		}
	})
	if n < 300 {
		t.Errorf("only %d settings checked", n)
	}
}

// TestGatewayServeOfficers: gateway serve has --officers (and --pin-file,
// --db-password-file) like the kmc commands, settable from its own
// variables and sections, its group's, and the KMC's ([kmc],
// $STSKMS_KMC_OFFICERS, which the units set), in that order; config check
// accepts officers in every one of those sections.
func TestGatewayServeOfficers(t *testing.T) {
	sections := map[string]string{
		"gateway.serve": "[gateway.serve]\nofficers = \"serve-file\"\n",
		"gateway":       "[gateway]\nofficers = \"group-file\"\n",
		"kmc":           "[kmc]\nofficers = \"kmc-file\"\n",
	}
	for _, tc := range []struct {
		name     string
		sections []string
		vars     map[string]string
		want     string
	}{
		{"own variable", []string{"gateway.serve", "kmc"}, map[string]string{"STSKMS_GATEWAY_SERVE_OFFICERS": "a,b", "STSKMS_KMC_OFFICERS": "c,d"}, "a,b"},
		{"group variable", nil, map[string]string{"STSKMS_GATEWAY_OFFICERS": "a,b", "STSKMS_KMC_OFFICERS": "c,d"}, "a,b"},
		{"KMC variable", []string{"gateway.serve"}, map[string]string{"STSKMS_KMC_OFFICERS": "c,d"}, "c,d"},
		{"own section", []string{"gateway.serve", "gateway", "kmc"}, nil, "serve-file"},
		{"group section", []string{"gateway", "kmc"}, nil, "group-file"},
		{"KMC section", []string{"kmc"}, nil, "kmc-file"},
		{"none", nil, nil, ""},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			var text string
			for _, s := range tc.sections {
				text += sections[s]
			}
			file := writeConfig(t, text)
			tree, err := loadConfig(file)
			if err != nil {
				t.Fatal(err)
			}
			if problems := checkTree(tree, commands(), nil); len(problems) > 0 {
				t.Errorf("config check: %v", problems)
			}
			e := &env{getenv: func(k string) string { return tc.vars[k] }}
			for _, s := range configuredSettings(t, e, "gateway serve", file) {
				if s.Name == "officers" && s.Value != tc.want {
					t.Errorf("officers = %+v, want %q", s, tc.want)
				}
			}
		})
	}
	fs, err := inspectFlags(&env{getenv: func(string) string { return "" }}, []string{"gateway", "serve"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"officers", "pin-file", "db-password-file"} {
		if fs.Lookup(name) == nil {
			t.Errorf("gateway serve has no --%s", name)
		}
	}
}

// TestCLIActor: every command that names who acts (--as) defaults to
// cli:USER, from $USER or else the account, the same for kmc, sm and
// audit commands; and a kmc command audits it.
func TestCLIActor(t *testing.T) {
	e := &env{getenv: func(k string) string { return map[string]string{"USER": "carol"}[k] }}
	if got := cliActor(e); got != "cli:carol" {
		t.Errorf("cliActor with $USER=carol: %q", got)
	}
	noUser := &env{getenv: func(string) string { return "" }}
	want := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		want = "cli:" + u.Username
	}
	if got := cliActor(noUser); got != want {
		t.Errorf("cliActor without $USER: %q, want %q", got, want)
	}
	var families []string
	eachCommand(t, func(cmd string, _ *flagSet) {
		fs, err := inspectFlags(e, strings.Fields(cmd))
		if err != nil {
			t.Fatal(err)
		}
		if f := fs.Lookup("as"); f != nil {
			if f.DefValue != "cli:carol" {
				t.Errorf("%s --as defaults to %q, want cli:carol", cmd, f.DefValue)
			}
			families = append(families, strings.Fields(cmd)[0])
		}
	})
	for _, fam := range []string{"kmc", "sm", "audit"} {
		if !slices.Contains(families, fam) {
			t.Errorf("no %s command has --as", fam)
		}
	}

	t.Setenv("USER", "carol")
	dir := filepath.Join(t.TempDir(), "kmc")
	for _, args := range [][]string{
		{"kmc", "init", "--dir", dir, "--mode", "test"},
		{"kmc", "sgc", "add", "--dir", dir, "--sgc", "600123"},
	} {
		if rc, _, errOut := runCLI(args...); rc != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), rc, errOut)
		}
	}
	rc, out, errOut := runCLI("kmc", "sgc", "list", "--dir", dir)
	if rc != 0 || !strings.HasSuffix(strings.TrimSpace(out), "by cli:carol") {
		t.Errorf("kmc sgc list: exit %d %q %s, want the group added by cli:carol", rc, out, errOut)
	}
	// sm init's own audit record names who made the module.
	smDir := filepath.Join(t.TempDir(), "sm")
	for _, args := range [][]string{
		{"sm", "init", "--dir", smDir, "--variant", "vending", "--test"},
		{"audit", "checkpoint", "--dir", smDir},
	} {
		if rc, _, errOut := runCLI(args...); rc != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), rc, errOut)
		}
	}
	rc, out, errOut = runCLI("audit", "prove", "--dir", smDir, "--seq", "1")
	if rc != 0 || !strings.Contains(out, "sm.init") || !strings.Contains(out, "cli:carol") {
		t.Errorf("audit prove --seq 1: exit %d %q %s, want sm.init by cli:carol", rc, out, errOut)
	}
}

// TestConfigShowMasks: config show prints every secret as ****: database
// passwords inside URLs (user information or parameter), witness URL
// passwords, and settings named like secrets; never the secret itself.
func TestConfigShowMasks(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"db", "postgres://kmc:hunter2@db.example/kmc", "postgres://kmc:****@db.example/kmc"},
		{"dsn", "postgres://kmc@db.example/kmc?password=hunter2", "postgres://kmc@db.example/kmc?password=****"},
		{"witness", "https://w:hunter2@witness.example/add", "https://w:****@witness.example/add"},
		{"relay-password", "hunter2", "****"},
		{"pin", "hunter2", "****"},
		{"db", "sqlite:kmc.db", "sqlite:kmc.db"},
		{"pin-file", "/etc/stskms/pin", "/etc/stskms/pin"},
		{"db-password-file", "/etc/stskms/db-password", "/etc/stskms/db-password"},
	} {
		if got := shownValue(tc.name, tc.value); got != tc.want {
			t.Errorf("shownValue(%s, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
	file := writeConfig(t, "[kmc.init]\ndb = \"postgres://kmc:hunter2@db.example/kmc\"\n[kmc]\nwitness = \"https://w:hunter3@w.example/\"\n")
	var out, errOut bytes.Buffer
	if rc := run([]string{"config", "show", "--config", file, "kmc", "init"}, strings.NewReader(""), &out, &errOut); rc != 0 {
		t.Fatalf("config show: exit %d: %s", rc, errOut.String())
	}
	if strings.Contains(out.String(), "hunter") || !strings.Contains(out.String(), "postgres://kmc:****@db.example/kmc") ||
		!strings.Contains(out.String(), "https://w:****@w.example/") {
		t.Errorf("config show:\n%s", out.String())
	}
}

// TestRegisterVirtualDefault: kmc sm register without --virtual defaults
// as the HTTP API does (kmc.DefaultVirtual): virtual on a test KMC,
// hardware on a live KMC, which refuses --virtual saying to use a test KMC.
func TestRegisterVirtualDefault(t *testing.T) {
	key, err := keyagree.TestKey("sts-test-sm")
	if err != nil {
		t.Fatal(err)
	}
	pkid, err := records.NewPKID(records.SMID, "TestVendor", "94000001", time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), key.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	module := []string{"--smid", pkid.String(), "--public-key", hex.EncodeToString(key.PublicKey().Bytes()),
		"--model", "HW-SM-1", "--firmware", "HWSM0100", "--variant", "vending"}
	testDir := filepath.Join(t.TempDir(), "test")
	if rc, _, errOut := stskms("", "kmc", "init", "--dir", testDir, "--mode", "test"); rc != 0 {
		t.Fatal(errOut)
	}
	if rc, out, errOut := stskms("", append([]string{"kmc", "sm", "register", "--dir", testDir}, module...)...); rc != 0 ||
		!strings.Contains(out, "(vending, virtual)") {
		t.Errorf("test KMC: exit %d, %q, %s; want a virtual module", rc, out, errOut)
	}

	const passphrases = "correct horse battery\nstaple staple staple\n"
	liveDir := filepath.Join(t.TempDir(), "live")
	live := []string{"--dir", liveDir, "--officers", "alice,bob"}
	if rc, _, errOut := stskms(passphrases, append([]string{"kmc", "init", "--mode", "live", "--vendor", "V", "--id", "K1"}, live...)...); rc != 0 {
		t.Fatal(errOut)
	}
	register := append(append([]string{"kmc", "sm", "register"}, live...), module...)
	if rc, _, errOut := stskms(passphrases, append(register, "--virtual")...); rc != 1 || !strings.Contains(errOut, "kmc init --mode test") {
		t.Errorf("live KMC --virtual: exit %d, %s; want a refusal pointing to a test KMC", rc, errOut)
	}
	if rc, out, errOut := stskms(passphrases, register...); rc != 0 || !strings.Contains(out, "hardware, not certified") {
		t.Errorf("live KMC: exit %d, %q, %s; want a hardware module", rc, out, errOut)
	}
}
