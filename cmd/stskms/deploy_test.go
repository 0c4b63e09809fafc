package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/keystore/pkcs11"
)

// The deploy files, from cmd/stskms, and where they are installed.
const (
	deployConfig     = "../../deploy/stskms.toml"
	deployUnits      = "../../deploy/systemd"
	deployContainer  = "../../deploy/container/Containerfile"
	installedBinary  = "/usr/local/bin/stskms"
	installedConfig  = "/etc/stskms/stskms.toml"
	unitStateDirRoot = "/var/lib/"
)

// listenFlags are the flags of the serve commands that name an address
// the command listens on.
var listenFlags = []string{"http", "listen", "metrics"}

// unitFile is a systemd unit of deploy/systemd, read as far as the checks
// need: its comment lines and its settings, "Section.Key" → the values in
// order.
type unitFile struct {
	name     string
	text     string
	comments []string
	settings map[string][]string
}

// parseUnit reads a unit file. Continuation lines are not used by the
// shipped units and are refused, so that no setting is read half.
func parseUnit(name, text string) (unitFile, error) {
	u := unitFile{name: name, text: text, settings: map[string][]string{}}
	section := ""
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			u.comments = append(u.comments, strings.TrimSpace(line[1:]))
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		case strings.HasSuffix(line, `\`):
			return u, fmt.Errorf("%s:%d: a continued line", name, i+1)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return u, fmt.Errorf("%s:%d: not a setting: %q", name, i+1, line)
			}
			key := section + "." + strings.TrimSpace(k)
			u.settings[key] = append(u.settings[key], strings.TrimSpace(v))
		}
	}
	return u, nil
}

// value is the last value of a setting ("Service.ExecStart"), or "".
func (u unitFile) value(key string) string {
	if v := u.settings[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// environment is the unit's Environment= assignments.
func (u unitFile) environment() map[string]string {
	env := map[string]string{}
	for _, v := range u.settings["Service.Environment"] {
		for _, kv := range strings.Fields(v) {
			k, val, _ := strings.Cut(kv, "=")
			env[k] = val
		}
	}
	return env
}

// readUnits returns the units of deploy/systemd.
func readUnits(t *testing.T) []unitFile {
	t.Helper()
	var units []unitFile
	for _, pattern := range []string{"*.service", "*.timer"} {
		files, err := filepath.Glob(filepath.Join(deployUnits, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			u, err := parseUnit(filepath.Base(file), string(text))
			if err != nil {
				t.Fatal(err)
			}
			units = append(units, u)
		}
	}
	if len(units) < 3 {
		t.Fatalf("%s: only %d units", deployUnits, len(units))
	}
	return units
}

// TestDeployUnitsVerify: systemd-analyze verify finds nothing to say about
// any unit of deploy/systemd (unknown or misspelt settings, bad values, an
// ExecStart that cannot run), each verified as installed but with stskms
// at this test binary's path. Off CI a machine without systemd-analyze
// skips it; CI installs it (.ci/run).
func TestDeployUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("systemd-analyze: %v (CI installs the systemd package: .ci/run)", err)
		}
		t.Skipf("systemd-analyze is not installed (package systemd): %v", err)
	}
	bin, err := exec.LookPath("stskms") // this test binary as stskms (TestMain)
	if err != nil {
		t.Fatal(err)
	}
	units := readUnits(t)
	if problems := verifyUnits(t, analyze, bin, units); len(problems) > 0 {
		t.Errorf("systemd-analyze verify:\n%s", strings.Join(problems, "\n"))
	}
	// The check can fail: a misspelt setting and a missing binary are found.
	broken := units[0]
	broken.text = strings.Replace(broken.text, "[Service]\n", "[Service]\nProtectSystm=strict\n", 1)
	broken.text = strings.Replace(broken.text, "ExecStart="+installedBinary, "ExecStart=/nonexistent/stskms", 1)
	if problems := verifyUnits(t, analyze, bin, []unitFile{broken}); len(problems) < 2 {
		t.Errorf("a broken %s: systemd-analyze verify found %q, want the misspelt setting and the missing binary", broken.name, problems)
	}
}

// optionalSetting is a setting a unit ships commented out, for the site to
// enable (#LoadCredential=…): verified as if enabled.
var optionalSetting = regexp.MustCompile(`(?m)^#(LoadCredential=)`)

// verifyUnits writes the units to a temporary directory, stskms replaced
// by bin and their optional settings enabled, and returns what
// systemd-analyze verify says about them (it exits 0 on mere warnings, so
// every line that names a unit counts).
func verifyUnits(t *testing.T, analyze, bin string, units []unitFile) []string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"verify", "--man=no"}
	for _, u := range units {
		path := filepath.Join(dir, u.name)
		text := optionalSetting.ReplaceAllString(strings.ReplaceAll(u.text, installedBinary, bin), "$1")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	cmd := exec.Command(analyze, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
	out, err := cmd.CombinedOutput()
	var problems []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		ours := strings.Contains(line, dir)
		for _, u := range units {
			ours = ours || strings.Contains(line, u.name)
		}
		if ours {
			problems = append(problems, line)
		} else if strings.TrimSpace(line) != "" {
			t.Logf("systemd-analyze (not about our units): %s", line)
		}
	}
	if err != nil && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("exit: %v: %s", err, out))
	}
	return problems
}

