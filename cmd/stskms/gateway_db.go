package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stskms/stskms/internal/atomicfile"
	"github.com/stskms/stskms/internal/strictjson"
	"github.com/stskms/stskms/store"
)

// The gateway's database is recorded in the KMC directory, in gateway.json,
// by "gateway serve": the admin commands (queue, bounces, blocks, unblock)
// given only --dir then open the database the gateways use, not an empty
// SQLite file beside the KMC. The record holds the DSN without its password
// (dbpassword.go).

// gatewayRecordFile is the gateway's record in the KMC directory.
const gatewayRecordFile = "gateway.json"

// gatewayRecordFormat names the format of gateway.json.
const gatewayRecordFormat = "stskms-gateway/1"

// defaultGatewayDB is the gateway's database when none is given or
// recorded: SQLite in the KMC directory.
const defaultGatewayDB = "sqlite:gateway.db"

// gatewayRecord is gateway.json.
type gatewayRecord struct {
	Format string `json:"format"`
	// Database is the DSN without its password; a relative SQLite path is
	// relative to the KMC directory.
	Database string `json:"database"`
}

// errGatewayDB marks a --db that is not the database the KMC directory
// records for its gateways.
var errGatewayDB = errors.New("gateway database")

// gatewayDBFlags are the flags that name the gateway's database; record is
// --record-db of gateway serve, nil for the admin commands.
type gatewayDBFlags struct {
	dir, db, passwordFile *string
	record                *bool
}

func addGatewayDB(fs *flagSet) gatewayDBFlags {
	return gatewayDBFlags{
		dir: fs.String("dir", "", "the KMC directory; the gateway's database is the one gateway serve recorded there\n"+
			"                 (DIR/"+gatewayRecordFile+"), else DIR/gateway.db"),
		db:           fs.String("db", "", "the gateway's database: sqlite:PATH or postgres://… (shared by several gateways); with --dir it must be the recorded one"),
		passwordFile: addDBPasswordFlag(fs),
	}
}

// addRecordDBFlag adds --record-db (gateway serve).
func (f *gatewayDBFlags) addRecordDBFlag(fs *flagSet) {
	f.record = fs.Bool("record-db", false, "record --db in DIR/"+gatewayRecordFile+" even though another database is recorded\n"+
		"                 there (moving the gateways to a new database)")
}

// open opens the database of gateway serve and, once it is open, records
// it in the KMC directory (see dsn).
func (f gatewayDBFlags) open(ctx context.Context, e *env) (*store.DB, error) {
	dsn, record, err := f.dsn(true)
	if err != nil {
		return nil, err
	}
	db, err := f.openDSN(ctx, e, dsn, store.Open)
	if err == nil && record != "" {
		if err = writeGatewayRecord(*f.dir, record); err != nil {
			db.Close()
		}
	}
	return db, err
}

// openExisting is open for the admin commands: a directory or SQLite file
// that holds no gateway database is refused rather than given one, and
// nothing is recorded.
func (f gatewayDBFlags) openExisting(ctx context.Context, e *env) (*store.DB, error) {
	dsn, _, err := f.dsn(false)
	if err != nil {
		return nil, err
	}
	db, err := f.openDSN(ctx, e, dsn, store.OpenExisting)
	if errors.Is(err, store.ErrNoDatabase) {
		return nil, fmt.Errorf("%w: no gateway has served from here (check --dir or --db)", err)
	}
	return db, err
}

func (f gatewayDBFlags) openDSN(ctx context.Context, e *env, dsn string, open func(context.Context, string) (*store.DB, error)) (*store.DB, error) {
	dsn, err := withDBPassword(e, dsn, *f.passwordFile)
	if err != nil {
		return nil, err
	}
	return open(ctx, dsn)
}

// dsn returns the database to open. With --db alone, --db. With --dir: the
// database DIR/gateway.json records, or DIR/gateway.db if none; a --db
// given too must be that one, unless serve records it (--record-db, or
// nothing recorded yet). For serve, record is the DSN to record once it
// is open ("" if it is recorded already).
func (f gatewayDBFlags) dsn(serve bool) (dsn, record string, err error) {
	dir, given := *f.dir, *f.db
	if dir == "" {
		if given == "" {
			return "", "", usageError("give the gateway directory with --dir, or its database with --db")
		}
		return given, "", nil
	}
	rec, found, err := readGatewayRecord(dir)
	if err != nil {
		return "", "", err
	}
	switch {
	case given == "" && found:
		return store.InDir(dir, rec.Database), "", nil
	case given == "":
		given = defaultGatewayDB
	case found && !sameDB(dir, rec.Database, given) && !(serve && *f.record):
		return "", "", fmt.Errorf("%w: %s records the gateways' database %s, not --db %s: drop --db to use the recorded one, "+
			"or start gateway serve with --db and --record-db to record the new one", errGatewayDB,
			filepath.Join(dir, gatewayRecordFile), store.Redact(rec.Database), store.Redact(given))
	}
	if serve && (!found || !sameDB(dir, rec.Database, given)) {
		record = absSQLite(given)
	}
	if given == defaultGatewayDB {
		return store.InDir(dir, given), record, nil
	}
	return given, record, nil
}

// readGatewayRecord reads DIR/gateway.json; found is false if there is
// none.
func readGatewayRecord(dir string) (rec gatewayRecord, found bool, err error) {
	path := filepath.Join(dir, gatewayRecordFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("%w: %w", errGatewayDB, err)
	}
	if err := strictjson.Unmarshal(data, &rec); err != nil || rec.Format != gatewayRecordFormat || rec.Database == "" {
		return rec, false, fmt.Errorf("%w: %s is not a gateway record", errGatewayDB, path)
	}
	return rec, true, nil
}

// writeGatewayRecord records dsn, without its password, in DIR/gateway.json
// (atomically: a crash leaves the old record or the new one).
func writeGatewayRecord(dir, dsn string) error {
	bare, _, err := store.SplitPassword(dsn)
	if err != nil {
		return err
	}
	data, _ := json.MarshalIndent(gatewayRecord{Format: gatewayRecordFormat, Database: bare}, "", "  ")
	if err := atomicfile.Write(dir, gatewayRecordFile, append(data, '\n'), 0o600, nil); err != nil {
		return fmt.Errorf("%w: %w", errGatewayDB, err)
	}
	return nil
}

// absSQLite returns an SQLite DSN with a path relative to the working
// directory as sqlite:ABSOLUTE-PATH, so that the record, read relative to
// the KMC directory, names the same file; the default (sqlite:gateway.db,
// in the KMC directory) and other DSNs come back as they are.
func absSQLite(dsn string) string {
	if dsn == defaultGatewayDB || (strings.Contains(dsn, "://") && !strings.HasPrefix(dsn, "sqlite:")) {
		return dsn
	}
	p := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return "sqlite:" + p
}

// sameDB reports whether the DSN given names the database recorded in dir:
// passwords aside, SQLite files compared by absolute path (the recorded
// one relative to dir, the given one to the working directory).
func sameDB(dir, recorded, given string) bool {
	norm := func(dsn string) string {
		bare, _, err := store.SplitPassword(dsn)
		if err != nil {
			return dsn
		}
		return absSQLite(bare)
	}
	if given == defaultGatewayDB {
		given = store.InDir(dir, given)
	}
	return norm(store.InDir(dir, recorded)) == norm(given)
}
