package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/store"
)

func TestOpenExistingMakesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, dsn := range []string{"sqlite:" + filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), "sqlite://" + filepath.Join(dir, "c.db")} {
		if db, err := store.OpenExisting(ctx, dsn); !errors.Is(err, store.ErrNoDatabase) {
			if db != nil {
				db.Close()
			}
			t.Errorf("OpenExisting(%s) = %v; want ErrNoDatabase", dsn, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("OpenExisting made %v", entries)
	}
	dsn := "sqlite:" + filepath.Join(dir, "a.db")
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = store.OpenExisting(ctx, dsn); err != nil {
		t.Fatalf("OpenExisting of an existing database: %v", err)
	}
	db.Close()
}

func TestHasPassword(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://u:pw@h/db":                  true,
		"postgresql://u:@h/db":                  true,
		"postgres://u@h/db?password=pw":         true,
		"postgres://u@h/db?sslmode=verify-full": false,
		"postgres://u@/db?host=/run/postgresql": false,
		"postgres://h/db":                       false,
		"postgres://u:pw@h:bad port/db":         true,
		"sqlite:/var/lib/x.db":                  false,
		"/var/lib/u:pw@x.db":                    false,
	} {
		if got := store.HasPassword(dsn); got != want {
			t.Errorf("HasPassword(%q) = %v, want %v", dsn, got, want)
		}
	}
}
