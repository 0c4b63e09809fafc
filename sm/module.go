package sm

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/atomicfile"
	"github.com/stskms/stskms/internal/auditkey"
	"github.com/stskms/stskms/internal/initdir"
	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/internal/strictjson"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodydir"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/release"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/sts/sta"
)

// Files of a module directory.
const (
	// ModuleFile is DIR/sm.json: the SMID, variant and test flag (for
	// people; the sealed identity in the database is the authority) and
	// where the database is. Init writes it last: a directory without it
	// holds no module.
	ModuleFile = "sm.json"
	// KeystoreDir is DIR/keystore, the key custody: the sealed store
	// (package keystore), or for a PKCS#11 custody its configuration
	// (DIR/keystore/pkcs11.json, package keystore/pkcs11).
	KeystoreDir = "keystore"
	// DatabaseFile is DIR/sm.db, the SQLite database unless Init was given
	// a PostgreSQL DSN.
	DatabaseFile = "sm.db"
	// LiveKMCFile is DIR/live-kmcs.txt, the configurable list of live KMCs
	// (see LiveKMCs).
	LiveKMCFile = "live-kmcs.txt"
)

// keyName is the name of the module's ECDH key pair in custody.
const keyName = "sm-ecdh"

// Defaults of Options.
const (
	// DefaultVendor is the SMID vendor of a module made without one.
	DefaultVendor = "stskms"
	// DefaultMaxRegisters is how many vending key registers a module holds
	// unless told otherwise: STS 600-10-1 §4.1.1 asks for at least 25.
	DefaultMaxRegisters = 10_000
	// MinRegisters is the fewest registers a module may be configured with.
	MinRegisters = 25
	// MaxSlots is the number of KEK slots.
	MaxSlots = 16
	// DefaultTIDWindow is how far ahead of the module's clock a TID may
	// run (one per minute is the clock's rate; requests faster than that
	// for one meter and key push the TID ahead): one week of minutes.
	DefaultTIDWindow = 7 * 24 * 60
)

