package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeCommands: every stskms command the README shows exists and
// every flag it gives the command is one of the command's flags, so the
// README cannot drift from the binary. Alternatives are written a|b.
func TestReadmeCommands(t *testing.T) {
	for _, doc := range []string{"../../README.md", "../../docs/config.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range readmeCommands(string(text)) {
			for _, words := range expandAlternatives(line) {
				n++
				checkReadmeCommand(t, doc, words)
			}
		}
		if doc == "../../README.md" && n < 25 {
			t.Errorf("%s: only %d commands found", doc, n)
		}
	}
}

// readmeCommands returns the stskms command lines of the document's shell
// blocks (```sh), continuation lines joined, each from the word after "stskms".
func readmeCommands(text string) []string {
	var cmds []string
	inBlock := false
	var pending string
	for _, line := range strings.Split(text, "\n") {
		if fence := strings.TrimSpace(line); strings.HasPrefix(fence, "```") {
			inBlock = !inBlock && fence == "```sh"
			continue
		}
		if !inBlock {
			continue
		}
		line = pending + line
		pending = ""
		if strings.HasSuffix(strings.TrimRight(line, " "), "\\") {
			pending = strings.TrimSuffix(strings.TrimRight(line, " "), "\\") + " "
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		for _, part := range strings.Split(line, ";") {
			f := strings.Fields(part)
			for i, w := range f {
				if (w == "stskms" || w == "./stskms") && i+1 < len(f) && (i == 0 || f[i-1] != "-o") {
					cmds = append(cmds, strings.Join(f[i+1:], " "))
					break
				}
			}
		}
	}
	return cmds
}

var placeholder = regexp.MustCompile(`^[A-Z…]|^…|\.\.\.`)

// expandAlternatives turns "sm slot install|load --dir …" into one word
// list per alternative of the command words.
func expandAlternatives(line string) [][]string {
	words := [][]string{{}}
	for _, w := range strings.Fields(line) {
		if strings.HasPrefix(w, "-") || placeholder.MatchString(w) {
			for i := range words {
				words[i] = append(words[i], w)
			}
			continue
		}
		var next [][]string
		for _, alt := range strings.Split(w, "|") {
			for _, ws := range words {
				next = append(next, append(append([]string(nil), ws...), alt))
			}
		}
		words = next
	}
	return words
}

func checkReadmeCommand(t *testing.T, doc string, words []string) {
	t.Helper()
	cmds := commands()
	var path []string
	for _, w := range words {
		if strings.HasPrefix(w, "-") {
			break
		}
		c, ok := cmds[w]
		if !ok {
			break
		}
		path = append(path, w)
		if c.sub == nil {
			break
		}
		cmds = c.sub
	}
	if len(path) == 0 {
		t.Errorf("%s: stskms %s: no such command", doc, strings.Join(words, " "))
		return
	}
	fs, err := inspectFlags(&env{getenv: func(string) string { return "" }}, path)
	if err != nil {
		t.Errorf("%s: stskms %s: %v", doc, strings.Join(words, " "), err)
		return
	}
	for _, w := range words[len(path):] {
		if !strings.HasPrefix(w, "--") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		if fs.Lookup(name) == nil {
			t.Errorf("%s: stskms %s: no flag --%s", doc, strings.Join(path, " "), name)
		}
	}
}

// TestDeployConfig: the example configuration passes config check.
func TestDeployConfig(t *testing.T) {
	tree, err := loadConfig("../../deploy/stskms.toml")
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
	files, err := filepath.Glob("../../deploy/systemd/*.service")
	if err != nil || len(files) < 3 {
		t.Fatalf("units %v: %v", files, err)
	}
	files = append(files, "../../deploy/container/Containerfile")
	entrypoint := regexp.MustCompile(`^ENTRYPOINT \["/usr/local/bin/stskms", (.*)\]$`)
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, line := range strings.Split(string(text), "\n") {
			if m := entrypoint.FindStringSubmatch(line); m != nil {
				found++
				checkReadmeCommand(t, file, strings.Fields(strings.NewReplacer(`"`, "", ",", "").Replace(m[1])))
			}
			if i := strings.Index(line, "/usr/local/bin/stskms "); strings.HasPrefix(line, "ExecStart=") && i >= 0 {
				found++
				checkReadmeCommand(t, file, strings.Fields(line[i+len("/usr/local/bin/stskms "):]))
			}
			for _, v := range regexp.MustCompile(`STSKMS_[A-Z0-9_]+`).FindAllString(line, -1) {
				if !knownVariable(v) {
					t.Errorf("%s: %s is no setting of any command", file, v)
				}
			}
		}
		if found == 0 {
			t.Errorf("%s: no stskms command", file)
		}
	}
}

// knownVariable reports whether an STSKMS_… variable sets a flag of some
// command (or is one the commands or the unlock wrapper read themselves).
func knownVariable(name string) bool {
	switch name {
	case configEnv, "STSKMS_SM_OFFICERS":
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
