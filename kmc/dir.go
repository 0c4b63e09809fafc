package kmc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/store"
)

// Names in a KMC directory.
const (
	// ConfigFile is the KMC's configuration in its directory.
	ConfigFile = "kmc.json"
	// KeystoreDir is the key custody's directory inside the KMC's.
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
	// directory. A PostgreSQL DSN is recorded in kmc.json (mode 0600):
	// prefer peer or certificate authentication, or a password file, to a
	// password in the DSN.
	Database string
	// Officers are the security officers and passphrases of a live KMC's
	// custody (at least two: every one is needed to unlock). Not used in
	// test mode. Init does not keep or modify them.
	Officers []keystore.Component
	// Actor is who sets the KMC up, for the audit log ("system" if empty).
	Actor string
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Init makes a new KMC in dir, which must not exist or be empty: the key
// custody in dir/keystore (test mode: keystore.InitTest, its unlock
// material in the clear beside it; live mode: keystore.Init with the
// officers' passphrases), the database (SQLite dir/kmc.db by default), the
// KMC's identity and first key pair, and dir/kmc.json, written last. It
// returns the KMC open and unlocked; Close it when done.
func Init(ctx context.Context, dir string, o InitOptions) (*KMC, error) {
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
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	ksDir := filepath.Join(dir, KeystoreDir)
	if mode == ModeTest {
		err = keystore.InitTest(ksDir)
	} else {
		err = keystore.Init(ksDir, o.Officers)
	}
	if err != nil {
		return nil, fmt.Errorf("kmc: failed to make the key custody: %w", err)
	}
	cfg := dirConfig{Format: configFormat, Version: 1, Mode: mode, Database: o.Database}
	if cfg.Database == "" {
		cfg.Database = "sqlite:" + DefaultDBFile
	}
	k, err := openDir(ctx, dir, cfg, o.Officers, o.Now, 0)
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

// prepareDir makes dir (0700) or checks that it is empty.
func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("kmc: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("kmc: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("%w: directory %s is not empty", ErrExists, dir)
	}
	return nil
}

// writeFile writes data to a temporary file beside path, syncs it and
// renames it into place, mode 0600.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("kmc: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("kmc: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("kmc: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("kmc: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("kmc: %w", err)
	}
	return nil
}

// OpenOptions are what OpenDir needs besides the directory.
type OpenOptions struct {
	// Officers are every officer's passphrase: required for a live KMC,
	// ignored in test mode (whose custody unlocks from its file).
	Officers []keystore.Component
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Window is the request freshness window (DefaultWindow if 0).
	Window time.Duration
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

func readConfig(dir string) (dirConfig, error) {
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return dirConfig{}, fmt.Errorf("%w: no KMC in %s (no %s; run kmc init)", ErrNoIdentity, dir, ConfigFile)
	}
	if err != nil {
		return dirConfig{}, fmt.Errorf("kmc: %w", err)
	}
	var cfg dirConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil || cfg.Format != configFormat {
		return dirConfig{}, fmt.Errorf("kmc: %s is not a KMC configuration", filepath.Join(dir, ConfigFile))
	}
	if cfg.Version != 1 {
		return dirConfig{}, fmt.Errorf("kmc: %s: version %d is not supported", filepath.Join(dir, ConfigFile), cfg.Version)
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return dirConfig{}, err
	}
	return cfg, nil
}

// OpenDir opens the KMC in dir: it unlocks the custody (test mode from its
// TEST-ONLY file, live mode with every officer's passphrase), opens the
// database and checks that the KMC was set up. Close it when done.
func OpenDir(ctx context.Context, dir string, o OpenOptions) (*KMC, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	k, err := openDir(ctx, dir, cfg, o.Officers, o.Now, o.Window)
	if err != nil {
		return nil, err
	}
	if _, err := k.Identity(); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

func openDir(ctx context.Context, dir string, cfg dirConfig, officers []keystore.Component, now func() time.Time, window time.Duration) (*KMC, error) {
	ksDir := filepath.Join(dir, KeystoreDir)
	var custody *keystore.Sealed
	var err error
	if cfg.Mode == ModeTest {
		custody, err = keystore.UnlockTest(ksDir)
	} else {
		if len(officers) == 0 {
			return nil, fmt.Errorf("%w: a live KMC unlocks only with every officer's passphrase", ErrMode)
		}
		custody, err = keystore.Unlock(ksDir, officers)
	}
	if err != nil {
		return nil, fmt.Errorf("kmc: failed to unlock the key custody: %w", err)
	}
	dsn := cfg.Database
	if p, ok := strings.CutPrefix(dsn, "sqlite:"); ok && !filepath.IsAbs(p) {
		dsn = "sqlite:" + filepath.Join(dir, p)
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		custody.Lock()
		return nil, err
	}
	k, err := New(ctx, Config{DB: db, Custody: custody, Now: now, Window: window})
	if err != nil {
		custody.Lock()
		db.Close()
		return nil, err
	}
	k.closers = append(k.closers, func() error { custody.Lock(); return nil }, db.Close)
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
