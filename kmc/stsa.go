package kmc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/store"
)

// STSAKey is an STS Association signing key the KMC accepts registry
// updates under (docs/formats.md §9).
type STSAKey struct {
	// ID names the key as SMREG.HDR.1 does (records.STSAKeyID).
	ID records.Hash64
	// PublicKey is the ECDSA P-384 public key.
	PublicKey *ecdsa.PublicKey
	// AddedAt and AddedBy say when and by whom it was configured.
	AddedAt time.Time
	AddedBy string
}

// ParseSTSAPublicKey reads an STS Association public key: a PEM "PUBLIC
// KEY" block (PKIX, as openssl writes it) or the 97-byte uncompressed point
// as 194 hex digits. Only ECDSA P-384 keys are accepted; anything else is
// ErrInvalid.
func ParseSTSAPublicKey(data []byte) (*ecdsa.PublicKey, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%w: PEM block %q, want PUBLIC KEY", ErrInvalid, blk.Type)
		}
		key, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: STSA public key: %w", ErrInvalid, err)
		}
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P384() {
			return nil, fmt.Errorf("%w: STSA public key: not an ECDSA P-384 key", ErrInvalid)
		}
		return pub, nil
	}
	point, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: STSA public key: neither PEM nor hex", ErrInvalid)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P384(), point)
	if err != nil {
		return nil, fmt.Errorf("%w: STSA public key: not an uncompressed P-384 point", ErrInvalid)
	}
	return pub, nil
}

// AddSTSAKey configures an STS Association signing key: updates signed
// with it are accepted from then on (several keys may be configured, for a
// key rotation). ErrExists if it is configured already.
func (k *KMC) AddSTSAKey(ctx context.Context, actor string, pub *ecdsa.PublicKey) (STSAKey, error) {
	if _, err := k.Identity(); err != nil {
		return STSAKey{}, err
	}
	id, err := records.STSAKeyID(pub)
	if err != nil {
		return STSAKey{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	point, _ := pub.Bytes()
	key := STSAKey{ID: id, PublicKey: pub, AddedAt: k.now().UTC().Truncate(time.Second), AddedBy: actor}
	err = k.tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO stsa_keys (key_id, public_key, added_at, added_by) VALUES ($1, $2, $3, $4)`,
			id.String(), point, key.AddedAt.Unix(), actor)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: STSA key %s", ErrExists, id)
		}
		if err != nil {
			return err
		}
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "stsa.key.add", Subject: id.String(),
			Details: map[string]any{"public_key": strings.ToUpper(hex.EncodeToString(point))}})
		return err
	})
	if err != nil {
		return STSAKey{}, failed("add the STSA key", err)
	}
	return key, nil
}

// RemoveSTSAKey stops accepting updates signed with the key of id (16 hex
// digits). ErrNotFound if no such key is configured.
func (k *KMC) RemoveSTSAKey(ctx context.Context, actor, id string) error {
	id = strings.ToUpper(strings.TrimSpace(id))
	err := k.tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM stsa_keys WHERE key_id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("%w: STSA key %q", ErrNotFound, id)
		}
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "stsa.key.remove", Subject: id})
		return err
	})
	if err != nil {
		return failed("remove the STSA key", err)
	}
	return nil
}

// STSAKeys returns the configured STS Association keys, oldest first.
func (k *KMC) STSAKeys(ctx context.Context) ([]STSAKey, error) {
	var keys []STSAKey
	err := eachRow(ctx, k.db, "read the STSA keys", `SELECT key_id, public_key, added_at, added_by FROM stsa_keys ORDER BY added_at, key_id`, nil,
		func(row store.Scanner) error {
			var id string
			var point []byte
			var added int64
			var key STSAKey
			err := row.Scan(&id, &point, &added, &key.AddedBy)
			if err != nil {
				return failed("read the STSA keys", err)
			}
			if key.PublicKey, err = ecdsa.ParseUncompressedPublicKey(elliptic.P384(), point); err != nil {
				return fmt.Errorf("kmc: stored STSA key %s: %w", id, err)
			}
			key.ID, _ = records.STSAKeyID(key.PublicKey)
			key.AddedAt = time.Unix(added, 0).UTC()
			keys = append(keys, key)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return keys, nil
}
