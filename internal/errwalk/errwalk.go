// Package errwalk lists the exported errors of a Go package from its
// source: its sentinel variables (Err…) and its error types (…Error), so
// that a test mapping every error of a package to its answer notices a
// new one.
package errwalk

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Exported returns the exported package-level variables named Err… and
// the exported types named …Error declared in the non-test Go files of
// dir, sorted.
func Exported(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		out = append(out, declared(f)...)
	}
	slices.Sort(out)
	return out, nil
}

// declared returns the errors f declares at package level.
func declared(f *ast.File) []string {
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range g.Specs {
			switch s := s.(type) {
			case *ast.ValueSpec:
				if g.Tok != token.VAR {
					continue
				}
				for _, n := range s.Names {
					if n.IsExported() && strings.HasPrefix(n.Name, "Err") {
						out = append(out, n.Name)
					}
				}
			case *ast.TypeSpec:
				if s.Name.IsExported() && strings.HasSuffix(s.Name.Name, "Error") {
					out = append(out, s.Name.Name)
				}
			}
		}
	}
	return out
}
