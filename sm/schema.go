package sm

import "github.com/stskms/stskms/store"

// component is the name of the module's schema in store's migrations.
const component = "sm"

// migrations is the module's schema. Released steps never change.
//
//   - sm_identity: one row, the identity sealed under the storage key (the
//     plain columns are for people; the sealed copy is the authority).
//   - sm_slot: the KEK slots, each holding a KMC key (PK.ECDH.1 as
//     installed) and, while LOADING, the time of the pending request.
//   - sm_register: the vending key registers, keyed by (SGC, KRN, KT), each
//     key sealed with its attributes as additional data; clm is the credit
//     limit left, clm_loaded the limit the KMC gave, gen counts the loads
//     of the register (a vend that read it before a reload starts again).
//   - sm_tid: the last TID issued per meter and key.
//   - sm_request: the answer to each request id, for idempotency, and
//     (from version 2) the caller it belongs to (Actor.String; empty on
//     rows of version 1, which no caller can replay).
//   - sm_restore (version 3): each restore of the module from a backup:
//     the new instance, when, the backup's time and audit head, and the
//     TID floor time below which the restored module issues no TID
//     (sm/restore.go).
var migrations = []store.Migration{{
	Version: 1,
	Name:    "identity, KEK slots, vending key registers, TIDs, requests",
	SQL: `CREATE TABLE sm_identity (
		one     BIGINT PRIMARY KEY CHECK (one = 1),
		smid    TEXT NOT NULL,
		variant TEXT NOT NULL,
		test    BIGINT NOT NULL,
		sealed  {{blob}} NOT NULL
	);
	CREATE TABLE sm_slot (
		slot         BIGINT PRIMARY KEY,
		state        TEXT NOT NULL,
		kmcid        TEXT NOT NULL UNIQUE,
		record       TEXT NOT NULL,
		fingerprint  TEXT NOT NULL,
		expiry_ns    BIGINT NOT NULL,
		t_req        TEXT NOT NULL,
		last_t_req   TEXT NOT NULL,
		installed_ns BIGINT NOT NULL,
		changed_ns   BIGINT NOT NULL,
		loads        BIGINT NOT NULL
	);
	CREATE TABLE sm_register (
		sgc        BIGINT NOT NULL,
		krn        BIGINT NOT NULL,
		kt         BIGINT NOT NULL,
		bdt        BIGINT NOT NULL,
		dkga       BIGINT NOT NULL,
		ea         BIGINT NOT NULL,
		ken        BIGINT NOT NULL,
		act_ns     BIGINT NOT NULL,
		iut_ns     BIGINT NOT NULL,
		clm_loaded BIGINT NOT NULL,
		clm        BIGINT NOT NULL,
		kcv        TEXT NOT NULL,
		sealed     {{blob}} NOT NULL,
		slot       BIGINT NOT NULL,
		kmcid      TEXT NOT NULL,
		loaded_ns  BIGINT NOT NULL,
		gen        BIGINT NOT NULL,
		PRIMARY KEY (sgc, krn, kt)
	);
	CREATE TABLE sm_tid (
		pan TEXT NOT NULL,
		sgc BIGINT NOT NULL,
		krn BIGINT NOT NULL,
		kt  BIGINT NOT NULL,
		tid BIGINT NOT NULL,
		PRIMARY KEY (pan, sgc, krn, kt)
	);
	CREATE TABLE sm_request (
		id     TEXT PRIMARY KEY,
		digest TEXT NOT NULL,
		answer TEXT NOT NULL,
		at_ns  BIGINT NOT NULL
	)`,
}, {
	Version: 2,
	Name:    "request ids belong to their caller",
	SQL:     `ALTER TABLE sm_request ADD COLUMN actor TEXT NOT NULL DEFAULT ''`,
}, {
	Version: 3,
	Name:    "restores from a backup and their TID floors",
	SQL: `CREATE TABLE sm_restore (
		instance   TEXT PRIMARY KEY,
		at_ns      BIGINT NOT NULL,
		floor_ns   BIGINT NOT NULL,
		backup_ns  BIGINT NOT NULL,
		head_seq   BIGINT NOT NULL
	)`,
}}
