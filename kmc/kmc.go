package kmc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/auditkey"
	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/release"
	"github.com/stskms/stskms/store"
)

// Defaults of Config and Identity.
const (
	// DefaultWindow is how far a request time may lie from the KMC's clock,
	// either way, for a VKLOAD.REQ.1 to be fresh: mail takes minutes, and
	// clocks drift.
	DefaultWindow = 30 * time.Minute
	// DefaultKeyLifetime is the validity of a new KMC key pair (its
	// PK.ECDH.1 expiry), about three years as in the seed's example.
	DefaultKeyLifetime = 3 * 365 * 24 * time.Hour
)

// Config is what a KMC runs on.
type Config struct {
	// DB holds the KMC's state (and its audit log). Required.
	DB *store.DB
	// Custody holds the KMC's ECDH private keys and seals the vending
	// keys. Required. Its TestMode must match the KMC's mode.
	Custody keystore.Custody
	// Now is the KMC's clock; nil means time.Now.
	Now func() time.Time
	// Window is the freshness window of requests; 0 means DefaultWindow.
	Window time.Duration
	// Release is how New treats the running binary (package release): the
	// release manifest and key it checks itself against, whether it must
	// be a signed release, and the downgrade override of the version
	// floor (kmc/release.go).
	Release release.Policy
	// UnlockedBy names the officers whose passphrases were authenticated
	// when Custody was opened (the sealed store's Unlock, or a PKCS#11
	// custody's officer registry; none for a test custody): the dual
	// control of a downgrade, an accepted rollback or a restore. New
	// refuses a name not registered with the custody (kmc/officers.go).
	UnlockedBy []string
	// KeepDir, if not empty, is where the KMC keeps its latest signed
	// audit checkpoint outside the database (the keystore directory:
	// OpenDir and Init set it); New refuses a database whose log does not
	// extend it (a *audit.CheckpointError) unless AcceptRollback (kmc/kept.go).
	// Outside test mode it is also where the custody's officers are
	// registered: New reads them, and dual control names only them
	// (kmc/officers.go).
	KeepDir string
	// Witnesses are files each kept checkpoint is also appended to.
	Witnesses []string
	// AcceptRollback accepts, with the officers' dual control (UnlockedBy)
	// and audited, a database whose log does not extend the kept
	// checkpoint, and keeps its checkpoint instead.
	AcceptRollback bool
	// Restore, on the first open of a KMC restored from a backup
	// (`stskms kmc restore`), records the restore as an explained fork,
	// with the officers' dual control (UnlockedBy), and keeps the log's
	// checkpoint in place of the one kept (kmc/restore.go).
	Restore *keptcheckpoint.Restore
}

// KMC is a Key Management Centre: its identity and key pairs, supply groups
// and vending keys, the security-module registry, key-use authorisations,
// and Key Load File issuing. It is safe for concurrent use, and several
// processes may share one PostgreSQL database (each with the same key
// custody).
type KMC struct {
	db      *store.DB
	custody keystore.Custody
	log     *audit.Log
	vkey    string // the audit log's verifier key
	now     func() time.Time
	window  time.Duration

	mu sync.RWMutex
	id *Identity // nil until set up

	officers []string              // registered with the custody; nil: none to check (kmc/officers.go)
	closers  []func() error        // what Close releases (Init, OpenDir)
	kept     *keptcheckpoint.Guard // the checkpoint kept outside the database (kept.go)
	accepted string                // the rollback New accepted, if any
	restored string                // the restore New recorded, if any (restore.go)
	release  release.Status        // the running binary, as New checked it
	floor    release.Floor         // the version floor, as New found and left it

	// writer lets one audited transaction of this process run at a time
	// on PostgreSQL (SQLite's store does the same by itself). Every such
	// transaction updates the audit log's head row, so at SERIALIZABLE
	// they can only commit one after the other anyway; queueing them here
	// spares the serialization failures and retries that concurrent ones
	// would otherwise cost, and keeps store.Tx's bounded retries for
	// contention between processes.
	writer chan struct{}
}

