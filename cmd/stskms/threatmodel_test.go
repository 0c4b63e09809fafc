package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// threatTest is one test a row of docs/threat-model.md names: "`TestName`
// (dir)", dir relative to the repository root.
var threatTest = regexp.MustCompile("`((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]*)` \\(([a-z0-9_./-]+)\\)")

// TestThreatModel: every abuse case of docs/threat-model.md (a row of a
// table headed "Abuse case") names at least one test, and every test it names exists
// in the package it says, so the model cannot claim a defence no test
// proves, nor keep citing a test after it is renamed or removed.
func TestThreatModel(t *testing.T) {
	text, err := os.ReadFile("../../docs/threat-model.md")
	if err != nil {
		t.Fatal(err)
	}
	rows, tests := 0, 0
	inTable := false
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case !strings.HasPrefix(line, "|"):
			inTable = false
			continue
		case strings.HasPrefix(line, "| Abuse case |"):
			inTable = true
			continue
		case !inTable || strings.HasPrefix(line, "|--"):
			continue
		}
		rows++
		found := threatTest.FindAllStringSubmatch(line, -1)
		if len(found) == 0 {
			t.Errorf("docs/threat-model.md:%d: a row without a test: %s", i+1, line)
		}
		for _, m := range found {
			tests++
			if !testExists(t, filepath.Join("../..", m[2]), m[1]) {
				t.Errorf("docs/threat-model.md:%d: no func %s in %s/*_test.go", i+1, m[1], m[2])
			}
		}
	}
	if rows < 60 {
		t.Errorf("docs/threat-model.md: only %d abuse cases found", rows)
	}
	t.Logf("%d abuse cases, %d test references", rows, tests)
}

// testExists reports whether a _test.go file of dir declares func name.
func testExists(t *testing.T, dir, name string) bool {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?m)^func ` + name + `\(`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if decl.Match(src) {
			return true
		}
	}
	return false
}
