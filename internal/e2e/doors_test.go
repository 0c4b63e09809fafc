package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/gobin"
)

// module is the import path of the project's module.
const module = "github.com/stskms/stskms"

// rooms are the packages (with the packages below them) that talk to one
// another only through a document or an adapter (docs/design.md §2): the
// security module, the KMC, the e-mail gateway and the integrator's mail
// client. The shared floors (sts, records, keyagree, keyload, keystore,
// store, audit, gwresult, internal/…) and the decoder simulator meter,
// which tests use as the oracle, belong to no room.
var rooms = []string{"sm", "kmc", "gateway", "smmail"}

// chooser is the one package that chooses among the kinds of key custody
// (docs/design.md §2): the code of a room reaches the PKCS#11 custody only
// through it, so that the choice is written once. Tests may import
// keystore/pkcs11 (its errors, SoftHSM2 tokens).
const chooser = "keystore/custodydir"

// goPackage is what TestDoors reads of `go list -json`.
type goPackage struct {
	ImportPath                         string
	Imports, TestImports, XTestImports []string
}

// TestDoors: no package of a room imports a package of another room, not
// even in its tests; a test that crosses rooms is an end-to-end test and
// lives in this package or in loop. And no room's code chooses its key
// custody itself: it imports keystore/custodydir, not keystore/pkcs11.
func TestDoors(t *testing.T) {
	pkgs := listPackages(t)
	for _, want := range []string{"sm", "sm/api", "kmc", "kmc/api", "gateway", "smmail"} {
		if !slices.ContainsFunc(pkgs, func(p goPackage) bool { return p.ImportPath == module+"/"+want }) {
			t.Fatalf("go list did not list %s/%s", module, want)
		}
	}
	for _, c := range crossings(pkgs) {
		t.Error(c)
	}
}

// TestDoorsCrossing: crossings finds a test of one room importing another
// room and a room's code importing keystore/pkcs11 (not its tests), and
// accepts an end-to-end package importing both rooms.
func TestDoorsCrossing(t *testing.T) {
	pkgs := []goPackage{
		{ImportPath: module + "/sm", Imports: []string{module + "/sts", module + "/store"}, XTestImports: []string{module + "/kmc"}},
		{ImportPath: module + "/kmc/api", TestImports: []string{module + "/kmc", module + "/sm/api/apitest"}},
		{ImportPath: module + "/smmail", Imports: []string{module + "/gwresult", module + "/smmailx"}},
		{ImportPath: module + "/internal/e2e", XTestImports: []string{module + "/sm", module + "/kmc"}},
		{ImportPath: module + "/kmc", Imports: []string{module + "/keystore/pkcs11"}, XTestImports: []string{module + "/keystore/pkcs11"}},
	}
	want := []string{
		module + "/sm (test) imports " + module + "/kmc: room sm may not enter room kmc",
		module + "/kmc/api (test) imports " + module + "/sm/api/apitest: room kmc may not enter room sm",
		module + "/kmc imports " + module + "/keystore/pkcs11: room kmc chooses its key custody through " + module + "/" + chooser,
	}
	if got := crossings(pkgs); !slices.Equal(got, want) {
		t.Errorf("crossings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// crossings returns, one line each, the imports (of code or of tests) of
// pkgs that go from one room into another, and the code of a room that
// imports keystore/pkcs11 instead of the chooser.
func crossings(pkgs []goPackage) []string {
	var out []string
	for _, p := range pkgs {
		from := roomOf(p.ImportPath)
		if from == "" {
			continue
		}
		for _, path := range p.Imports {
			if path == module+"/keystore/pkcs11" {
				out = append(out, fmt.Sprintf("%s imports %s: room %s chooses its key custody through %s/%s", p.ImportPath, path, from, module, chooser))
			}
		}
		for _, imports := range []struct {
			what  string
			paths []string
		}{{"", p.Imports}, {" (test)", p.TestImports}, {" (test)", p.XTestImports}} {
			for _, path := range imports.paths {
				if to := roomOf(path); to != "" && to != from {
					out = append(out, fmt.Sprintf("%s%s imports %s: room %s may not enter room %s", p.ImportPath, imports.what, path, from, to))
				}
			}
		}
	}
	return out
}

// roomOf returns the room holding the package with this import path, or
// "" if it belongs to none.
func roomOf(path string) string {
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	for _, r := range rooms {
		if rel == r || strings.HasPrefix(rel, r+"/") {
			return r
		}
	}
	return ""
}

// listPackages returns the module's packages as `go list -json` lists
// them.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	goBin := gobin.Path(t)
	out, err := exec.Command(goBin, "list", "-json=ImportPath,Imports,TestImports,XTestImports", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list %s/...: %v", module, err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