// Identity is the KMC's name and mode, fixed at setup: the vendor and id of
// its KMCIDs (an IDENT each, see package records).
type Identity struct {
	Vendor string
	ID     string
	Mode   Mode
}

// New opens a KMC on cfg: it migrates the KMC's schema (component "kmc")
// and the audit log's, and loads the identity if the KMC was set up. A KMC
// whose recorded mode does not match the custody's (a live KMC on a test
// custody, or the reverse) is refused with ErrMode.
func New(ctx context.Context, cfg Config) (*KMC, error) {
	if cfg.DB == nil || cfg.Custody == nil {
		return nil, fmt.Errorf("%w: a KMC needs a database and a key custody", ErrInvalid)
	}
	officers, err := loadOfficers(ctx, cfg)
	if err != nil {
		return nil, err
	}
	rel, floor, err := checkRelease(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := cfg.DB.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("kmc: failed to migrate: %w", err)
	}
	log, err := audit.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	akey, err := auditkey.Ensure(ctx, log, cfg.Custody)
	if err != nil {
		return nil, err
	}
	k := &KMC{db: cfg.DB, custody: cfg.Custody, log: log, vkey: akey, now: cfg.Now, window: cfg.Window, writer: make(chan struct{}, 1),
		release: rel, officers: officers}
	if k.now == nil {
		k.now = time.Now
	}
	if err := k.recordFloor(ctx, floor, cfg); err != nil {
		return nil, err
	}
	if err := k.checkKept(ctx, cfg); err != nil {
		return nil, err
	}
	if k.window <= 0 {
		k.window = DefaultWindow
	}
	var id Identity
	var mode string
	err = cfg.DB.QueryRow(ctx, `SELECT vendor, kmc_id, mode FROM kmc_identity WHERE one = 1`).Scan(&id.Vendor, &id.ID, &mode)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("kmc: failed to read the identity: %w", err)
	}
	if id.Mode, err = ParseMode(mode); err != nil {
		return nil, fmt.Errorf("kmc: identity: %w", err)
	}
	if err := k.checkCustody(id.Mode); err != nil {
		return nil, err
	}
	k.id = &id
	return k, nil
}

// checkCustody checks that the custody's mode matches the KMC's: the
// custody's test flag is authenticated under its storage key, so a live
// KMC cannot be made out of a test store, nor the reverse.
func (k *KMC) checkCustody(m Mode) error {
	if test := k.custody.TestMode(); test != (m == ModeTest) {
		return fmt.Errorf("%w: a %s KMC on a key custody in %s mode", ErrMode, m, map[bool]string{true: "test", false: "production"}[test])
	}
	return nil
}

