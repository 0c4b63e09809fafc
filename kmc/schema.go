package kmc

import "github.com/stskms/stskms/store"

// component is the KMC's name in store's migrations.
const component = "kmc"

// migrations is the KMC's schema. Released steps never change; a new need
// is a new step. Times are Unix seconds (records carry whole seconds);
// booleans are 0/1; key material appears only in vending_keys.sealed and
// vk_import_components.sealed, sealed by the key custody.
var migrations = []store.Migration{{
	Version: 1,
	Name:    "identity, KMC keys, supply groups, vending keys, SM registry, key-use authorisations, seen requests",
	SQL: `CREATE TABLE kmc_identity (
		one        BIGINT PRIMARY KEY CHECK (one = 1),
		vendor     TEXT NOT NULL,
		kmc_id     TEXT NOT NULL,
		mode       TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		created_by TEXT NOT NULL
	);
	CREATE TABLE kmc_keys (
		seq         BIGINT PRIMARY KEY,
		name        TEXT NOT NULL UNIQUE,
		kmcid       TEXT NOT NULL UNIQUE,
		pkecdh      TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		key_time    BIGINT NOT NULL,
		expiry      BIGINT NOT NULL,
		created_by  TEXT NOT NULL
	);
	CREATE TABLE supply_groups (
		sgc        BIGINT PRIMARY KEY,
		name       TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		created_by TEXT NOT NULL
	);
	CREATE TABLE vending_keys (
		id         TEXT PRIMARY KEY,
		seq        BIGINT NOT NULL UNIQUE,
		sgc        BIGINT NOT NULL REFERENCES supply_groups (sgc),
		krn        BIGINT NOT NULL,
		kt         BIGINT NOT NULL,
		bdt        BIGINT NOT NULL,
		dkga       BIGINT NOT NULL,
		ea         BIGINT NOT NULL,
		ken        BIGINT NOT NULL,
		act        BIGINT NOT NULL,
		exp        BIGINT NOT NULL,
		iut        BIGINT NOT NULL,
		clm        BIGINT NOT NULL,
		kcv        TEXT NOT NULL,
		sealed     {{blob}} NOT NULL,
		origin     TEXT NOT NULL,
		state      TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		created_by TEXT NOT NULL,
		retired_at BIGINT NOT NULL,
		retired_by TEXT NOT NULL
	);
	CREATE UNIQUE INDEX vending_keys_active ON vending_keys (sgc, kt, krn) WHERE state = 'active';
	CREATE TABLE sms (
		smid          TEXT PRIMARY KEY,
		vendor        TEXT NOT NULL,
		sm_id         TEXT NOT NULL,
		public_key    {{blob}} NOT NULL,
		model         TEXT NOT NULL,
		firmware      TEXT NOT NULL,
		variant       TEXT NOT NULL,
		virtual       BIGINT NOT NULL,
		certified     BIGINT NOT NULL,
		emails        TEXT NOT NULL,
		registered_at BIGINT NOT NULL,
		registered_by TEXT NOT NULL,
		revoked_at    BIGINT NOT NULL,
		revoked_by    TEXT NOT NULL,
		revoke_reason TEXT NOT NULL
	);
	CREATE INDEX sms_id ON sms (sm_id);
	CREATE TABLE kuas (
		id          {{autoid}},
		smid        TEXT NOT NULL REFERENCES sms (smid),
		sgc         BIGINT NOT NULL REFERENCES supply_groups (sgc),
		kt_mask     BIGINT NOT NULL,
		valid_from  BIGINT NOT NULL,
		valid_until BIGINT NOT NULL,
		granted_at  BIGINT NOT NULL,
		granted_by  TEXT NOT NULL,
		revoked_at  BIGINT NOT NULL,
		revoked_by  TEXT NOT NULL
	);
	CREATE INDEX kuas_smid ON kuas (smid);
	CREATE TABLE seen_requests (
		smid    TEXT NOT NULL,
		t_req   BIGINT NOT NULL,
		kmcid   TEXT NOT NULL,
		t_issue BIGINT NOT NULL,
		n_vk    BIGINT NOT NULL,
		ref     TEXT NOT NULL,
		klf     TEXT NOT NULL,
		PRIMARY KEY (smid, t_req)
	)`,
}, {
	Version: 2,
	Name:    "STS Association keys and registry updates; seen requests by time, for pruning",
	SQL: `CREATE INDEX seen_requests_t_req ON seen_requests (t_req);
	CREATE TABLE stsa_keys (
		key_id     TEXT PRIMARY KEY,
		public_key {{blob}} NOT NULL,
		added_at   BIGINT NOT NULL,
		added_by   TEXT NOT NULL
	);
	CREATE TABLE sm_updates (
		update_seq  BIGINT PRIMARY KEY,
		key_id      TEXT NOT NULL,
		t_issue     BIGINT NOT NULL,
		applied_at  BIGINT NOT NULL,
		applied_by  TEXT NOT NULL,
		n_sm        BIGINT NOT NULL,
		n_added     BIGINT NOT NULL,
		n_changed   BIGINT NOT NULL,
		n_unchanged BIGINT NOT NULL
	);
	CREATE TABLE sm_update_answers (
		ref         TEXT PRIMARY KEY,
		answered_at BIGINT NOT NULL,
		update_seq  BIGINT NOT NULL,
		code        TEXT NOT NULL,
		params      TEXT NOT NULL
	)`,
}, {
	Version: 3,
	Name:    "admin API request answers and pending dual-control imports, shared by the KMC's processes",
	SQL: `CREATE TABLE api_requests (
		route      TEXT NOT NULL,
		request_id TEXT NOT NULL,
		actor      TEXT NOT NULL,
		digest     TEXT NOT NULL,
		answer     TEXT NOT NULL,
		expires    BIGINT NOT NULL,
		PRIMARY KEY (route, request_id)
	);
	CREATE INDEX api_requests_expires ON api_requests (expires);
	CREATE TABLE vk_imports (
		id         TEXT PRIMARY KEY,
		attrs      TEXT NOT NULL,
		kcv        TEXT NOT NULL,
		quorum     BIGINT NOT NULL,
		expires    BIGINT NOT NULL,
		started_by TEXT NOT NULL
	);
	CREATE TABLE vk_import_components (
		import_id TEXT NOT NULL,
		n         BIGINT NOT NULL,
		officer   TEXT NOT NULL,
		kcv       TEXT NOT NULL,
		sealed    {{blob}} NOT NULL,
		PRIMARY KEY (import_id, n)
	)`,
}}
