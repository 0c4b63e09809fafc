package kmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/stskms/stskms/internal/atomicfile"
	"github.com/stskms/stskms/internal/initdir"
	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/internal/strictjson"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodydir"
	"github.com/stskms/stskms/release"
	"github.com/stskms/stskms/store"
)

// Names in a KMC directory.
const (
	// ConfigFile is the KMC's configuration in its directory.
	ConfigFile = "kmc.json"
	// KeystoreDir is the key custody's directory inside the KMC's: the
	// sealed store, or for a PKCS#11 custody its configuration
	// (keystore/pkcs11.json).
	KeystoreDir = "keystore"
	// DefaultDBFile is the SQLite database in the KMC's directory, unless
	// another database is configured.
	DefaultDBFile = "kmc.db"
)

// configFormat names the format of kmc.json.
const configFormat = "stskms-kmc"

// dirConfig is kmc.json: what OpenDir needs before it can unlock anything.
// The authoritative mode is the custody's (authenticated under its storage
// key) and the database's; this copy only says how to unlock.
type dirConfig struct {
	Format   string `json:"format"`
	Version  int    `json:"version"`
	Mode     Mode   `json:"mode"`
	Database string `json:"database"`
	Custody  string `json:"custody,omitempty"` // keystore.KindSealed (also when absent) or keystore.KindPKCS11
}

// InitOptions describe a new KMC directory.
type InitOptions struct {
	// Mode is test or live. Required.
	Mode Mode
	// Vendor and ID name the KMC in its KMCIDs. Test mode defaults them to
	// TestKMC and K0001; live mode requires them.
	Vendor, ID string
	// KeyLifetime is the validity of the first key pair
	// (DefaultKeyLifetime if 0).
	KeyLifetime time.Duration
	// Database is a store DSN; "" means the SQLite file kmc.db in the
	// directory. A PostgreSQL DSN is recorded in kmc.json without its
	// password, if it has one: Init uses the password, and OpenDir needs
	// it again as OpenOptions.DBPassword (or from libpq's PGPASSFILE).
	Database string
	// Officers are the security officers and passphrases of a live KMC's
	// custody (at least two: every one is needed to unlock the sealed
	// store; with PKCS11 they are registered beside the token,
	// keystore.RegisterOfficers). Not used in test mode. Init does not
	// keep or modify them.
	Officers []keystore.Component
	// PKCS11, if not nil, puts a live KMC's keys into that PKCS#11 token
	// (package keystore/pkcs11) instead of the sealed store: its ECDH
	// private keys and its storage key become non-extractable token
	// objects. Init keeps a copy of the configuration in dir/keystore and
	// records the choice, so OpenDir needs only the PIN. A test-mode KMC
	// cannot have one (its custody must be the TEST-ONLY sealed store).
	PKCS11 *custodydir.PKCS11Config
	// PIN is the token's user PIN with PKCS11. Init does not keep it; the
	// caller clears it.
	PIN []byte
	// Actor is who sets the KMC up, for the audit log ("system" if empty).
	Actor string
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Release is how the KMC treats the running binary (Config.Release).
	Release release.Policy
}

