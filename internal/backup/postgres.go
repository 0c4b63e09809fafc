package backup

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/stskms/stskms/store"
)

// ErrNoTool is returned when pg_dump or pg_restore cannot be found.
var ErrNoTool = fmt.Errorf("backup: PostgreSQL client tool not found (install the PostgreSQL client, the same major version as the server or newer)")

// findTool returns the path of a PostgreSQL client program: the one on
// PATH, else the newest /usr/lib/postgresql/*/bin one.
func findTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return major(b) - major(a) })
	for _, d := range dirs {
		if fi, err := os.Stat(filepath.Join(d, name)); err == nil && !fi.IsDir() {
			return filepath.Join(d, name), nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrNoTool, name)
}

// libpq splits a store DSN into the URL libpq's tools accept (without
// its password, given them in $PGPASSWORD rather than on their command
// line), the search_path it names (a parameter of pgx, not of libpq), and
// the password.
func libpq(dsn string) (conn, schema, password string, err error) {
	dsn, password, err = store.SplitPassword(dsn)
	if err != nil {
		return "", "", "", err
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", "", "", fmt.Errorf("%w: cannot parse the PostgreSQL URL", store.ErrBadDSN)
	}
	q := u.Query()
	schema = q.Get("search_path")
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String(), schema, password, nil
}

// run runs a PostgreSQL tool, its messages (without password) in the error.
func run(ctx context.Context, password, name string, args ...string) error {
	path, err := findTool(name)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	if password != "" {
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		if password != "" {
			msg = strings.ReplaceAll(msg, password, "xxxxx")
		}
		return fmt.Errorf("backup: %s failed: %v: %s", name, err, msg)
	}
	return nil
}

// dumpPostgres dumps the database of dsn (only its search_path schema if
// the DSN names one) into the file out with pg_dump, custom format, and
// returns that schema.
func dumpPostgres(ctx context.Context, dsn, out string) (string, error) {
	conn, schema, password, err := libpq(dsn)
	if err != nil {
		return "", err
	}
	args := []string{"--format=custom", "--no-owner", "--no-privileges", "--file=" + out}
	if schema != "" {
		args = append(args, "--schema="+schema)
	}
	return schema, run(ctx, password, "pg_dump", append(args, "--dbname="+conn)...)
}

// restorePostgres restores the pg_dump archive file into the database of
// dsn, which must hold no table in the schema restored (schema, or
// public), in one transaction, and returns the DSN of the restored
// database (with search_path set to schema, if any), without password.
func restorePostgres(ctx context.Context, file, dsn, schema string) (string, error) {
	conn, _, password, err := libpq(dsn)
	if err != nil {
		return "", err
	}
	if err := checkEmpty(ctx, store.WithPassword(conn, password), schema); err != nil {
		return "", err
	}
	err = run(ctx, password, "pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
		"--dbname="+conn, file)
	if err != nil {
		return "", err
	}
	if schema == "" {
		return conn, nil
	}
	u, _ := url.Parse(conn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// checkEmpty refuses a database whose schema (public if "") holds a table.
func checkEmpty(ctx context.Context, conn, schema string) error {
	if schema == "" {
		schema = "public"
	}
	db, err := store.Open(ctx, conn)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	var n int64
	err = db.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1`, schema).Scan(&n)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: the PostgreSQL database's schema %s holds %d tables: restore into an empty database", ErrNotEmpty, schema, n)
	}
	return nil
}
