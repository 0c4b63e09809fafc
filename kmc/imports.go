package kmc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/strictjson"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/store"
)

// Limits of imports under dual control.
const (
	// MaxQuorum is the most components an import may take.
	MaxQuorum = 8
	// MaxPendingImports is how many imports may be pending at once.
	MaxPendingImports = 64
)

// PendingImport is an import of a vending key under dual control (see
// ImportVendingKey) waiting for its components. It lives in the database
// (tables vk_imports and vk_import_components), so every process of the
// KMC sees it and it survives a restart; each component is sealed by the
// key custody, bound to its import, number and officer, and deleted when
// the import completes, is abandoned or expires.
type PendingImport struct {
	ID       string
	Attrs    VKAttributes
	KCV      []byte // of the combined key; nil if not given
	Quorum   int
	Officers []string // who gave a component, in order
	Expires  time.Time
}

// checkComponent checks a component's length and KCV before it is held.
func checkComponent(a VKAttributes, c KeyComponent) error {
	if len(c.Value) != a.KeySize() {
		return fmt.Errorf("%w: component of officer %q is %d bytes, DKGA%02d keys are %d", ErrInvalid,
			c.Officer, len(c.Value), a.DKGA, a.KeySize())
	}
	got, err := keyagree.KCV(c.Value)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if subtle.ConstantTimeCompare(got, c.KCV) != 1 {
		return fmt.Errorf("%w: component of officer %q", ErrKCV, c.Officer)
	}
	return nil
}

// componentAAD binds a sealed component to its import, number and officer.
func componentAAD(id string, n int, officer string) []byte {
	return []byte("vk-import-component|" + id + "|" + strconv.Itoa(n) + "|" + strings.ToLower(officer))
}

// StartImport starts an import of a key with attributes a under dual
// control, quorum components (0: 2) from different officers, the combined
// key to match kcv if not nil, with the first component c, pending until
// expires (the API's clock gives now). The caller clears c.
func (k *KMC) StartImport(ctx context.Context, actor string, a VKAttributes, quorum int, kcv []byte, c KeyComponent, now, expires time.Time) (PendingImport, error) {
	if quorum == 0 {
		quorum = 2
	}
	if quorum < 2 || quorum > MaxQuorum {
		return PendingImport{}, fmt.Errorf("%w: quorum %d (want 2 to %d)", ErrDualControl, quorum, MaxQuorum)
	}
	if err := k.checkRegistered(c.Officer); err != nil {
		return PendingImport{}, err
	}
	if err := checkComponent(a, c); err != nil {
		return PendingImport{}, err
	}
	attrs, err := json.Marshal(a)
	if err != nil {
		return PendingImport{}, err
	}
	var idBytes [12]byte
	rand.Read(idBytes[:])
	p := PendingImport{ID: "IMP-" + strings.ToUpper(hex.EncodeToString(idBytes[:])), Attrs: a, KCV: kcv, Quorum: quorum,
		Officers: []string{c.Officer}, Expires: expires.UTC().Truncate(time.Second)}
	err = k.tx(ctx, func(tx *store.Tx) error {
		if err := sweepImports(ctx, tx, now); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM vk_imports`).Scan(&n); err != nil {
			return err
		}
		if n >= MaxPendingImports {
			return fmt.Errorf("%w: %d imports are pending already", ErrExists, n)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO vk_imports (id, attrs, kcv, quorum, expires, started_by) VALUES ($1, $2, $3, $4, $5, $6)`,
			p.ID, string(attrs), hex.EncodeToString(kcv), quorum, p.Expires.Unix(), actor); err != nil {
			return err
		}
		return k.holdComponent(ctx, tx, actor, p.ID, 1, c)
	})
	if err != nil {
		return PendingImport{}, err
	}
	return p, nil
}

// holdComponent seals and records component n of import id, and audits it.
func (k *KMC) holdComponent(ctx context.Context, tx *store.Tx, actor, id string, n int, c KeyComponent) error {
	sealed, err := k.custody.Seal(ctx, c.Value, componentAAD(id, n, c.Officer))
	if err != nil {
		return err
	}
	kcv := strings.ToUpper(hex.EncodeToString(c.KCV))
	if _, err := tx.Exec(ctx, `INSERT INTO vk_import_components (import_id, n, officer, kcv, sealed) VALUES ($1, $2, $3, $4, $5)`,
		id, n, c.Officer, kcv, sealed); err != nil {
		return err
	}
	_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "vk.import.component", Subject: id,
		Details: map[string]any{"officer": c.Officer, "n": n, "kcv": kcv}})
	return err
}

// sweepImports drops the imports expired at now, with their components.
func sweepImports(ctx context.Context, tx *store.Tx, now time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM vk_import_components WHERE import_id IN (SELECT id FROM vk_imports WHERE expires <= $1)`,
		now.Unix()); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM vk_imports WHERE expires <= $1`, now.Unix())
	return err
}

// errNoImport is the refusal of an import id that is not pending.
func errNoImport(id string) error {
	return fmt.Errorf("%w: no pending import %q (never started, complete, abandoned or expired)", ErrNotFound, id)
}