// Init makes a new KMC in dir, which must not exist or be empty: the key
// custody in dir/keystore (test mode: keystore.InitTest, its unlock
// material in the clear beside it; live mode: keystore.Init with the
// officers' passphrases, or a PKCS#11 token with o.PKCS11), the database (SQLite dir/kmc.db by default), the
// KMC's identity and first key pair, and dir/kmc.json, written last. It
// returns the KMC open and unlocked; Close it when done. The officers (or
// PIN) are checked before anything is made, and an Init that fails
// removes what it made in dir (package initdir), so that a corrected Init
// can follow.
func Init(ctx context.Context, dir string, o InitOptions) (_ *KMC, err error) {
	mode, err := ParseMode(string(o.Mode))
	if err != nil {
		return nil, err
	}
	id := Identity{Vendor: o.Vendor, ID: o.ID, Mode: mode}
	if mode == ModeTest {
		if id.Vendor == "" {
			id.Vendor = "TestKMC"
		}
		if id.ID == "" {
			id.ID = "K0001"
		}
	} else if id.Vendor == "" || id.ID == "" {
		return nil, fmt.Errorf("%w: a live KMC needs a vendor and an id", ErrInvalid)
	}
	if o.Actor == "" {
		o.Actor = "system"
	}
	if mode == ModeTest && o.PKCS11 != nil {
		return nil, fmt.Errorf("%w: a test KMC's custody is the TEST-ONLY sealed store, never a PKCS#11 token", ErrMode)
	}
	if _, err := o.Release.Check(); err != nil {
		return nil, fmt.Errorf("kmc: %w", err)
	}
	if err := custodydir.Check(o.custodySpec(mode)); err != nil {
		return nil, fmt.Errorf("kmc: failed to make the key custody: %w", err)
	}
	d, err := initdir.Prepare(dir)
	if errors.Is(err, initdir.ErrNotEmpty) {
		return nil, fmt.Errorf("%w: directory %s is not empty", ErrExists, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("kmc: %w", err)
	}
	defer d.UndoOnError(&err)
	database, password, err := store.SplitPassword(o.Database)
	if err != nil {
		return nil, fmt.Errorf("kmc: %w", err)
	}
	cfg := dirConfig{Format: configFormat, Version: 1, Mode: mode, Database: database}
	if cfg.Database == "" {
		cfg.Database = "sqlite:" + DefaultDBFile
	}
	custody, kind, err := custodydir.Init(filepath.Join(dir, KeystoreDir), o.custodySpec(mode))
	cfg.Custody = kind
	if err != nil {
		return nil, fmt.Errorf("kmc: failed to make the key custody: %w", err)
	}
	k, err := openDB(ctx, dir, cfg, password, custody, Config{Now: o.Now, Release: o.Release})
	if err != nil {
		return nil, err
	}
	if _, err := k.Setup(ctx, o.Actor, id, o.KeyLifetime); err != nil {
		k.Close()
		return nil, err
	}
	data, _ := json.MarshalIndent(cfg, "", "  ")
	if err := writeFile(filepath.Join(dir, ConfigFile), append(data, '\n')); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// custodySpec describes the key custody of a KMC in mode to package
// custodydir.
func (o InitOptions) custodySpec(mode Mode) custodydir.Spec {
	return custodydir.Spec{Test: mode == ModeTest, PKCS11: o.PKCS11, Officers: o.Officers, PIN: o.PIN}
}

// writeFile puts data at path (mode 0600) so that a crash leaves the old
// file or the new one (package atomicfile).
func writeFile(path string, data []byte) error {
	if err := atomicfile.Write(filepath.Dir(path), filepath.Base(path), data, 0o600, nil); err != nil {
		return fmt.Errorf("kmc: %w", err)
	}
	return nil
}

// OpenOptions are what OpenDir needs besides the directory.
type OpenOptions struct {
	// Officers are every officer's passphrase: required for a live KMC on
	// the sealed store, ignored in test mode (whose custody unlocks from
	// its file). With a PKCS#11 custody they are optional: those given are
	// authenticated against its officer registry and are the dual control
	// of accept-rollback and downgrade (Config.UnlockedBy).
	Officers []keystore.Component
	// PIN is the user PIN of a KMC whose custody is a PKCS#11 token. The
	// KMC does not keep it; the caller clears it.
	PIN []byte
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Window is the request freshness window (DefaultWindow if 0).
	Window time.Duration
	// Release is how the KMC treats the running binary (Config.Release).
	Release release.Policy
	// Witnesses and AcceptRollback are Config's (kmc/kept.go).
	Witnesses      []string
	AcceptRollback bool
	// Restore is Config's (kmc/restore.go).
	Restore *keptcheckpoint.Restore
	// DBPassword is the password of the PostgreSQL database kmc.json
	// records without one; "" leaves it to pgx (PGPASSWORD, PGPASSFILE,
	// ~/.pgpass) or to a password kmc.json still records (older KMCs).
	DBPassword string
}

// DirMode reads the mode recorded in dir/kmc.json without unlocking
// anything, so that a tool knows whether to ask for passphrases.
func DirMode(dir string) (Mode, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return "", err
	}
	return cfg.Mode, nil
}

// DirDatabase returns the store DSN recorded in dir/kmc.json (a relative
// SQLite path resolved against dir), without unlocking: for an auditor's
// check of the audit log.
func DirDatabase(dir string) (string, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return "", err
	}
	return store.InDir(dir, cfg.Database), nil
}

// DirCustody reads the kind of key custody recorded in dir/kmc.json
// (keystore.KindSealed or keystore.KindPKCS11) without unlocking anything,
// so that a tool knows whether to ask for passphrases or a PIN.
func DirCustody(dir string) (string, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return "", err
	}
	return cfg.Custody, nil
}

