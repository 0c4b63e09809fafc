package errwalk_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stskms/stskms/internal/errwalk"
)

func TestExported(t *testing.T) {
	dir := t.TempDir()
	src := `package p

import "errors"

var ErrA = errors.New("a")

var (
	ErrB, errC = errors.New("b"), errors.New("c")
	NotAnErr   = 1
)

const ErrConst = "not a variable"

type FieldError struct{}
type Error struct{}
type fooError struct{}
type Other struct{}
`
	os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644)
	os.WriteFile(filepath.Join(dir, "p_test.go"), []byte("package p\n\nvar ErrTest error\n"), 0o644)
	got, err := errwalk.Exported(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ErrA", "ErrB", "Error", "FieldError"}; !slices.Equal(got, want) {
		t.Errorf("Exported = %q, want %q", got, want)
	}
	if _, err := errwalk.Exported(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing directory gave no error")
	}
}