// pendingImport reads import id and its officers in tx.
func pendingImport(ctx context.Context, tx *store.Tx, id string) (PendingImport, error) {
	p := PendingImport{ID: id}
	var attrs, kcv string
	var expires int64
	err := tx.QueryRow(ctx, `SELECT attrs, kcv, quorum, expires FROM vk_imports WHERE id = $1`, id).Scan(&attrs, &kcv, &p.Quorum, &expires)
	if errors.Is(err, store.ErrNotFound) {
		return p, errNoImport(id)
	}
	if err != nil {
		return p, err
	}
	if err := strictjson.Unmarshal([]byte(attrs), &p.Attrs); err != nil {
		return p, fmt.Errorf("kmc: import %s: attributes: %w", id, err)
	}
	if p.KCV, err = hex.DecodeString(kcv); err != nil {
		return p, fmt.Errorf("kmc: import %s: KCV: %w", id, err)
	}
	if len(p.KCV) == 0 {
		p.KCV = nil
	}
	p.Expires = time.Unix(expires, 0).UTC()
	err = store.EachRow(ctx, tx, `SELECT officer FROM vk_import_components WHERE import_id = $1 ORDER BY n`, []any{id},
		func(row store.Scanner) error {
			var o string
			if err := row.Scan(&o); err != nil {
				return err
			}
			p.Officers = append(p.Officers, o)
			return nil
		})
	return p, err
}

// AddImportComponent holds a further component c of import id (the API's
// clock gives now). When it completes the quorum, the import leaves the
// pending ones and its key is imported (ImportVendingKey, actor the last
// officer): done is true and vk the key. The caller clears c.
func (k *KMC) AddImportComponent(ctx context.Context, actor, id string, c KeyComponent, now time.Time) (p PendingImport, vk VendingKey, done bool, err error) {
	var sealed [][]byte
	err = k.tx(ctx, func(tx *store.Tx) error {
		sealed, done = nil, false
		if err := sweepImports(ctx, tx, now); err != nil {
			return err
		}
		var err error
		if p, err = pendingImport(ctx, tx, id); err != nil {
			return err
		}
		for _, o := range p.Officers {
			if strings.EqualFold(o, c.Officer) {
				return fmt.Errorf("%w: officer %q gave a component of import %s already", ErrDualControl, c.Officer, id)
			}
		}
		if err := k.checkRegistered(c.Officer); err != nil {
			return err
		}
		if err := checkComponent(p.Attrs, c); err != nil {
			return err
		}
		if err := k.holdComponent(ctx, tx, actor, id, len(p.Officers)+1, c); err != nil {
			return err
		}
		p.Officers = append(p.Officers, c.Officer)
		if len(p.Officers) < p.Quorum {
			return nil
		}
		done = true
		if sealed, err = takeComponents(ctx, tx, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM vk_imports WHERE id = $1`, id)
		return err
	})
	if err != nil || !done {
		return p, VendingKey{}, false, err
	}
	vk, err = k.completeImport(ctx, actor, p, sealed)
	return p, vk, err == nil, err
}

// takeComponents reads the sealed components of import id and deletes
// them.
func takeComponents(ctx context.Context, tx *store.Tx, id string) ([][]byte, error) {
	out, err := store.All(ctx, tx, `SELECT sealed FROM vk_import_components WHERE import_id = $1 ORDER BY n`, []any{id},
		func(row store.Scanner) (b []byte, err error) {
			err = row.Scan(&b)
			return b, err
		})
	if err != nil {
		return nil, err
	}
	_, err = tx.Exec(ctx, `DELETE FROM vk_import_components WHERE import_id = $1`, id)
	return out, err
}

// completeImport unseals the components of a complete import, imports its
// key and clears them.
func (k *KMC) completeImport(ctx context.Context, actor string, p PendingImport, sealed [][]byte) (VendingKey, error) {
	comps := make([]KeyComponent, 0, len(sealed))
	defer func() {
		for _, c := range comps {
			clear(c.Value)
		}
	}()
	for i, s := range sealed {
		officer := p.Officers[i]
		v, err := k.custody.Open(ctx, s, componentAAD(p.ID, i+1, officer))
		if err != nil {
			return VendingKey{}, fmt.Errorf("kmc: component %d of import %s does not unseal: %w", i+1, p.ID, err)
		}
		kcv, err := keyagree.KCV(v)
		if err != nil {
			clear(v)
			return VendingKey{}, err
		}
		comps = append(comps, KeyComponent{Officer: officer, Value: v, KCV: kcv})
	}
	return k.ImportVendingKey(ctx, actor, p.Attrs, comps, p.KCV)
}

// AbandonImport drops import id and its components (the API's clock gives
// now), audited.
func (k *KMC) AbandonImport(ctx context.Context, actor, id string, now time.Time) error {
	return k.tx(ctx, func(tx *store.Tx) error {
		if err := sweepImports(ctx, tx, now); err != nil {
			return err
		}
		if _, err := pendingImport(ctx, tx, id); err != nil {
			return err
		}
		if _, err := takeComponents(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM vk_imports WHERE id = $1`, id); err != nil {
			return err
		}
		_, err := k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "vk.import.abandon", Subject: id})
		return err
	})
}

// PendingImports returns the imports pending at now, the first to expire
// first.
func (k *KMC) PendingImports(ctx context.Context, now time.Time) ([]PendingImport, error) {
	var out []PendingImport
	err := k.tx(ctx, func(tx *store.Tx) error {
		out = nil
		if err := sweepImports(ctx, tx, now); err != nil {
			return err
		}
		ids, err := store.All(ctx, tx, `SELECT id FROM vk_imports ORDER BY expires, id`, nil,
			func(row store.Scanner) (id string, err error) {
				err = row.Scan(&id)
				return id, err
			})
		if err != nil {
			return err
		}
		for _, id := range ids {
			p, err := pendingImport(ctx, tx, id)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	return out, err
}