// Options configure Init and Open. The zero value is a module on SQLite in
// its directory, with the wall clock.
type Options struct {
	// Officers are the security officers' credentials. Init of a
	// production module makes one storage key component per officer (at
	// least two) and Open needs all of them (dual control, PCI HSM B7/B8).
	// A test module, and one whose custody is PKCS#11, ignore them.
	Officers []keystore.Component
	// PKCS11, if not nil, makes Init keep the module's keys in that
	// PKCS#11 token (package keystore/pkcs11) instead of the sealed store:
	// the module's ECDH private key and its storage key become
	// non-extractable token objects. Init records the choice (and a copy
	// of the configuration in DIR/keystore), so Open needs only the PIN.
	// A test module cannot have one.
	PKCS11 *custodydir.PKCS11Config
	// PIN is the token's user PIN, for Init and Open of a module whose
	// custody is PKCS#11. The module does not keep it; the caller clears
	// it.
	PIN []byte
	// DSN is the database for Init: "" for SQLite in DIR/sm.db, or a
	// postgres:// URL (several module processes may then share TID,
	// credit-limit and audit state). It is recorded in DIR/sm.json without
	// its password, if it has one: Init uses the password, Open needs it
	// again as DBPassword (or from libpq's PGPASSFILE).
	DSN string
	// DBPassword is the password of the PostgreSQL database sm.json
	// records without one, for Open; "" leaves it to pgx (PGPASSWORD,
	// PGPASSFILE, ~/.pgpass) or to a password sm.json still records.
	DBPassword string
	// DB is an open database to use instead of the recorded one (tests,
	// embedding). The module does not close it.
	DB *store.DB
	// Vendor and ID are the SMID vendor and id (IDENTs) for Init: by
	// default DefaultVendor and 8 random digits.
	Vendor, ID string
	// STATables are the operator's EA07 tables. Without them a test module
	// uses sta.TestTables (which work on no real meter) and a production
	// module refuses EA07 keys (ErrNoTables).
	STATables *sta.Tables
	// Now is the module's clock (time.Now if nil).
	Now func() time.Time
	// MaxRegisters is the register capacity (DefaultMaxRegisters if 0,
	// at least MinRegisters).
	MaxRegisters int
	// TIDWindow is how many minutes a TID may run ahead of the clock
	// (DefaultTIDWindow if 0).
	TIDWindow uint32
	// Release is how Init and Open treat the running binary (package release):
	// the release manifest and key it checks itself against, whether it
	// must be a signed release, and the dual-control downgrade override
	// of the version floor (sm/release.go).
	Release release.Policy
	// AcceptRollback lets Open accept a database whose audit log is not an
	// extension of the checkpoint kept outside it (restored, rolled back
	// or forked), with the officers' dual control, audited, and keep the
	// current checkpoint instead (sm/kept.go). Without it such a module
	// opens in its error state.
	AcceptRollback bool
	// Witnesses are files to which every checkpoint the module keeps is
	// also appended.
	Witnesses []string
	// Actor is who makes the module, for Init's audit record ("system"
	// if empty).
	Actor string
	// Restore, on the first Open of a module restored from a backup
	// (`stskms sm restore`), records the restore as an explained fork
	// with the officers' dual control, and sets the TID floor past the
	// original's clock-ahead window (sm/restore.go).
	Restore *keptcheckpoint.Restore
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// moduleFile is the content of DIR/sm.json.
type moduleFile struct {
	Format   string  `json:"format"`
	SMID     string  `json:"smid"`
	Variant  Variant `json:"variant"`
	Test     bool    `json:"test"`
	Database string  `json:"database"`          // "sqlite:sm.db" (relative to DIR), a postgres:// URL, or "external"
	Custody  string  `json:"custody,omitempty"` // keystore.KindSealed (also when absent) or keystore.KindPKCS11
	Warning  string  `json:"warning,omitempty"`
}

const moduleFormat = "stskms-sm/1"

// Init makes a new module in dir, which must not exist (its parent must) or
// be empty: key custody in DIR/keystore (keystore.InitTest if test, a
// PKCS#11 token if opts.PKCS11, else keystore.Init with opts.Officers), a
// P-384 ECDH key pair inside it, the
// SMID naming that key, the database with the identity sealed in it and an
// audit record of the initialisation, the live-KMC list, and DIR/sm.json
// last. The variant can never change afterwards. The officers are checked
// before anything is made, and an Init that fails removes what it made
// in dir (package initdir), so that a corrected Init can follow.
//
// A test module (test true) protects nothing: its unlock material lies in
// its directory. It says so in its identity, in DIR/sm.json and wherever it
// shows.
func Init(ctx context.Context, dir string, variant Variant, test bool, opts Options) (_ Identity, err error) {
	if variant != Vending && variant != Manufacturing {
		return Identity{}, fmt.Errorf("sm: invalid variant %d", uint8(variant))
	}
	if test && opts.PKCS11 != nil {
		return Identity{}, refuse(ErrInvalidRequest, "a test module's custody is the TEST-ONLY sealed store, never a PKCS#11 token")
	}
	if _, err := checkRelease(opts); err != nil {
		return Identity{}, err
	}
	if err := custodydir.Check(custodySpec(test, opts)); err != nil {
		return Identity{}, fmt.Errorf("sm: failed to make the key custody: %w", err)
	}
	d, err := initdir.Prepare(dir)
	if errors.Is(err, initdir.ErrNotEmpty) {
		return Identity{}, refuse(ErrModuleExists, "%s is not empty", dir)
	}
	if err != nil {
		return Identity{}, err
	}
	defer d.UndoOnError(&err)
	database := "external"
	db := opts.DB
	if db == nil {
		var password string
		var err error
		if database, password, err = store.SplitPassword(opts.DSN); err != nil {
			return Identity{}, fmt.Errorf("sm: %w", err)
		}
		if database == "" {
			database = "sqlite:" + DatabaseFile
		}
		if db, err = openDB(ctx, dir, database, password); err != nil {
			return Identity{}, err
		}
		defer db.Close()
	}
	if err := db.Migrate(ctx, component, migrations); err != nil {
		return Identity{}, fmt.Errorf("sm: failed to migrate the database: %w", err)
	}
	var exists int64
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM sm_identity`).Scan(&exists); err != nil {
		return Identity{}, err
	}
	if exists > 0 {
		return Identity{}, refuse(ErrModuleExists, "the database holds another module's identity")
	}
	custody, kind, err := custodydir.Init(filepath.Join(dir, KeystoreDir), custodySpec(test, opts))
	if err != nil {
		return Identity{}, fmt.Errorf("sm: failed to make the key custody: %w", err)
	}
	defer custody.Lock()
	pub, err := custody.GenerateECDH(ctx, keyName)
	if err != nil {
		return Identity{}, fmt.Errorf("sm: failed to make the module key: %w", err)
	}
	vendor, id := opts.Vendor, opts.ID
	if vendor == "" {
		vendor = DefaultVendor
	}
	if id == "" {
		id = randomDigits(8)
	}
	created := opts.now().UTC().Truncate(time.Second)
	smid, err := records.NewPKID(records.SMID, vendor, id, created, pub)
	if err != nil {
		return Identity{}, fmt.Errorf("sm: invalid SMID: %w", err)
	}
	ident := Identity{SMID: smid, Variant: variant, Model: Model, Firmware: cloneFirmware(), Virtual: true,
		Test: test, Created: created, PublicKey: pub}

	log, err := audit.Open(ctx, db)
	if err != nil {
		return Identity{}, err
	}
	sealed, err := custody.Seal(ctx, ident.record().marshal(), identityAAD)
	if err != nil {
		return Identity{}, err
	}
	err = db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sm_identity (one, smid, variant, test, sealed) VALUES (1, $1, $2, $3, $4)`,
			smid.String(), variant.String(), boolInt(test), sealed); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return refuse(ErrModuleExists, "the database holds another module's identity")
			}
			return err
		}
		_, err := log.Append(ctx, tx, audit.Entry{Actor: cmp.Or(opts.Actor, "system"), Action: "sm.init", Subject: smid.String(),
			Details: map[string]any{"variant": variant.String(), "model": Model, "firmware": ident.Firmware,
				"virtual": true, "test": test}})
		return err
	})
	if err != nil {
		return Identity{}, err
	}
	if ident.AuditKey, err = auditkey.Ensure(ctx, log, custody); err != nil {
		return Identity{}, err
	}
	if err := writeFile(dir, LiveKMCFile, []byte(liveKMCFileText)); err != nil {
		return Identity{}, err
	}
	mf := moduleFile{Format: moduleFormat, SMID: smid.String(), Variant: variant, Test: test, Database: database, Custody: kind}
	if test {
		mf.Warning = TestWarning
	}
	b, _ := json.MarshalIndent(mf, "", "  ")
	if err := writeFile(dir, ModuleFile, append(b, '\n')); err != nil {
		return Identity{}, err
	}
	return ident, nil
}

