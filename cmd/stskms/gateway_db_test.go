package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestGatewayDBRecorded: gateway serve records its database in the KMC
// directory (gateway.json, without the password), and the admin commands
// given only --dir use it — on PostgreSQL not an empty SQLite file beside
// the KMC. A --db other than the recorded one is refused, saying how to
// re-record, which serve --record-db does.
func TestGatewayDBRecorded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		dsn := storetest.DSN(t, db)
		kmcDir := initTestKMC(t)
		e := &env{getenv: func(string) string { return "" }}
		// gateway serve opens its database so (openGatewayServe); the
		// password is ignored by the test server, never recorded.
		given := store.WithPassword(dsn, "hunter2")
		serve := gatewayDBFlags{dir: &kmcDir, db: &given, passwordFile: new(""), record: new(false)}
		gdb, err := serve.open(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		gw, err := gateway.New(ctx, gdb, nil, nil, gateway.Config{Address: "kmc@kms.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		raw := "From: alice@example.com\r\nTo: kmc@kms.example.com\r\nSubject: {KMS:Help}\r\n\r\nHi\r\n"
		if _, err := gw.Accept(ctx, gateway.Envelope{From: "alice@example.com", To: []string{"kmc@kms.example.com"}}, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		gdb.Close()
		rec, err := os.ReadFile(filepath.Join(kmcDir, gatewayRecordFile))
		if err != nil || strings.Contains(string(rec), "hunter2") || !strings.Contains(string(rec), gatewayRecordFormat) {
			t.Fatalf("%s: %q, %v", gatewayRecordFile, rec, err)
		}

		rc, out, errOut := runCLI("gateway", "queue", "list", "--dir", kmcDir, "--json")
		if rc != 0 || strings.Count(out, "alice@example.com") != 1 {
			t.Errorf("gateway queue list --dir: exit %d, %q, %s", rc, out, errOut)
		}
		if db.Dialect() == store.PostgreSQL {
			if _, err := os.Stat(filepath.Join(kmcDir, "gateway.db")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("gateway queue list made %s/gateway.db: %v", kmcDir, err)
			}
		}
		if rc, _, errOut := runCLI("gateway", "bounces", "--dir", kmcDir, "--db", dsn); rc != 0 {
			t.Errorf("gateway bounces with the recorded --db: exit %d, %s", rc, errOut)
		}

		other := "sqlite:" + filepath.Join(t.TempDir(), "other.db")
		rc, _, errOut = runCLI("gateway", "blocks", "--dir", kmcDir, "--db", other)
		if rc != 1 || !strings.Contains(errOut, "records the gateways' database") || !strings.Contains(errOut, "--record-db") ||
			strings.Contains(errOut, "hunter2") {
			t.Errorf("gateway blocks with another --db: exit %d, %s", rc, errOut)
		}
		moved := gatewayDBFlags{dir: &kmcDir, db: &other, passwordFile: new(""), record: new(false)}
		if _, err := moved.open(ctx, e); !errors.Is(err, errGatewayDB) {
			t.Fatalf("serve with another --db: %v", err)
		}
		*moved.record = true
		mdb, err := moved.open(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		mdb.Close()
		if got, _, err := readGatewayRecord(kmcDir); err != nil || !sameDB(kmcDir, got.Database, other) {
			t.Errorf("after --record-db: %+v, %v", got, err)
		}
	})
}

// TestGatewayRecordRefusals: a damaged gateway.json is refused, naming
// the file; a directory without one keeps DIR/gateway.db.
func TestGatewayRecordRefusals(t *testing.T) {
	dir := t.TempDir()
	none := ""
	f := gatewayDBFlags{dir: &dir, db: &none, passwordFile: &none}
	dsn, _, err := f.dsn(false)
	if err != nil || dsn != "sqlite:"+filepath.Join(dir, "gateway.db") {
		t.Errorf("no record: %q, %v", dsn, err)
	}
	for _, text := range []string{"{", `{"format":"other","database":"sqlite:x"}`, `{"format":"stskms-gateway/1"}`,
		`{"format":"stskms-gateway/1","database":"sqlite:x","password":"p"}`} {
		if err := os.WriteFile(filepath.Join(dir, gatewayRecordFile), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.dsn(false); !errors.Is(err, errGatewayDB) || !strings.Contains(err.Error(), gatewayRecordFile) {
			t.Errorf("%s: %v", text, err)
		}
	}
}

// TestGatewayRecordRelativeDB: a relative SQLite --db is recorded as the
// file serve opened (relative to the working directory), not one relative
// to the KMC directory.
func TestGatewayRecordRelativeDB(t *testing.T) {
	work := t.TempDir()
	t.Chdir(work)
	kmcDir, rel, none := filepath.Join(t.TempDir(), "kmc"), "sqlite:queue.db", ""
	if err := os.Mkdir(kmcDir, 0o700); err != nil {
		t.Fatal(err)
	}
	serve := gatewayDBFlags{dir: &kmcDir, db: &rel, passwordFile: &none, record: new(false)}
	db, err := serve.open(context.Background(), &env{getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	admin := gatewayDBFlags{dir: &kmcDir, db: &none, passwordFile: &none}
	want := "sqlite:" + filepath.Join(work, "queue.db")
	if got, _, err := admin.dsn(false); err != nil || got != want {
		t.Errorf("admin --dir: %q, %v; want %q", got, err, want)
	}
	if _, _, err := serve.dsn(true); err != nil {
		t.Errorf("serve again with the same relative --db: %v", err)
	}
}
