package main

import (
	"os"
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
// blocks (```sh), continuation lines joined, each from the word after "stskms"
// (the program, not the user of "sudo -u stskms" or the file of "go build -o stskms").
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
				if (w == "stskms" || w == "./stskms") && i+1 < len(f) && (i == 0 || f[i-1] != "-o" && f[i-1] != "-u") {
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
	path := commandPath(words)
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

// commandPath returns the leading words of words that name a command
// (["kmc", "serve"] of "kmc serve --http …"), or none.
func commandPath(words []string) []string {
	cmds := commands()
	var path []string
	for _, w := range words {
		c, ok := cmds[w]
		if strings.HasPrefix(w, "-") || !ok {
			break
		}
		path = append(path, w)
		if c.sub == nil {
			break
		}
		cmds = c.sub
	}
	return path
}