// tx runs fn in a store transaction, one at a time per process on
// PostgreSQL (see KMC.writer).
func (k *KMC) tx(ctx context.Context, fn func(*store.Tx) error) error {
	if k.db.Dialect() == store.PostgreSQL {
		select {
		case k.writer <- struct{}{}:
			defer func() { <-k.writer }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return k.db.Tx(ctx, fn)
}

// Identity returns the KMC's identity, or ErrNoIdentity before Setup.
func (k *KMC) Identity() (Identity, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.id == nil {
		return Identity{}, ErrNoIdentity
	}
	return *k.id, nil
}

// Mode returns the KMC's mode ("" before Setup).
func (k *KMC) Mode() Mode {
	id, _ := k.Identity()
	return id.Mode
}

// AuditLog returns the KMC's audit log (shared with whatever else uses the
// database), for verification and export.
func (k *KMC) AuditLog() *audit.Log { return k.log }

// Setup gives a new KMC its identity and its first key pair, valid for
// lifetime (DefaultKeyLifetime if 0). It fails with ErrExists if the KMC
// was set up already, ErrMode if id.Mode does not match the custody, and
// ErrInvalid for a vendor or id that is not an IDENT.
func (k *KMC) Setup(ctx context.Context, actor string, id Identity, lifetime time.Duration) (Key, error) {
	if _, err := ParseMode(string(id.Mode)); err != nil {
		return Key{}, err
	}
	if err := k.checkCustody(id.Mode); err != nil {
		return Key{}, err
	}
	probe := records.PKID{Type: records.KMCID, Vendor: id.Vendor, ID: id.ID, Time: k.now()}
	if err := probe.Validate(); err != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.id != nil {
		return Key{}, fmt.Errorf("%w: the KMC is %s:%s", ErrExists, k.id.Vendor, k.id.ID)
	}
	key, err := k.newKey(ctx, actor, id, lifetime, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO kmc_identity (one, vendor, kmc_id, mode, created_at, created_by)
			VALUES (1, $1, $2, $3, $4, $5)`, id.Vendor, id.ID, string(id.Mode), k.now().Unix(), actor); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("%w: the KMC was set up by another process", ErrExists)
			}
			return err
		}
		_, err := k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "kmc.setup", Subject: id.Vendor + ":" + id.ID,
			Details: map[string]any{"vendor": id.Vendor, "id": id.ID, "mode": string(id.Mode)}})
		return err
	})
	if err != nil {
		return Key{}, err
	}
	k.id = &id
	return key, nil
}

// Key is one of the KMC's ECDH key pairs, as published: its KMCID, its
// PK.ECDH.1 record and the record's fingerprint. The private key stays in
// custody under Name.
type Key struct {
	// Seq numbers the KMC's keys from 1 in the order they were made.
	Seq int
	// Name is the key's name in the custody.
	Name string
	// KMCID names the key (vendor, id, key time, key hash).
	KMCID records.PKID
	// Record is the key's PK.ECDH.1.
	Record *records.PKECDH
	// Body is the one-line PK.ECDH.1 text.
	Body string
	// Fingerprint is the record's fingerprint, published out of band.
	Fingerprint records.Hash64
	// CreatedBy is who made the key.
	CreatedBy string
}

// Expiry returns when the key expires: requests made for it are refused
// from then on.
func (key Key) Expiry() time.Time { return key.Record.Expiry }

// Expired reports whether the key has expired at t.
func (key Key) Expired(t time.Time) bool { return !t.Before(key.Record.Expiry) }

// FormatPublicKey returns what the KMC publishes for key, exactly as the
// gateway's {KMS:GetPublicKey} reply carries it: the line
// "KMC Public Key Fingerprint: XXXXXXXXXXXXXXXX" and the PK.ECDH.1 in
// Record-in-Email form, every line ending in CRLF.
func FormatPublicKey(key Key) ([]byte, error) {
	block, err := armor.Wrap(key.Body)
	if err != nil {
		return nil, err
	}
	out := []byte("KMC Public Key Fingerprint: " + key.Fingerprint.String() + "\r\n")
	return append(out, block...), nil
}

// RotateKey makes a new KMC key pair, valid for lifetime
// (DefaultKeyLifetime if 0), which becomes the current key. The older keys
// stay valid for requests made for them until their own expiry.
func (k *KMC) RotateKey(ctx context.Context, actor string, lifetime time.Duration) (Key, error) {
	id, err := k.Identity()
	if err != nil {
		return Key{}, err
	}
	return k.newKey(ctx, actor, id, lifetime, nil)
}

// newKey makes a key pair in custody and records it, with extra (if not
// nil) in the same transaction.
func (k *KMC) newKey(ctx context.Context, actor string, id Identity, lifetime time.Duration, extra func(*store.Tx) error) (Key, error) {
	if lifetime == 0 {
		lifetime = DefaultKeyLifetime
	}
	now := k.now().UTC().Truncate(time.Second)
	expiry := now.Add(lifetime).Truncate(time.Second)
	if !expiry.After(now) {
		return Key{}, fmt.Errorf("%w: key lifetime %v", ErrInvalid, lifetime)
	}
	var seq int64
	if err := k.db.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM kmc_keys`).Scan(&seq); err != nil {
		return Key{}, fmt.Errorf("kmc: failed to number the new key: %w", err)
	}
	name := "kmc-" + strconv.FormatInt(seq, 10) + "-" + now.Format(records.TimeLayout)
	pub, err := k.custody.GenerateECDH(ctx, name)
	if err != nil {
		return Key{}, fmt.Errorf("kmc: failed to generate the key pair: %w", err)
	}
	kmcid, err := records.NewPKID(records.KMCID, id.Vendor, id.ID, now, pub)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	key, err := makeKey(int(seq), name, &records.PKECDH{KMCID: kmcid, PublicKey: pub, Expiry: expiry}, actor)
	if err != nil {
		return Key{}, err
	}
	err = k.tx(ctx, func(tx *store.Tx) error {
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO kmc_keys (seq, name, kmcid, pkecdh, fingerprint, key_time, expiry, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, seq, name, kmcid.String(), key.Body, key.Fingerprint.String(),
			now.Unix(), expiry.Unix(), actor); err != nil {
			return err
		}
		_, err := k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "kmc.key.generate", Subject: kmcid.String(),
			Details: map[string]any{"seq": seq, "fingerprint": key.Fingerprint.String(),
				"expiry": expiry.Format(records.TimeLayout), "custody_name": name}})
		return err
	})
	if err != nil {
		// The key pair was never published: destroy it.
		_ = k.custody.Delete(context.WithoutCancel(ctx), name)
		return Key{}, fmt.Errorf("kmc: failed to record the new key: %w", err)
	}
	return key, nil
}