// TestDeployUnitSettings: each unit runs stskms itself (no wrapper, nothing
// asked or read at boot), on /etc/stskms/stskms.toml, and with
// deploy/stskms.toml as that file its command gets a consistent setup:
// every section the unit names exists, the file configures the command,
// its directory is the unit's state directory, and the addresses the
// unit's header gives are the ones the command listens on.
func TestDeployUnitSettings(t *testing.T) {
	tree, err := loadConfig(deployConfig)
	if err != nil {
		t.Fatal(err)
	}
	units := readUnits(t)
	for _, u := range units {
		for _, p := range unitProblems(tree, u) {
			t.Errorf("%s: %s", u.name, p)
		}
		service, timer := strings.CutSuffix(u.name, ".timer")
		if timer && !slices.ContainsFunc(units, func(s unitFile) bool { return s.name == service+".service" }) {
			t.Errorf("%s: no %s.service to run", u.name, service)
		}
	}
	// The check can fail: the admin unit, which named a [kmc.serve]
	// that the file lacked, and a unit behind the unlock wrapper.
	admin := unitFile{name: "admin.service", comments: []string{"the configuration ([kmc.serve])"}, settings: map[string][]string{
		"Service.ExecStart":      {installedBinary + " kmc serve"},
		"Service.Environment":    {configEnv + "=" + installedConfig},
		"Service.StateDirectory": {"stskms/kmc"},
	}}
	if problems := unitProblems(withoutSection(tree, "kmc", "serve"), admin); !anyContains(problems, "names [kmc.serve]") {
		t.Errorf("a unit naming [kmc.serve] against a configuration without it: %q", problems)
	}
	if problems := unitProblems(tree, admin); !anyContains(problems, "listens on 127.0.0.1:8081; its header does not say so") {
		t.Errorf("a unit that does not say where it listens: %q", problems)
	}
	admin.comments = append(admin.comments, "LoadCredential=pin:/etc/stskms/pin")
	if problems := unitProblems(tree, admin); !anyContains(problems, "LoadCredential=pin: stskms reads no such credential") {
		t.Errorf("a unit loading a credential stskms never reads: %q", problems)
	}
	admin.settings["Service.ExecStart"] = []string{"/usr/local/lib/stskms/stskms-unlock kmc " + installedBinary + " kmc serve"}
	if problems := unitProblems(tree, admin); !anyContains(problems, "no wrapper") {
		t.Errorf("a unit behind a wrapper: %q", problems)
	}
}

// anyContains reports whether one of lines contains s.
func anyContains(lines []string, s string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, s) })
}

// withoutSection is tree without [group.name].
func withoutSection(tree map[string]any, group, name string) map[string]any {
	out := map[string]any{}
	for k, v := range tree {
		out[k] = v
	}
	g := map[string]any{}
	for k, v := range tree[group].(map[string]any) {
		if k != name {
			g[k] = v
		}
	}
	out[group] = g
	return out
}