// custodySpec describes the module's key custody to package custodydir.
func custodySpec(test bool, opts Options) custodydir.Spec {
	return custodydir.Spec{Test: test, PKCS11: opts.PKCS11, Officers: opts.Officers, PIN: opts.PIN}
}

// openCustody unlocks the key custody of a module described by mf.
func openCustody(ksDir string, mf moduleFile, opts Options) (keystore.Custody, error) {
	if err := custodydir.CheckKind(mf.Custody); err != nil {
		return nil, refuse(ErrIdentity, "%s: unknown custody %q", ModuleFile, mf.Custody)
	}
	return custodydir.Open(ksDir, mf.Custody, custodySpec(mf.Test, opts))
}

// Module is an open security module. It is safe for concurrent use.
type Module struct {
	dir      string
	ident    Identity
	custody  keystore.Custody
	officers []string // registered with the custody; nil for a test module (officers.go)
	db       *store.DB
	ownDB    bool
	log      *audit.Log
	tables   *sta.Tables
	testSTA  bool // tables are sta.TestTables by default
	now      func() time.Time
	live     []liveKMC
	maxRegs  int
	window   uint32
	writeMu  sync.Mutex // serialises the module's write transactions (see tx)
	fault    atomic.Pointer[Error]
	lastTest atomic.Pointer[SelftestReport]
	release  release.Status // the running binary, as checked at Open
	floor    release.Floor  // the version floor, as Open found and left it
	closed   atomic.Bool
	cache    regCache     // registers and their keys while open (cache.go)
	kept     keptState    // the checkpoint kept outside the database (kept.go)
	restored restoreState // restores from a backup, the TID floor (restore.go)

	// Group commit (group.go).
	queue     chan *pending
	quit      chan struct{}
	committer sync.WaitGroup
}

