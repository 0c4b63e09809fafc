// Package storetest runs tests against every back end of package store: a
// fresh SQLite file, and a fresh database on a throw-away PostgreSQL server
// that it starts (once per test binary, on first need) and stops.
//
// It is for tests only. It imports store and the standard library.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
//	func TestX(t *testing.T) {
//		storetest.Each(t, func(t *testing.T, db *store.DB) { … })
//	}
//
// The PostgreSQL server is made with initdb and run as a child process from
// the binaries found on PATH or in /usr/lib/postgresql/*/bin, in a temporary
// directory, listening only on a unix socket there, with fsync off. Running
// as root (PostgreSQL refuses to), it runs them as the "postgres" user. If
// the binaries, or as root that user, are missing, the "postgres" subtests
// are skipped, or fail when the environment has CI=true. Setting
// STSKMS_TEST_POSTGRES to a postgres:// URL of an existing server (a role
// allowed to CREATE DATABASE) uses that server instead.
//
// On PostgreSQL each test gets an empty schema of its own, the only one on
// its connections' search_path, in a database made for the test binary and
// dropped after it: to package store that is a fresh database, made much
// faster than CREATE DATABASE.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stskms/stskms/store"
)

// EnvPostgres names the environment variable that points the tests at an
// existing PostgreSQL server instead of a throw-away one.
const EnvPostgres = "STSKMS_TEST_POSTGRES"

var (
	inMain atomic.Bool // Main is running the tests
	dbSeq  atomic.Int64
	dsns   sync.Map // *store.DB → its DSN, for Reopen

	pgMu    sync.Mutex
	pgTried bool
	pg      *postgres // nil until started, or if it could not be
	pgSkip  string    // why there is no server, if that is not a failure
	pgErr   error     // why there is no server, if that is a failure
)

// Main runs the tests of m and exits with their status, stopping the
// PostgreSQL server if one was started. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain that hands its m to another runner (such as
// testscript.Main): it runs the tests of m and returns their status,
// stopping the PostgreSQL server if one was started.
func Run(m interface{ Run() int }) int {
	inMain.Store(true)
	code := m.Run()
	pgMu.Lock()
	defer pgMu.Unlock()
	if pg != nil {
		if err := pg.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "storetest:", err)
			if code == 0 {
				code = 1
			}
		}
		pg = nil
	}
	return code
}

// Each runs fn as two subtests, "sqlite" and "postgres", each with a fresh,
// empty database that is closed and deleted after it.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, openPostgres(t)) })
}

// EachB is Each for benchmarks.
func EachB(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	b.Helper()
	b.Run("sqlite", func(b *testing.B) { fn(b, openSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, openPostgres(b)) })
}

// DSN returns the data source name of db, which must come from Each or
// EachB: for a process a test starts (a real server under test) to open
// the same database.
func DSN(tb testing.TB, db *store.DB) string {
	tb.Helper()
	dsn, ok := dsns.Load(db)
	if !ok {
		tb.Fatal("storetest: DSN of a DB that storetest did not open")
	}
	return dsn.(string)
}

// Reopen opens a second, independent handle (its own connection pool) on
// the database of db, as another process would; it is closed after the
// test. db must come from Each or EachB.
func Reopen(tb testing.TB, db *store.DB) *store.DB {
	tb.Helper()
	dsn, ok := dsns.Load(db)
	if !ok {
		tb.Fatal("storetest: Reopen of a DB that storetest did not open")
	}
	return open(tb, dsn.(string))
}

// Open opens the database at dsn (creating an SQLite file), closed after
// the test, or fails tb. It is for a test that opens a database of its own
// choosing, such as the file a child process wrote.
func Open(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	return open(tb, dsn)
}

func open(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	dsns.Store(db, dsn)
	tb.Cleanup(func() {
		dsns.Delete(db)
		if err := db.Close(); err != nil {
			tb.Errorf("storetest: close: %v", err)
		}
	})
	return db
}

func openSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	return open(tb, "sqlite:"+filepath.Join(tb.TempDir(), "test.db"))
}

// openPostgres makes a fresh schema for the test in the test binary's
// database and opens the database with only that schema on its search_path:
// to store and its callers, an empty database of its own (and one made in
// under a millisecond, where CREATE DATABASE takes some 300).
func openPostgres(tb testing.TB) *store.DB {
	tb.Helper()
	p := server(tb)
	schema := fmt.Sprintf("t%d_%s", dbSeq.Add(1), randHex(4))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.db.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("storetest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := p.db.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})
	u := *p.dbURL
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return open(tb, u.String())
}

// server returns the PostgreSQL server, starting it if need be, or ends the
// test.
func server(tb testing.TB) *postgres {
	tb.Helper()
	pgMu.Lock()
	defer pgMu.Unlock()
	if !pgTried {
		pgTried = true
		pg, pgSkip, pgErr = startPostgres()
	}
	switch {
	case pgErr != nil:
		tb.Fatalf("storetest: PostgreSQL: %v", pgErr)
	case pgSkip != "" && os.Getenv("CI") == "true":
		tb.Fatalf("storetest: PostgreSQL is required when CI=true: %s", pgSkip)
	case pgSkip != "":
		tb.Skipf("storetest: PostgreSQL not available: %s", pgSkip)
	}
	return pg
}

// startPostgres connects to the server named by STSKMS_TEST_POSTGRES, or
// starts a throw-away one, and creates the database of this test binary.
func startPostgres() (p *postgres, skip string, err error) {
	if !inMain.Load() {
		return nil, "", fmt.Errorf("call storetest.Main from TestMain, so that the server is stopped")
	}
	if env := os.Getenv(EnvPostgres); env != "" {
		u, err := url.Parse(env)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return nil, "", fmt.Errorf("%s must be a postgres:// URL", EnvPostgres)
		}
		p = &postgres{url: u}
		if err := p.connect(context.Background()); err != nil {
			return nil, "", err
		}
	} else if p, skip, err = startServer(); p == nil {
		return nil, skip, err
	}
	if err := p.createDB(); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, "", nil
}

// postgres is a PostgreSQL server the tests use: one started by startServer
// (proc not nil) or an existing one.
type postgres struct {
	url   *url.URL  // of its administrative database
	admin *store.DB // open on url
	proc  *serverProc

	dbName string    // the database of this test binary
	dbURL  *url.URL  // of that database
	db     *store.DB // open on dbURL
}

func (p *postgres) connect(ctx context.Context) error {
	db, err := store.Open(ctx, p.url.String())
	if err != nil {
		return err
	}
	p.admin = db
	return nil
}

// createDB creates and opens the database in which the tests of this
// binary get their schemas.
func (p *postgres) createDB() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("stskms_test_%d_%s", os.Getpid(), randHex(4))
	if _, err := p.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	p.dbName = name
	u := *p.url
	u.Path = "/" + name
	p.dbURL = &u
	db, err := store.Open(ctx, u.String())
	if err != nil {
		return err
	}
	p.db = db
	return nil
}

// stop drops the database of this test binary, closes the connections and
// stops the server if it was started here.
func (p *postgres) stop() error {
	var err error
	if p.db != nil {
		p.db.Close()
	}
	if p.dbName != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, derr := p.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+p.dbName+" WITH (FORCE)"); derr != nil {
			err = fmt.Errorf("drop database %s: %w", p.dbName, derr)
		}
	}
	if p.admin != nil {
		p.admin.Close()
	}
	if p.proc != nil {
		if perr := p.proc.stop(); perr != nil {
			err = perr
		}
	}
	return err
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
