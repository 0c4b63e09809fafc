package keptcheckpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/audit"
)

// Restore is a restore from a backup file (`stskms kmc|sm restore`,
// docs/operations.md), which the restored component's first open records
// in its audit log as an explained fork: the log goes on from the
// backup's head, as a new instance, and its checkpoint is kept in place of
// whatever was kept (by its original, at a shared PKCS#11 token or
// witness).
type Restore struct {
	// Instance names the restored copy: a new random id (NewInstance).
	Instance string
	// Created is when the backup was made.
	Created time.Time
	// HeadSeq and HeadHash are the audit log's head the backup's manifest
	// names (hex SHA-256): the restored log must extend it.
	HeadSeq  int64
	HeadHash string
	// Actor is who restored, for the audit log ("cli:USER").
	Actor string
}

// NewInstance returns a new random instance id.
func NewInstance() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrRestoreHead is returned when the restored database's audit log does
// not hold the head the backup's manifest names.
var ErrRestoreHead = errors.New("keptcheckpoint: the restored audit log does not hold the backup's head")

// Details returns the audit details of the restore of log (as it stands
// at the restored component's first open): the backup's creation time and
// head, the restored log's head it forks from, the instance, and what the
// kept checkpoint said (cpe, nil if the log extended it). It checks that
// the log holds the backup's head.
func (r Restore) Details(ctx context.Context, log *audit.Log, cpe *audit.CheckpointError) (map[string]any, error) {
	size, err := log.Size(ctx)
	if err != nil {
		return nil, err
	}
	var head string
	if size > 0 {
		err = log.Records(ctx, size, func(rec audit.Record) error {
			if rec.Seq == size {
				head = hex.EncodeToString(rec.Hash[:])
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := r.checkHead(ctx, log, size); err != nil {
		return nil, err
	}
	d := map[string]any{"instance": r.Instance, "backup_created": r.Created.UTC().Format(time.RFC3339Nano),
		"backup_head_seq": r.HeadSeq, "backup_head_hash": r.HeadHash, "forked_at_seq": size, "forked_at_hash": head,
		"kept": "none or extended"}
	if cpe != nil {
		d["kept"] = fmt.Sprintf("%s (checkpoint of %d records): %s", What(cpe.Kind), cpe.Size, cpe.Reason)
	}
	return d, nil
}

// checkHead checks that record r.HeadSeq of the log has hash r.HeadHash.
func (r Restore) checkHead(ctx context.Context, log *audit.Log, size int64) error {
	if r.HeadSeq == 0 {
		return nil
	}
	if size < r.HeadSeq {
		return fmt.Errorf("%w: it has %d records, the backup %d", ErrRestoreHead, size, r.HeadSeq)
	}
	found := false
	err := log.Records(ctx, r.HeadSeq, func(rec audit.Record) error {
		if rec.Seq == r.HeadSeq {
			found = hex.EncodeToString(rec.Hash[:]) == r.HeadHash
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	if !found {
		return fmt.Errorf("%w: record %d differs", ErrRestoreHead, r.HeadSeq)
	}
	return nil
}

var errStop = errors.New("stop")