// Open opens the module in dir: unlocks its key custody (a test module
// from its file; a production one with every officer's credential in
// opts.Officers, or with opts.PIN if its custody is a PKCS#11 token),
// opens its database, checks that the sealed identity, the
// database and the key custody belong together (ErrIdentity otherwise),
// and runs the self-tests. If a self-test fails, Open still returns the
// module, in its error state: every service is refused with ErrSelfTest
// saying why, and Fault, Identify and Selftest report it.
func Open(ctx context.Context, dir string, opts Options) (*Module, error) {
	mf, err := readModuleFile(dir)
	if err != nil {
		return nil, err
	}
	rel, err := checkRelease(opts)
	if err != nil {
		return nil, err
	}
	custody, err := openCustody(filepath.Join(dir, KeystoreDir), mf, opts)
	if err != nil {
		return nil, fmt.Errorf("sm: failed to unlock the key custody: %w", err)
	}
	officers, err := loadOfficers(ctx, filepath.Join(dir, KeystoreDir), mf, custody, opts)
	if err != nil {
		custody.Lock()
		return nil, err
	}
	m := &Module{dir: dir, custody: custody, officers: officers, db: opts.DB, now: opts.Now, maxRegs: opts.MaxRegisters,
		window: opts.TIDWindow, tables: opts.STATables, release: rel}
	if m.now == nil {
		m.now = time.Now
	}
	if m.maxRegs == 0 {
		m.maxRegs = DefaultMaxRegisters
	}
	if m.maxRegs < MinRegisters {
		custody.Lock()
		return nil, fmt.Errorf("sm: %d registers configured, at least %d needed (STS 600-10-1 §4.1.1)", m.maxRegs, MinRegisters)
	}
	if m.window == 0 {
		m.window = DefaultTIDWindow
	}
	if m.db == nil {
		if mf.Database == "external" {
			custody.Lock()
			return nil, fmt.Errorf("sm: the module's database was given by the caller at Init; give it again in Options.DB")
		}
		if m.db, err = openDB(ctx, dir, mf.Database, opts.DBPassword); err != nil {
			custody.Lock()
			return nil, err
		}
		m.ownDB = true
	}
	floor, err := m.checkFloor(ctx, mf, opts)
	if err != nil {
		m.Close()
		return nil, err
	}
	if err := m.open(ctx, mf); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.recordFloor(ctx, floor, mf, opts); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.checkKept(ctx, mf, opts); err != nil {
		m.Close()
		return nil, err
	}
	if m.tables == nil && m.ident.Test {
		m.tables, m.testSTA = sta.TestTables(), true
	}
	m.startCommitter()
	rep := m.runSelftest(ctx)
	if !rep.OK {
		m.fault.Store(refuse(ErrSelfTest, "%s", rep.Failure()))
	}
	_, err = m.log.AppendNow(ctx, audit.Entry{Actor: "system", Action: "sm.start", Subject: m.ident.SMID.String(),
		Details: map[string]any{"selftest": rep.summary(), "version": m.release.Version, "release": m.release.String()}})
	if err != nil && rep.OK {
		m.Close()
		return nil, err
	}
	return m, nil
}

// open checks the identity and loads the configuration.
func (m *Module) open(ctx context.Context, mf moduleFile) error {
	if err := m.db.Migrate(ctx, component, migrations); err != nil {
		return fmt.Errorf("sm: failed to migrate the database: %w", err)
	}
	var err error
	if m.log, err = audit.Open(ctx, m.db); err != nil {
		return err
	}
	if m.ident, err = m.loadIdentity(ctx); err != nil {
		return err
	}
	if m.ident.SMID.String() != mf.SMID || m.ident.Variant != mf.Variant || m.ident.Test != mf.Test {
		return refuse(ErrIdentity, "%s does not describe the module in the database", ModuleFile)
	}
	if m.ident.AuditKey, err = auditkey.Ensure(ctx, m.log, m.custody); err != nil {
		return err
	}
	if m.live, err = loadLiveKMCs(m.dir); err != nil {
		return err
	}
	return m.loadRestores(ctx)
}