var (
	sectionRef = regexp.MustCompile(`\[([a-z0-9-]+(?:\.[a-z0-9-]+)*)\]`)
	addressRef = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}:\d+\b`)
)

// unitProblems checks one unit against the configuration tree (the
// deploy file's, read from deployConfig when settings are resolved).
func unitProblems(tree map[string]any, u unitFile) []string {
	var problems []string
	for _, ref := range sectionRef.FindAllStringSubmatch(strings.Join(u.comments, "\n"), -1) {
		if !hasSection(tree, strings.Split(ref[1], ".")) {
			problems = append(problems, fmt.Sprintf("names [%s], which deploy/stskms.toml lacks", ref[1]))
		}
	}
	for _, c := range unitCredentials(u) {
		if !slices.Contains(readCredentials, c) {
			problems = append(problems, fmt.Sprintf("LoadCredential=%s: stskms reads no such credential (only %s)", c, strings.Join(readCredentials, ", ")))
		}
	}
	start := u.value("Service.ExecStart")
	if start == "" {
		return problems // a timer
	}
	args, ok := unitCommand(u)
	if !ok {
		return append(problems, fmt.Sprintf("ExecStart=%s: runs no %s directly (no wrapper: services start sealed, asking nothing)", start, installedBinary))
	}
	if in := u.value("Service.StandardInput"); in != "" && in != "null" {
		problems = append(problems, "StandardInput="+in+": nothing is read at boot")
	}
	env := u.environment()
	if env[configEnv] != installedConfig {
		problems = append(problems, fmt.Sprintf("%s=%q, want %s", configEnv, env[configEnv], installedConfig))
	}
	words := strings.Fields(args)
	path := commandPath(words)
	if len(sectionsFor(tree, path)) == 0 {
		problems = append(problems, fmt.Sprintf("deploy/stskms.toml has no section for stskms %s", strings.Join(path, " ")))
	}
	settings, err := deploySettings(env, words)
	if err != nil {
		return append(problems, err.Error())
	}
	if sd := strings.Fields(u.value("Service.StateDirectory")); len(sd) > 0 && !slices.Contains(sd, strings.TrimPrefix(settings["dir"], unitStateDirRoot)) {
		problems = append(problems, fmt.Sprintf("dir is %q, none of its StateDirectory %s under %s", settings["dir"], strings.Join(sd, " "), unitStateDirRoot))
	}
	said := addressRef.FindAllString(strings.Join(u.comments, "\n"), -1)
	var listens []string
	for _, l := range listenersOf(settings) {
		listens = append(listens, l.addr)
	}
	for _, a := range said {
		if !slices.Contains(listens, a) {
			problems = append(problems, fmt.Sprintf("its header says %s; stskms %s listens on %q", a, strings.Join(path, " "), listens))
		}
	}
	for _, a := range listens {
		if !slices.Contains(said, a) {
			problems = append(problems, fmt.Sprintf("stskms %s listens on %s; its header does not say so", strings.Join(path, " "), a))
		}
	}
	return problems
}

// oneshotScript is the ExecStart of a oneshot unit that computes an
// argument (a backup's file name) in the shell and then runs stskms.
var oneshotScript = regexp.MustCompile(`^/bin/sh -c 'exec ` + regexp.QuoteMeta(installedBinary) + ` ([^']*)'$`)

// unitCommand returns the arguments the unit gives stskms: a service runs
// it directly; a oneshot unit may run it from a one-line shell script
// ("exec stskms …"), nothing else.
func unitCommand(u unitFile) (string, bool) {
	start := u.value("Service.ExecStart")
	if args, ok := strings.CutPrefix(start, installedBinary+" "); ok {
		return args, true
	}
	if m := oneshotScript.FindStringSubmatch(start); m != nil && u.value("Service.Type") == "oneshot" {
		return m[1], true
	}
	return "", false
}

// readCredentials are the systemd credentials stskms reads from
// $CREDENTIALS_DIRECTORY.
var readCredentials = []string{pkcs11.PINCredential, dbPasswordCredential}

// unitCredentials returns the names of the unit's LoadCredential=, those
// shipped commented out included.
func unitCredentials(u unitFile) []string {
	values := slices.Clone(u.settings["Service.LoadCredential"])
	for _, c := range u.comments {
		if v, ok := strings.CutPrefix(c, "LoadCredential="); ok {
			values = append(values, v)
		}
	}
	var names []string
	for _, v := range values {
		name, _, _ := strings.Cut(v, ":")
		names = append(names, name)
	}
	return names
}

// hasSection reports whether tree has the table at path.
func hasSection(tree map[string]any, path []string) bool {
	level := tree
	for _, name := range path {
		next, ok := level[name].(map[string]any)
		if !ok {
			return false
		}
		level = next
	}
	return true
}

