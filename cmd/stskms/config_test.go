package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryCommandCanBeInspected: config check and config show read a
// command's flags by running it with env.inspect set; every command must
// stop in parse then, before doing anything.
func TestEveryCommandCanBeInspected(t *testing.T) {
	n := 0
	eachCommand(t, func(cmd string, fs *flagSet) {
		if fs.Lookup(configFlag) == nil {
			t.Errorf("%s: no --config", cmd)
		}
		n++
	})
	if n < 40 {
		t.Errorf("only %d commands inspected", n)
	}
}

// configuredSettings returns the settings of command cmd (its path joined
// by spaces) with --config file, in environment e.
func configuredSettings(t *testing.T, e *env, cmd, file string) []setting {
	t.Helper()
	fs, err := inspectFlags(e, strings.Fields(cmd))
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Set(configFlag, file); err != nil {
		t.Fatal(err)
	}
	got, err := fs.applySettings(e)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return got
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stskms.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSettingsPrecedence: flag, then the command's variable, then its
// group's, then the command's section, then its group's, then the default.
func TestSettingsPrecedence(t *testing.T) {
	file := writeConfig(t, `
[demo]
json = true
keep = "from-file"
`)
	vars := map[string]string{}
	e := &env{getenv: func(k string) string { return vars[k] }}
	settle := func(args ...string) map[string]setting {
		t.Helper()
		fs := newFlags("demo", "", "")
		fs.Bool("json", false, "")
		fs.String("keep", "", "")
		fs.String("sta-tables", "default", "")
		if err := fs.Parse(append([]string{"--config", file}, args...)); err != nil {
			t.Fatal(err)
		}
		got, err := fs.applySettings(e)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]setting{}
		for _, s := range got {
			m[s.Name] = s
		}
		return m
	}
	s := settle()
	if s["keep"].Value != "from-file" || s["keep"].Source != fromFile || s["json"].Value != "true" {
		t.Errorf("file: %+v", s)
	}
	if s["sta-tables"].Value != "default" || s["sta-tables"].Source != fromDefault {
		t.Errorf("default: %+v", s["sta-tables"])
	}
	vars["STSKMS_DEMO_KEEP"] = "from-env"
	if s = settle(); s["keep"].Value != "from-env" || s["keep"].From != "$STSKMS_DEMO_KEEP" {
		t.Errorf("env: %+v", s["keep"])
	}
	if s = settle("--keep", "from-flag"); s["keep"].Value != "from-flag" || s["keep"].Source != fromFlag {
		t.Errorf("flag: %+v", s["keep"])
	}
}

// TestGroupSections: [gateway] applies to every gateway command, and the
// command's own section and variable win over the group's.
func TestGroupSections(t *testing.T) {
	file := writeConfig(t, `
[gateway]
dir = "group"
listen = "ignored by commands without --listen"
[gateway.serve]
dir = "own"
`)
	vars := map[string]string{"STSKMS_GATEWAY_DB": "postgres://group-env"}
	e := &env{getenv: func(k string) string { return vars[k] }}
	for _, tc := range []struct {
		cmd      string
		dir, db  string
		wantFrom string
	}{
		{"gateway serve", "own", "postgres://group-env", "[gateway.serve]"},
		{"gateway blocks", "group", "postgres://group-env", "[gateway]"},
	} {
		for _, s := range configuredSettings(t, e, tc.cmd, file) {
			switch s.Name {
			case "dir":
				if s.Value != tc.dir || !strings.HasSuffix(s.From, tc.wantFrom) {
					t.Errorf("%s: dir %+v", tc.cmd, s)
				}
			case "db":
				if s.Value != tc.db || s.Source != fromEnv {
					t.Errorf("%s: db %+v", tc.cmd, s)
				}
			}
		}
	}
}

// TestConfigErrors: bad files and values are refused with errConfig and a
// message that names the place.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"syntax", "[demo\njson = true", "toml"},
		{"outside a section", "json = true", "outside any section"},
		{"typo in own section", "[demo]\njsn = true", `unknown setting "jsn"`},
		{"bad value", "[demo]\njson = \"maybe\"", "[demo] json"},
		{"table value", "[demo]\njson = { a = 1 }", "not a setting"},
		{"date value", "[demo]\nkeep = 1979-05-27", "not a setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlags("demo", "", "")
			fs.Bool("json", false, "")
			fs.String("keep", "", "")
			if err := fs.Parse([]string{"--config", writeConfig(t, tc.text)}); err != nil {
				t.Fatal(err)
			}
			_, err := fs.applySettings(&env{getenv: func(string) string { return "" }})
			if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want errConfig with %q", err, tc.want)
			}
		})
	}
	t.Run("bad env value", func(t *testing.T) {
		fs := newFlags("demo", "", "")
		fs.Bool("json", false, "")
		_, err := fs.applySettings(&env{getenv: func(k string) string {
			if k == "STSKMS_DEMO_JSON" {
				return "perhaps"
			}
			return ""
		}})
		if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), "$STSKMS_DEMO_JSON") {
			t.Errorf("error %v", err)
		}
	})
}