// loadIdentity reads the sealed identity and checks it against the plain
// columns and the key in custody.
func (m *Module) loadIdentity(ctx context.Context) (Identity, error) {
	var smidText, variant string
	var test int64
	var sealed []byte
	err := m.db.QueryRow(ctx, `SELECT smid, variant, test, sealed FROM sm_identity WHERE one = 1`).
		Scan(&smidText, &variant, &test, &sealed)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, refuse(ErrIdentity, "the database holds no module identity")
	}
	if err != nil {
		return Identity{}, err
	}
	plain, err := m.custody.Open(ctx, sealed, identityAAD)
	if err != nil {
		return Identity{}, refuseCause(ErrIdentity, err, "the sealed identity does not open under this key custody")
	}
	var r identityRecord
	if err := json.Unmarshal(plain, &r); err != nil || r.Format != identityFormat {
		return Identity{}, refuse(ErrIdentity, "the sealed identity is malformed")
	}
	if r.SMID != smidText || r.Variant.String() != variant || boolInt(r.Test) != test {
		return Identity{}, refuse(ErrIdentity, "the identity columns were changed (variant %q, sealed %q)", variant, r.Variant)
	}
	smid, err := records.ParsePKID(r.SMID)
	if err != nil {
		return Identity{}, refuseCause(ErrIdentity, err, "stored SMID")
	}
	pub, err := m.custody.PublicKey(ctx, keyName)
	if err != nil {
		return Identity{}, refuseCause(ErrIdentity, err, "module key")
	}
	if err := smid.CheckKey(pub); err != nil {
		return Identity{}, refuseCause(ErrIdentity, err, "the SMID does not name the key in custody")
	}
	if r.Test != m.custody.TestMode() {
		return Identity{}, refuse(ErrIdentity, "test flag %v, key custody test mode %v", r.Test, m.custody.TestMode())
	}
	if !r.Virtual || r.Model != Model {
		return Identity{}, refuse(ErrIdentity, "not a virtual %s", Model)
	}
	return Identity{SMID: smid, Variant: r.Variant, Model: r.Model, Firmware: cloneFirmware(), Virtual: r.Virtual,
		Test: r.Test, Created: time.Unix(0, r.Created).UTC(), PublicKey: pub}, nil
}

// Close locks the key custody (clearing its keys) and closes the database
// if the module opened it. The module refuses everything afterwards.
func (m *Module) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.stopCommitter()
	err := m.keepAtClose()
	m.custody.Lock()
	if m.ownDB && m.db != nil {
		return errors.Join(err, m.db.Close())
	}
	return err
}

// Identify returns the module's identity. It needs no role and works in
// the error state.
func (m *Module) Identify() Identity {
	id := m.ident
	id.Firmware = cloneFirmware()
	return id
}

// Fault returns why the module is in its error state, or nil.
func (m *Module) Fault() error {
	if f := m.fault.Load(); f != nil {
		return f
	}
	return nil
}

// TestTables reports whether EA07 tokens are made with sta.TestTables
// (a test module given no tables).
func (m *Module) TestTables() bool { return m.testSTA }

// ready checks that the module may serve a and op.
func (m *Module) ready(a Actor, op string) error {
	if m.closed.Load() {
		return refuse(ErrClosed, "")
	}
	if f := m.fault.Load(); f != nil {
		return f
	}
	return allow(a, op)
}

// tx runs fn in a store transaction. The module's write transactions all
// append to the audit log, whose head row serialises them anyway; taking a
// process-wide lock first saves PostgreSQL the serialization failures (and
// retries) that 64 concurrent clients of one process would otherwise cause.
// On SQLite store already lets one writer in at a time. Several processes
// sharing a PostgreSQL database still serialise on the audit head, through
// store's retries.
func (m *Module) tx(ctx context.Context, fn func(tx *store.Tx) error) error {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	var err error
	for range 3 {
		if err = m.db.Tx(ctx, fn); !errors.Is(err, store.ErrContention) {
			return err
		}
	}
	return err
}