func readConfig(dir string) (dirConfig, error) {
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return dirConfig{}, fmt.Errorf("%w: no KMC in %s (no %s; run kmc init)", ErrNoIdentity, dir, ConfigFile)
	}
	if err != nil {
		return dirConfig{}, fmt.Errorf("kmc: %w", err)
	}
	var cfg dirConfig
	if err := strictjson.Unmarshal(data, &cfg); err != nil {
		return dirConfig{}, fmt.Errorf("kmc: %s is not a KMC configuration: %w", filepath.Join(dir, ConfigFile), err)
	}
	if cfg.Format != configFormat {
		return dirConfig{}, fmt.Errorf("kmc: %s is not a KMC configuration", filepath.Join(dir, ConfigFile))
	}
	if cfg.Version != 1 {
		return dirConfig{}, fmt.Errorf("kmc: %s: version %d is not supported", filepath.Join(dir, ConfigFile), cfg.Version)
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return dirConfig{}, err
	}
	if err := custodydir.CheckKind(cfg.Custody); err != nil {
		return dirConfig{}, fmt.Errorf("kmc: %s: unknown custody %q", filepath.Join(dir, ConfigFile), cfg.Custody)
	}
	if cfg.Custody == "" {
		cfg.Custody = keystore.KindSealed
	}
	if cfg.Mode == ModeLive && store.HasPassword(cfg.Database) {
		if err := secretfile.Check(filepath.Join(dir, ConfigFile)); err != nil {
			return dirConfig{}, fmt.Errorf("kmc: %s records a database password: %w", ConfigFile, err)
		}
	}
	return cfg, nil
}

// OpenDir opens the KMC in dir: it unlocks the custody (test mode from its
// TEST-ONLY file, live mode with every officer's passphrase or the PIN of
// its PKCS#11 token), opens the database and checks that the KMC was set
// up. Close it when done.
func OpenDir(ctx context.Context, dir string, o OpenOptions) (*KMC, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	custody, err := openCustody(filepath.Join(dir, KeystoreDir), cfg, o)
	if err != nil {
		return nil, fmt.Errorf("kmc: failed to unlock the key custody: %w", err)
	}
	kc := Config{Now: o.Now, Window: o.Window, Release: o.Release, Witnesses: o.Witnesses, AcceptRollback: o.AcceptRollback,
		Restore: o.Restore}
	switch {
	case cfg.Mode == ModeLive && cfg.Custody == keystore.KindSealed:
		kc.UnlockedBy = keystore.OfficerNames(o.Officers) // Unlock authenticated them
	case cfg.Mode == ModeLive:
		// A PKCS#11 custody's officers, against its officer registry.
		if kc.UnlockedBy, err = AuthenticateOfficers(dir, o.Officers); err != nil {
			custody.Lock()
			return nil, err
		}
	}
	k, err := openDB(ctx, dir, cfg, o.DBPassword, custody, kc)
	if err != nil {
		return nil, err
	}
	if _, err := k.Identity(); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// openCustody unlocks the custody of a KMC directory as cfg says. A live
// KMC on the sealed store unlocks only with the officers' passphrases.
func openCustody(ksDir string, cfg dirConfig, o OpenOptions) (keystore.Custody, error) {
	test := cfg.Mode == ModeTest
	if !test && cfg.Custody == keystore.KindSealed && len(o.Officers) == 0 {
		return nil, fmt.Errorf("%w: a live KMC unlocks only with every officer's passphrase", ErrMode)
	}
	return custodydir.Open(ksDir, cfg.Custody, custodydir.Spec{Test: test, Officers: o.Officers, PIN: o.PIN})
}

// openDB opens the database of cfg (with password, if it needs one) and
// the KMC on it and custody (with the rest of kc), locking custody if it
// fails. Close releases both.
func openDB(ctx context.Context, dir string, cfg dirConfig, password string, custody keystore.Custody, kc Config) (*KMC, error) {
	db, err := store.Open(ctx, store.WithPassword(store.InDir(dir, cfg.Database), password))
	if err != nil {
		custody.Lock()
		return nil, err
	}
	kc.DB, kc.Custody, kc.KeepDir = db, custody, filepath.Join(dir, KeystoreDir)
	k, err := New(ctx, kc)
	if err != nil {
		custody.Lock()
		db.Close()
		return nil, err
	}
	k.closers = append(k.closers, k.keepAtClose, func() error { custody.Lock(); return nil }, db.Close)
	return k, nil
}

// Close locks the custody and closes the database of a KMC opened by Init
// or OpenDir. For a KMC made by New it does nothing: the caller owns what
// it gave.
func (k *KMC) Close() error {
	var errs []error
	for _, c := range k.closers {
		errs = append(errs, c())
	}
	k.closers = nil
	return errors.Join(errs...)
}
