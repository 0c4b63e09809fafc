// Package keptcheckpoint keeps a component's latest signed audit
// checkpoint outside its database, so that opening the component catches a
// database that was restored from a backup, rolled back or forked (see
// docs/audit.md, "Rollback detection").
//
// The checkpoint is kept in a file of the component's keystore directory,
// written atomically beside the sealed files, or, when the custody is a
// PKCS#11 token, as a data object of the token; it is signed by the audit
// key in custody, so its integrity comes from the signature, not from
// where it is kept. A Keeper keeps the highest size it has seen: it never
// replaces a checkpoint by a smaller one. Witnesses, if any, get every new
// checkpoint, for an auditor to keep elsewhere: a file has it appended, an
// http:// or https:// URL has it POSTed. A witness that fails fails the
// keeping, as the custody store failing would.
package keptcheckpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stskms/stskms/internal/atomicfile"
	"github.com/stskms/stskms/keystore"
)

// FileName is the name of the kept checkpoint in the keystore directory.
const FileName = "audit-checkpoint"

// maxSize bounds a kept checkpoint, in bytes.
const maxSize = 4 << 10

// Store holds a component's kept checkpoint.
type Store interface {
	// Load returns the kept checkpoint, nil if none was kept.
	Load() ([]byte, error)
	// Save replaces the kept checkpoint, atomically.
	Save(signed []byte) error
	// String says where the checkpoint is kept, for messages.
	String() string
}

// DataObjects is a custody that keeps small named values: a PKCS#11 token
// (its CKO_DATA objects, keystore/pkcs11).
type DataObjects interface {
	ReadData(ctx context.Context, name string) ([]byte, error)
	WriteData(ctx context.Context, name string, value []byte) error
}

// fileStore keeps the checkpoint in DIR/FileName.
type fileStore struct{ dir string }

func (f fileStore) path() string   { return filepath.Join(f.dir, FileName) }
func (f fileStore) String() string { return f.path() }

func (f fileStore) Load() ([]byte, error) {
	b, err := os.ReadFile(f.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (f fileStore) Save(signed []byte) error {
	return atomicfile.Write(f.dir, FileName, signed, 0o600, nil)
}

// tokenStore keeps the checkpoint as the token's data object FileName.
type tokenStore struct{ t DataObjects }

func (s tokenStore) String() string {
	return fmt.Sprintf("the PKCS#11 token (data object %q)", FileName)
}

func (s tokenStore) Load() ([]byte, error) {
	b, err := s.t.ReadData(context.Background(), FileName)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, nil
	}
	return b, err
}

func (s tokenStore) Save(signed []byte) error {
	return s.t.WriteData(context.Background(), FileName, signed)
}

// Keeper keeps the checkpoints of one component. It is safe for
// concurrent use.
type Keeper struct {
	store     Store
	witnesses []string

	mu   sync.Mutex
	size int64 // of the checkpoint kept, -1 if none
}

// New returns the Keeper of the keystore directory dir (the checkpoint in
// the file FileName), appending every checkpoint it keeps to each of the
// witness files.
func New(dir string, witnesses ...string) *Keeper {
	return NewIn(fileStore{dir}, witnesses...)
}

// NewIn is New keeping the checkpoint in s.
func NewIn(s Store, witnesses ...string) *Keeper {
	return &Keeper{store: s, witnesses: witnesses, size: -1}
}

// StoreOf returns where a component keeps its checkpoint: in its PKCS#11
// token if custody is one (DataObjects), else in the keystore directory
// dir.
func StoreOf(custody any, dir string) Store {
	if t, ok := custody.(DataObjects); ok {
		return tokenStore{t}
	}
	return fileStore{dir}
}

// Path says where the checkpoint is kept.
func (k *Keeper) Path() string { return k.store.String() }

// Load returns the kept checkpoint, nil if none was kept. The caller
// checks its signature (audit.Log.CheckExtends).
func (k *Keeper) Load() ([]byte, error) {
	b, err := k.store.Load()
	if err != nil {
		return nil, fmt.Errorf("keptcheckpoint: failed to read the kept checkpoint: %w", err)
	}
	if len(b) > maxSize {
		return nil, fmt.Errorf("keptcheckpoint: %s: more than %d bytes", k.Path(), maxSize)
	}
	k.mu.Lock()
	if n, err := Size(b); err == nil {
		k.size = max(k.size, n)
	}
	k.mu.Unlock()
	return b, nil
}

// Keep keeps signed, a checkpoint whose signature the caller made, unless
// a larger one is kept already; it also appends it to the witness files.
// force replaces a larger one (an accepted rollback, see the components'
// accept-rollback commands).
func (k *Keeper) Keep(signed []byte, force bool) error {
	n, err := Size(signed)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if n < k.size && !force {
		return nil
	}
	if err := k.store.Save(signed); err != nil {
		return fmt.Errorf("keptcheckpoint: failed to keep the checkpoint: %w", err)
	}
	k.size = n
	var errs []error
	for _, w := range k.witnesses {
		errs = append(errs, witness(w, signed))
	}
	return errors.Join(errs...)
}

// Kept is the size of the checkpoint kept (-1 if none is known).
func (k *Keeper) Kept() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.size
}

// witness gives signed to the witness w: an http:// or https:// URL gets
// it POSTed (postWitness), anything else is a file it is appended to.
func witness(w string, signed []byte) error {
	if strings.HasPrefix(w, "http://") || strings.HasPrefix(w, "https://") {
		return postWitness(w, signed)
	}
	return appendWitness(w, signed)
}

// witnessTimeout bounds one POST to a witness URL.
const witnessTimeout = 5 * time.Second

// postWitness POSTs signed to the URL w as text/plain; the witness must
// answer 2xx within witnessTimeout. Its answer body is not read beyond
// 4 KiB and never trusted. The error names the URL without its user
// information or query (where a witness's credentials would be).
func postWitness(w string, signed []byte) error {
	u, err := url.Parse(w)
	if err != nil {
		return errors.New("keptcheckpoint: witness: not a URL")
	}
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	ctx, cancel := context.WithTimeout(context.Background(), witnessTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w, bytes.NewReader(signed))
	if err != nil {
		return fmt.Errorf("keptcheckpoint: witness %s: %w", shown, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may carry credentials
		}
		return fmt.Errorf("keptcheckpoint: witness %s: %w", shown, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("keptcheckpoint: witness %s answered %s", shown, resp.Status)
	}
	return nil
}

// appendWitness appends signed and a blank line to the file w.
func appendWitness(w string, signed []byte) error {
	f, err := os.OpenFile(w, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("keptcheckpoint: witness: %w", err)
	}
	_, err = f.Write(append(bytes.TrimRight(signed, "\n"), '\n', '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keptcheckpoint: witness %s: %w", w, err)
	}
	return nil
}

// Size reads the size line of a signed checkpoint, without checking its
// signature (the caller does, before trusting it).
func Size(signed []byte) (int64, error) {
	lines := bytes.SplitN(bytes.TrimLeft(signed, " \t\r\n"), []byte("\n"), 3)
	if len(lines) < 3 {
		return 0, errors.New("keptcheckpoint: not a checkpoint: want origin, size and root lines")
	}
	n, err := strconv.ParseInt(string(lines[1]), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("keptcheckpoint: not a checkpoint: size %.20q", lines[1])
	}
	return n, nil
}