func TestEnvNames(t *testing.T) {
	got := strings.Join(envNames([]string{"gateway", "serve"}, "max-message-bytes"), " ")
	if got != "STSKMS_GATEWAY_SERVE_MAX_MESSAGE_BYTES STSKMS_GATEWAY_MAX_MESSAGE_BYTES" {
		t.Error(got)
	}
}

// FuzzConfig: no configuration file makes loading or checking panic.
func FuzzConfig(f *testing.F) {
	f.Add("[gateway.serve]\nlisten = \"127.0.0.1:25\"\n[gateway]\ndir = \"x\"\n")
	f.Add("[demo]\njson = [true, [1]]\n")
	f.Add("[a.b.c.d]\nx = 1.5\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		tree, err := loadConfig(path)
		if err != nil {
			return
		}
		checkTree(tree, map[string]*command{"demo": {run: runDemo}}, nil)
		fs := newFlags("demo", "", "")
		fs.Bool("json", false, "")
		fs.String("keep", "", "")
		fs.Set(configFlag, path)
		fs.applySettings(&env{getenv: func(string) string { return "" }})
	})
}

// TestFlagAliases: every command names the audit actor --as and takes
// --actor as a hidden alias; each family takes the other's spelling of the
// database flag, as a hidden alias: it sets the
// same value, beats the environment as the flag itself does, and is not
// listed by --help, config show or config check.
func TestFlagAliases(t *testing.T) {
	for _, c := range []struct {
		cmd              string
		alias, canonical string
	}{
		{"sm registers", "actor", "as"},
		{"sm vend credit", "actor", "as"},
		{"sm init", "db", "dsn"},
		{"kmc sgc list", "actor", "as"},
		{"kmc init", "dsn", "db"},
	} {
		t.Run(strings.ReplaceAll(c.cmd, " ", "_")+"_"+c.alias, func(t *testing.T) {
			path := strings.Fields(c.cmd)
			envName := envNames(path, c.canonical)[0]
			e := &env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(k string) string {
				if k == envName {
					return "from-env"
				}
				return ""
			}}
			fs, err := inspectFlags(e, path)
			if err != nil {
				t.Fatal(err)
			}
			if fs.Lookup(c.alias) == nil {
				t.Fatalf("no --%s", c.alias)
			}
			settings, err := fs.applySettings(e)
			if err != nil {
				t.Fatal(err)
			}
			if got := fs.Lookup(c.canonical).Value.String(); got != "from-env" {
				t.Fatalf("--%s from $%s: %q", c.canonical, envName, got)
			}
			for _, s := range settings {
				if s.Name == c.alias {
					t.Errorf("config show lists the alias --%s", c.alias)
				}
			}
			fs, err = inspectFlags(e, path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fs.parse(e, []string{"--" + c.alias, "given"}); err != nil {
				t.Fatal(err)
			}
			if got := fs.Lookup(c.canonical).Value.String(); got != "given" {
				t.Errorf("--%s given: --%s is %q, want it to beat $%s", c.alias, c.canonical, got, envName)
			}
			var help bytes.Buffer
			fs.usage(&help)
			if !strings.Contains(help.String(), "--"+c.canonical+" ") || strings.Contains(help.String(), "--"+c.alias+" ") {
				t.Errorf("--help lists --%s, or not --%s:\n%s", c.alias, c.canonical, help.String())
			}
			err = fs.checkSection("f.toml", section{name: strings.Join(path, "."), values: map[string]any{c.alias: "x"}})
			if !errors.Is(err, errConfig) {
				t.Errorf("config setting %q: %v, want an unknown setting", c.alias, err)
			}
		})
	}
}

// TestKMCAsAlias: "--as" names the actor of a kmc command, as "--actor"
// does, end to end.
func TestKMCAsAlias(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kmc")
	for _, args := range [][]string{
		{"kmc", "init", "--dir", dir, "--mode", "test"},
		{"kmc", "sgc", "add", "--dir", dir, "--sgc", "600123", "--as", "alice"},
	} {
		var out bytes.Buffer
		if rc := run(args, strings.NewReader(""), &out, &out); rc != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), rc, out.String())
		}
	}
	var out, errOut bytes.Buffer
	if rc := run([]string{"kmc", "sgc", "list", "--dir", dir}, strings.NewReader(""), &out, &errOut); rc != 0 {
		t.Fatalf("kmc sgc list: exit %d\n%s", rc, errOut.String())
	}
	if !strings.Contains(out.String(), "600123") || !strings.HasSuffix(strings.TrimSpace(out.String()), "by alice") {
		t.Errorf("kmc sgc list: %q, want the group added by alice", out.String())
	}
}