// deploySettings resolves the settings of stskms WORDS… as the installed
// command would: with env as its environment and deploy/stskms.toml as
// its configuration file. It returns each flag's value.
func deploySettings(env map[string]string, words []string) (map[string]string, error) {
	path := commandPath(words)
	e := deployEnv(env)
	fs, err := inspectFlags(e, path)
	if err != nil {
		return nil, err
	}
	if _, err := fs.parseArgs(e, words[len(path):]); err != nil {
		return nil, fmt.Errorf("stskms %s: %v", strings.Join(words, " "), err)
	}
	settings, err := fs.applySettings(e)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for _, s := range settings {
		values[s.Name] = s.Value
	}
	return values, nil
}

// deployEnv is a command's environment with the variables vars, the
// installed configuration file read from the repository's.
func deployEnv(vars map[string]string) *env {
	return &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(name string) string {
		if v := vars[name]; name == configEnv && v == installedConfig {
			return deployConfig
		}
		return vars[name]
	}}
}

// listener is a listen flag that is set, and its address.
type listener struct{ flag, addr string }

// listenersOf returns the command's listen flags that are set.
func listenersOf(settings map[string]string) []listener {
	var out []listener
	for _, name := range listenFlags {
		if v := settings[name]; v != "" {
			out = append(out, listener{name, v})
		}
	}
	return out
}

// stage is one build stage of the Containerfile.
type stage struct {
	name, from string
	env        map[string]string // its own ENV, not its base's
	expose     []string
	entrypoint []string
	copies     []string
}

var entrypointLine = regexp.MustCompile(`^ENTRYPOINT \["/usr/local/bin/stskms", (.*)\]$`)

// parseContainerfile reads the stages of a Containerfile, continuation
// lines joined.
func parseContainerfile(text string) ([]*stage, error) {
	var stages []*stage
	pending := ""
	for i, line := range strings.Split(text, "\n") {
		line = pending + strings.TrimSpace(line)
		pending = ""
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSuffix(line, `\`) + " "
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		if instr == "FROM" {
			f := strings.Fields(rest)
			s := &stage{from: f[0], env: map[string]string{}}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			return nil, fmt.Errorf("line %d: %s before FROM", i+1, instr)
		}
		s := stages[len(stages)-1]
		switch instr {
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return nil, fmt.Errorf("line %d: ENV %s: write KEY=VALUE", i+1, kv)
				}
				s.env[k] = v
			}
		case "EXPOSE":
			s.expose = append(s.expose, strings.Fields(rest)...)
		case "COPY":
			s.copies = append(s.copies, rest)
		case "ENTRYPOINT":
			m := entrypointLine.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("line %d: ENTRYPOINT runs no %s", i+1, installedBinary)
			}
			s.entrypoint = strings.Fields(strings.NewReplacer(`"`, "", ",", "").Replace(m[1]))
		}
	}
	return stages, nil
}

