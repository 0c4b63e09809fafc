package sm

import (
	"bytes"
	"sync"
)

// regCache keeps, while the module is open, each register a request used
// and its vending key as opened from key custody, so that a token costs
// neither a read of the register nor an unsealing (which, with a PKCS#11
// custody, is a round trip to the token).
//
// The key is a memo of custody.Open: it is returned only for a register
// whose sealed key and additional data are those it was opened from. The
// register's attributes are checked in each request's transaction, where
// its generation and load time are read again (lockRegister): a register
// reloaded since it was cached makes the request start again with a fresh
// copy. Keys are copied out under the lock and cleared when an entry is
// dropped and when the module closes (close); they are never logged.
type regCache struct {
	mu      sync.RWMutex
	entries map[RegisterKey]*cachedRegister
	closed  bool // the module is closed: nothing is cached any more
}

type cachedRegister struct {
	r   Register
	aad []byte
	vk  []byte
}

// register returns the cached copy of a register.
func (c *regCache) register(k RegisterKey) (Register, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[k]
	if !ok {
		return Register{}, false
	}
	return e.r, true
}

// key returns a copy of the vending key of r, if it is cached for r's
// sealed key and additional data aad; the caller clears it.
func (c *regCache) key(r *Register, aad []byte) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[r.RegisterKey]
	if !ok || !bytes.Equal(e.r.sealed, r.sealed) || !bytes.Equal(e.aad, aad) {
		return nil, false
	}
	return bytes.Clone(e.vk), true
}

// put caches r and a copy of its vending key, unless the cache is closed.
func (c *regCache) put(r *Register, aad, vk []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.entries == nil {
		c.entries = map[RegisterKey]*cachedRegister{}
	}
	if old, ok := c.entries[r.RegisterKey]; ok {
		clear(old.vk)
	}
	e := &cachedRegister{r: *r, aad: aad, vk: bytes.Clone(vk)}
	e.r.CLM = 0 // the credit limit left is read in each transaction
	c.entries[r.RegisterKey] = e
}

// forget drops a register and clears its key.
func (c *regCache) forget(k RegisterKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		clear(e.vk)
		delete(c.entries, k)
	}
}

// close drops every register, clears every key and keeps the cache empty
// from then on (a request still being prepared as the module closes).
func (c *regCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for k, e := range c.entries {
		clear(e.vk)
		delete(c.entries, k)
	}
}

// forget drops register k from the module's cache.
func (m *Module) forget(k RegisterKey) { m.cache.forget(k) }