// openDB opens the module's database, with password if it needs one.
func openDB(ctx context.Context, dir, database, password string) (*store.DB, error) {
	db, err := store.Open(ctx, store.WithPassword(store.InDir(dir, database), password))
	if err != nil {
		return nil, fmt.Errorf("sm: failed to open the database: %w", err)
	}
	return db, nil
}

func readModuleFile(dir string) (moduleFile, error) {
	var mf moduleFile
	b, err := os.ReadFile(filepath.Join(dir, ModuleFile))
	if errors.Is(err, fs.ErrNotExist) {
		return mf, refuse(ErrNoModule, "%s", dir)
	}
	if err != nil {
		return mf, err
	}
	if err := strictjson.Unmarshal(b, &mf); err != nil || mf.Format != moduleFormat {
		return mf, refuse(ErrIdentity, "%s is malformed", ModuleFile)
	}
	if !mf.Test && store.HasPassword(mf.Database) {
		if err := secretfile.Check(filepath.Join(dir, ModuleFile)); err != nil {
			return mf, fmt.Errorf("sm: %s records a database password: %w", ModuleFile, err)
		}
	}
	return mf, nil
}

// writeFile puts data in dir/name (mode 0600) so that a crash leaves the
// old file or the new one (package atomicfile).
func writeFile(dir, name string, data []byte) error {
	return atomicfile.Write(dir, name, data, 0o600, nil)
}

func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b[i] = byte('0' + d.Int64())
	}
	if b[0] == '0' {
		b[0] = '9'
	}
	return string(b)
}

// cloneFirmware returns a new map of each API's firmware identifier.
func cloneFirmware() map[API]string {
	return map[API]string{APISTS6: FirmwareSTS6, APIHTTP: FirmwareHTTP}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// VerifyAudit verifies the audit log's hash chain, its Merkle tree and
// that it extends the latest checkpoint kept in the database (auditor,
// officer): see audit.Log.VerifyTree. Keep signed checkpoints outside the
// database (AuditCheckpoint) to detect a later rollback of the log.
func (m *Module) VerifyAudit(ctx context.Context, a Actor) (audit.Report, error) {
	if m.closed.Load() {
		return audit.Report{}, refuse(ErrClosed, "")
	}
	if err := allow(a, "audit.verify"); err != nil {
		return audit.Report{}, err
	}
	rep, err := m.log.VerifyTree(ctx, nil)
	if err != nil {
		return rep, refuseCause(ErrIntegrity, err, "audit log")
	}
	return rep, nil
}

// Audit returns the module's audit log, for reading (auditor, officer).
func (m *Module) Audit(a Actor) (*audit.Log, error) {
	if err := allow(a, "audit.verify"); err != nil {
		return nil, err
	}
	return m.log, nil
}

// ModuleInfo is what DIR/sm.json says of a module, readable without
// unlocking it: enough to know whether Open needs the officers.
type ModuleInfo struct {
	SMID    string  `json:"smid"`
	Variant Variant `json:"variant"`
	Test    bool    `json:"test"`
	// Custody is keystore.KindSealed or keystore.KindPKCS11: whether Open
	// needs the officers or the token's PIN.
	Custody string `json:"custody"`
	// Database is the module's store DSN (a relative SQLite path resolved
	// against the directory), or "external" when the module was made on a
	// database given by the caller.
	Database string `json:"database"`
}

// Stat reads DIR/sm.json (ErrNoModule if there is none). It is not
// authenticated: Open checks it against the sealed identity.
func Stat(dir string) (ModuleInfo, error) {
	mf, err := readModuleFile(dir)
	if err != nil {
		return ModuleInfo{}, err
	}
	custody := mf.Custody
	if custody == "" {
		custody = keystore.KindSealed
	}
	return ModuleInfo{SMID: mf.SMID, Variant: mf.Variant, Test: mf.Test, Custody: custody,
		Database: store.InDir(dir, mf.Database)}, nil
}
