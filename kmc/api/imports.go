package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/kmc"
)

// Limits of imports under dual control.
const (
	// MaxQuorum is the most components an import may take.
	MaxQuorum = 8
	// ImportLifetime is how long an import waits for its components; then
	// the components received are cleared and it is gone.
	ImportLifetime = time.Hour
	// maxImports is how many imports may be pending at once.
	maxImports = 64
)

// errNoImport: no pending import of that id (never started, complete,
// abandoned or past ImportLifetime).
var errNoImport = errors.New("kmc/api: no such pending import")

// pending is an import under dual control waiting for its components.
// The components are held in this process's memory only, never stored,
// and cleared when the import completes, fails, is abandoned or expires.
type pending struct {
	id      string
	attrs   kmc.VKAttributes
	kcv     []byte
	quorum  int
	comps   []kmc.KeyComponent
	expires time.Time
}

func (p *pending) clear() {
	for _, c := range p.comps {
		clear(c.Value)
	}
	p.comps = nil
}

func (p *pending) answer() ImportAnswer {
	a := ImportAnswer{ID: p.id, State: "pending", Quorum: p.quorum, Officers: []string{}, Expires: p.expires}
	for _, c := range p.comps {
		a.Officers = append(a.Officers, c.Officer)
	}
	return a
}

// imports are the pending imports of a server.
type imports struct {
	mu  sync.Mutex
	m   map[string]*pending
	now func() time.Time
}

func newImports(now func() time.Time) *imports {
	return &imports{m: map[string]*pending{}, now: now}
}

// checkComponent checks a component's length and KCV before it is held.
func checkComponent(a kmc.VKAttributes, c kmc.KeyComponent) error {
	if len(c.Value) != a.KeySize() {
		return fmt.Errorf("%w: component of officer %q is %d bytes, DKGA%02d keys are %d", kmc.ErrInvalid,
			c.Officer, len(c.Value), a.DKGA, a.KeySize())
	}
	got, err := keyagree.KCV(c.Value)
	if err != nil {
		return fmt.Errorf("%w: %w", kmc.ErrInvalid, err)
	}
	if subtle.ConstantTimeCompare(got, c.KCV) != 1 {
		return fmt.Errorf("%w: component of officer %q", kmc.ErrKCV, c.Officer)
	}
	return nil
}

// start holds the first component of a new import. It takes c (and
// clears it on failure).
func (im *imports) start(attrs kmc.VKAttributes, quorum int, kcv []byte, c kmc.KeyComponent) (ImportAnswer, error) {
	if quorum == 0 {
		quorum = 2
	}
	if quorum < 2 || quorum > MaxQuorum {
		clear(c.Value)
		return ImportAnswer{}, fmt.Errorf("%w: quorum %d (want 2 to %d)", kmc.ErrDualControl, quorum, MaxQuorum)
	}
	if err := checkComponent(attrs, c); err != nil {
		clear(c.Value)
		return ImportAnswer{}, err
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	im.sweep()
	if len(im.m) >= maxImports {
		clear(c.Value)
		return ImportAnswer{}, fmt.Errorf("%w: %d imports are pending already", kmc.ErrExists, len(im.m))
	}
	id := make([]byte, 12)
	rand.Read(id)
	p := &pending{id: "IMP-" + strings.ToUpper(hex.EncodeToString(id)), attrs: attrs, kcv: kcv, quorum: quorum,
		comps: []kmc.KeyComponent{c}, expires: im.now().Add(ImportLifetime).UTC().Truncate(time.Second)}
	im.m[p.id] = p
	return p.answer(), nil
}

// add holds a further component of import id. When it completes the
// quorum, the import leaves the pending ones and add returns it (done
// true) for the caller to import and clear.
func (im *imports) add(id string, c kmc.KeyComponent) (p *pending, done bool, err error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.sweep()
	p, ok := im.m[id]
	if !ok {
		clear(c.Value)
		return nil, false, fmt.Errorf("%w: %q", errNoImport, id)
	}
	if slices.ContainsFunc(p.comps, func(o kmc.KeyComponent) bool { return strings.EqualFold(o.Officer, c.Officer) }) {
		clear(c.Value)
		return nil, false, fmt.Errorf("%w: officer %q gave a component of import %s already", kmc.ErrDualControl, c.Officer, id)
	}
	if err := checkComponent(p.attrs, c); err != nil {
		clear(c.Value)
		return nil, false, err
	}
	p.comps = append(p.comps, c)
	if len(p.comps) < p.quorum {
		return p, false, nil
	}
	delete(im.m, id)
	return p, true, nil
}

// abandon drops import id and clears its components.
func (im *imports) abandon(id string) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.sweep()
	p, ok := im.m[id]
	if !ok {
		return fmt.Errorf("%w: %q", errNoImport, id)
	}
	p.clear()
	delete(im.m, id)
	return nil
}

// list returns the pending imports, oldest first.
func (im *imports) list() []ImportAnswer {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.sweep()
	out := []ImportAnswer{}
	for _, p := range im.m {
		out = append(out, p.answer())
	}
	slices.SortFunc(out, func(a, b ImportAnswer) int { return a.Expires.Compare(b.Expires) })
	return out
}

// sweep drops the expired imports; im.mu is held.
func (im *imports) sweep() {
	now := im.now()
	for id, p := range im.m {
		if !now.Before(p.expires) {
			p.clear()
			delete(im.m, id)
		}
	}
}

// complete imports the key of a complete import as the last officer and
// clears the components.
func complete(ctx context.Context, k *kmc.KMC, a kmc.Actor, p *pending) (ImportAnswer, error) {
	defer p.clear()
	ans := p.answer()
	vk, err := k.ImportVendingKey(ctx, a.String(), p.attrs, p.comps, p.kcv)
	if err != nil {
		return ImportAnswer{}, err
	}
	key := vendingKeyOf(vk)
	ans.State, ans.Key, ans.Expires = "complete", &key, time.Time{}
	return ans, nil
}