func makeKey(seq int, name string, rec *records.PKECDH, actor string) (Key, error) {
	body, err := rec.Format()
	if err != nil {
		return Key{}, err
	}
	return Key{Seq: seq, Name: name, KMCID: rec.KMCID, Record: rec, Body: body,
		Fingerprint: records.Fingerprint(body), CreatedBy: actor}, nil
}

// Keys returns every KMC key, oldest first, expired ones included.
func (k *KMC) Keys(ctx context.Context) ([]Key, error) {
	keys, err := store.All(ctx, k.db, `SELECT seq, name, pkecdh, created_by FROM kmc_keys ORDER BY seq`, nil, scanKey)
	if err != nil {
		return nil, failed("read the KMC keys", err)
	}
	return keys, nil
}

// eachRow is store.EachRow with the package's wrapping: an error of the
// query, or one that ends the rows early, is failed(what, err); fn's own
// errors are returned as fn gave them.
func eachRow(ctx context.Context, q store.Querier, what, query string, args []any, fn func(store.Scanner) error) error {
	var fnErr error
	err := store.EachRow(ctx, q, query, args, func(row store.Scanner) error {
		fnErr = fn(row)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return failed(what, err)
	}
	return err
}

func scanKey(row store.Scanner) (Key, error) {
	var seq int64
	var name, body, by string
	if err := row.Scan(&seq, &name, &body, &by); err != nil {
		return Key{}, err
	}
	rec, err := records.ParsePKECDH(body)
	if err != nil {
		return Key{}, fmt.Errorf("kmc: KMC key %d: stored PK.ECDH.1: %w", seq, err)
	}
	return makeKey(int(seq), name, rec, by)
}

// CurrentKey returns the newest unexpired KMC key: the one to publish and
// the one new requests are made for. ErrNoIdentity before Setup,
// ErrNoCurrentKey when every key has expired.
func (k *KMC) CurrentKey(ctx context.Context) (Key, error) {
	if _, err := k.Identity(); err != nil {
		return Key{}, err
	}
	key, err := scanKey(k.db.QueryRow(ctx, `SELECT seq, name, pkecdh, created_by FROM kmc_keys
		WHERE expiry > $1 ORDER BY seq DESC LIMIT 1`, k.now().Unix()))
	if errors.Is(err, store.ErrNotFound) {
		return Key{}, ErrNoCurrentKey
	}
	if err != nil {
		return Key{}, fmt.Errorf("kmc: failed to read the current key: %w", err)
	}
	return key, nil
}

// keyFor returns the KMC key a request names by its KMCID, or ErrNotFound.
func (k *KMC) keyFor(ctx context.Context, kmcid string) (Key, error) {
	key, err := scanKey(k.db.QueryRow(ctx, `SELECT seq, name, pkecdh, created_by FROM kmc_keys WHERE kmcid = $1`, kmcid))
	if errors.Is(err, store.ErrNotFound) {
		return Key{}, ErrNotFound
	}
	return key, err
}
