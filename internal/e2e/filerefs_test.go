package e2e_test

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"go/types"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// oneWayRooms are the packages whose files reference one another one way
// only: of two files, at most one uses what the other declares (the
// gateway's rooms, docs/design.md §2: the queue, the server, the worker,
// the pure policy and replies).
var oneWayRooms = []string{"gateway"}

// TestFilesOneWay: inside each of oneWayRooms no two files reference each
// other. It logs the count of sm and kmc, which are not held to it.
func TestFilesOneWay(t *testing.T) {
	for _, dir := range append(slices.Clone(oneWayRooms), "sm", "kmc") {
		refs, err := fileRefs(filepath.Join("..", "..", dir))
		if err != nil {
			t.Fatal(err)
		}
		both := twoWay(refs)
		t.Logf("%s: %d of %d file-to-file references run both ways", dir, 2*len(both), len(refs))
		if slices.Contains(oneWayRooms, dir) {
			for _, p := range both {
				t.Errorf("%s: %s and %s reference each other", dir, p[0], p[1])
			}
		}
	}
}

// TestFileRefsTwoWay: fileRefs finds the references of testdata/tangle,
// and twoWay the one pair that runs both ways.
func TestFileRefsTwoWay(t *testing.T) {
	refs, err := fileRefs(filepath.Join("testdata", "tangle"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[[2]string]bool{{"a.go", "b.go"}: true, {"a.go", "c.go"}: true, {"b.go", "a.go"}: true, {"c.go", "b.go"}: true}
	if len(refs) != len(want) {
		t.Errorf("references %v, want %v", refs, want)
	}
	for r := range want {
		if !refs[r] {
			t.Errorf("no reference %s → %s", r[0], r[1])
		}
	}
	if got := twoWay(refs); !slices.Equal(got, [][2]string{{"a.go", "b.go"}}) {
		t.Errorf("twoWay = %v", got)
	}
}

// fileRefs returns the references between the files of the package in dir
// (not its tests): from → to when from uses a name, method or field that
// to declares. The package is type-checked with its imports as empty
// packages: only its own names need to resolve.
func fileRefs(dir string) (map[[2]string]bool, error) {
	bp, err := build.ImportDir(dir, 0)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: stubImporter{}, Error: func(error) {}} // errors: uses of the stubs
	pkg, _ := conf.Check(bp.ImportPath, fset, files, info)
	refs := map[[2]string]bool{}
	for id, obj := range info.Uses {
		if obj.Pkg() != pkg || obj.Parent() != nil && obj.Parent() != pkg.Scope() {
			continue // another package's, or a local name
		}
		from, to := filepath.Base(fset.File(id.Pos()).Name()), filepath.Base(fset.File(obj.Pos()).Name())
		if from != to {
			refs[[2]string{from, to}] = true
		}
	}
	return refs, nil
}

// twoWay returns the pairs of files that reference each other, sorted.
func twoWay(refs map[[2]string]bool) [][2]string {
	var out [][2]string
	for r := range refs {
		if r[0] < r[1] && refs[[2]string{r[1], r[0]}] {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	return out
}

// stubImporter imports every package as an empty one, named after its
// path (without a major version suffix or a "go-" prefix).
type stubImporter map[string]*types.Package

func (s stubImporter) Import(p string) (*types.Package, error) {
	if pkg, ok := s[p]; ok {
		return pkg, nil
	}
	name := path.Base(p)
	if v := strings.TrimPrefix(name, "v"); v != name && strings.Trim(v, "0123456789") == "" {
		name = path.Base(path.Dir(p))
	}
	pkg := types.NewPackage(p, strings.TrimPrefix(name, "go-"))
	pkg.MarkComplete()
	s[p] = pkg
	return pkg, nil
}