// TestDeployContainer: each image of the Containerfile reads the deploy
// configuration at /etc/stskms/stskms.toml, its command listens on all
// interfaces (loopback inside a container reaches nobody) at exactly the
// ports the image exposes, and its listeners off loopback have TLS.
func TestDeployContainer(t *testing.T) {
	text, err := os.ReadFile(deployContainer)
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseContainerfile(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if problems := containerProblems(stages); len(problems) > 0 {
		t.Errorf("%s:\n%s", deployContainer, strings.Join(problems, "\n"))
	}
	// The check can fail: the admin image, exposing 7080 while its
	// command listened on 127.0.0.1:8081.
	broken, err := parseContainerfile(strings.NewReplacer("EXPOSE 8081", "EXPOSE 7080",
		"STSKMS_KMC_SERVE_HTTP=0.0.0.0:8081", "STSKMS_KMC_SERVE_HTTP=127.0.0.1:8081").Replace(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	if problems := containerProblems(broken); len(problems) < 2 {
		t.Errorf("the issue's admin image: found %q, want its port and its loopback address", problems)
	}
}

// containerProblems checks every stage that runs stskms.
func containerProblems(stages []*stage) []string {
	byName := map[string]*stage{}
	for _, s := range stages {
		byName[s.name] = s
	}
	var problems []string
	images := 0
	for _, s := range stages {
		if len(s.entrypoint) == 0 {
			continue
		}
		images++
		env, copies := map[string]string{}, []string{}
		for b := s; b != nil; b = byName[b.from] {
			for k, v := range b.env {
				if _, set := env[k]; !set {
					env[k] = v
				}
			}
			copies = append(copies, b.copies...)
			if b.from == b.name {
				break
			}
		}
		say := func(format string, a ...any) {
			problems = append(problems, fmt.Sprintf("stage %s: ", s.name)+fmt.Sprintf(format, a...))
		}
		if env[configEnv] != installedConfig || !slices.Contains(copies, "deploy/stskms.toml "+installedConfig) {
			say("%s=%q: want the deploy configuration copied to %s", configEnv, env[configEnv], installedConfig)
		}
		settings, err := deploySettings(env, s.entrypoint)
		if err != nil {
			say("%v", err)
			continue
		}
		var ports []string
		for _, l := range listenersOf(settings) {
			host, port, err := net.SplitHostPort(l.addr)
			if err != nil {
				say("--%s %s: %v", l.flag, l.addr, err)
				continue
			}
			if ip := net.ParseIP(host); ip == nil || ip.IsLoopback() {
				say("--%s %s: inside a container nobody reaches it", l.flag, l.addr)
			}
			if err := httpapi.CheckPlain(l.addr, settings["tls-cert"] != ""); l.flag == "http" && err != nil {
				say("--%s %s: %v", l.flag, l.addr, err)
			}
			ports = append(ports, port)
		}
		expose := slices.Clone(s.expose)
		sort.Strings(ports)
		sort.Strings(expose)
		if !slices.Equal(ports, expose) {
			say("EXPOSE %s, but stskms %s listens on ports %s", strings.Join(expose, " "), strings.Join(s.entrypoint, " "), strings.Join(ports, " "))
		}
	}
	if images < 3 {
		problems = append(problems, fmt.Sprintf("only %d images run stskms", images))
	}
	return problems
}

// TestDeployConfig: the example configuration passes config check.
func TestDeployConfig(t *testing.T) {
	tree, err := loadConfig(deployConfig)
	if err != nil {
		t.Fatal(err)
	}
	if problems := checkTree(tree, commands(), nil); len(problems) > 0 {
		t.Errorf("deploy/stskms.toml: %s", strings.Join(problems, "; "))
	}
}

// TestDeployCommands: the systemd units and the container images run
// commands that exist, with flags and STSKMS_… variables they have.
func TestDeployCommands(t *testing.T) {
	texts := map[string]string{}
	for _, u := range readUnits(t) {
		texts[u.name] = u.text
		if args, ok := unitCommand(u); ok {
			checkReadmeCommand(t, u.name, strings.Fields(args))
		} else if u.value("Service.ExecStart") != "" {
			t.Errorf("%s: no stskms command", u.name)
		}
	}
	text, err := os.ReadFile(deployContainer)
	if err != nil {
		t.Fatal(err)
	}
	texts[deployContainer] = string(text)
	stages, err := parseContainerfile(string(text))
	if err != nil {
		t.Fatal(err)
	}
	images := 0
	for _, s := range stages {
		if len(s.entrypoint) > 0 {
			images++
			checkReadmeCommand(t, deployContainer, s.entrypoint)
		}
	}
	if images == 0 {
		t.Errorf("%s: no stskms command", deployContainer)
	}
	variable := regexp.MustCompile(`STSKMS_[A-Z0-9_]+`)
	for file, text := range texts {
		for _, v := range variable.FindAllString(text, -1) {
			if !knownVariable(v) {
				t.Errorf("%s: %s is no setting of any command", file, v)
			}
		}
	}
}

// knownVariable reports whether an STSKMS_… variable sets a flag of some
// command (or is one the commands read themselves).
func knownVariable(name string) bool {
	if name == configEnv {
		return true
	}
	var walk func(cmds map[string]*command, path []string) bool
	walk = func(cmds map[string]*command, path []string) bool {
		for word, c := range cmds {
			p := append(append([]string(nil), path...), word)
			if c.sub != nil {
				if walk(c.sub, p) {
					return true
				}
				continue
			}
			fs, err := inspectFlags(&env{getenv: func(string) string { return "" }}, p)
			if err != nil {
				continue
			}
			hit := false
			fs.visitAll(func(f *flag.Flag) {
				for _, v := range envNames(p, f.Name) {
					hit = hit || v == name
				}
			})
			if hit {
				return true
			}
		}
		return false
	}
	return walk(commands(), nil)
}
