package sm

import (
	"bytes"
	"testing"
	"time"
)

// TestRegCache: a key is given back only for the sealed key and additional
// data it was opened from, as a copy; dropping a register or closing the
// cache zeroes the key it held, and a closed cache takes no more keys.
func TestRegCache(t *testing.T) {
	var c regCache
	r := Register{RegisterKey: RegisterKey{SGC: 123456, KRN: 1, KT: 2}, gen: 3, sealed: []byte("sealed"), CLM: 99,
		Loaded: time.Unix(5, 0)}
	aad, vk := []byte("aad"), []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if _, ok := c.key(&r, aad); ok {
		t.Fatal("a key from an empty cache")
	}
	c.put(&r, aad, vk)
	got, ok := c.key(&r, aad)
	if !ok || !bytes.Equal(got, vk) {
		t.Fatalf("key %x, %v", got, ok)
	}
	clear(got)
	if again, _ := c.key(&r, aad); !bytes.Equal(again, vk) {
		t.Fatal("clearing the copy changed the cache")
	}
	if cr, ok := c.register(r.RegisterKey); !ok || cr.gen != 3 || cr.CLM != 0 {
		t.Fatalf("register %+v, %v (the credit limit left is never cached)", cr, ok)
	}
	other := r
	other.sealed = []byte("resealed")
	if _, ok := c.key(&other, aad); ok {
		t.Fatal("a key for another sealed key")
	}
	if _, ok := c.key(&r, []byte("other attributes")); ok {
		t.Fatal("a key for other attributes")
	}
	held := c.entries[r.RegisterKey].vk
	c.forget(r.RegisterKey)
	if !bytes.Equal(held, make([]byte, len(vk))) {
		t.Fatal("forget left the key in memory")
	}
	if _, ok := c.register(r.RegisterKey); ok {
		t.Fatal("a forgotten register")
	}
	c.put(&r, aad, vk)
	held = c.entries[r.RegisterKey].vk
	c.put(&r, aad, vk) // replaced: the old copy is cleared
	if !bytes.Equal(held, make([]byte, len(vk))) {
		t.Fatal("a replaced key left in memory")
	}
	held = c.entries[r.RegisterKey].vk
	c.close()
	if !bytes.Equal(held, make([]byte, len(vk))) || len(c.entries) != 0 {
		t.Fatal("close left a key in memory")
	}
	c.put(&r, aad, vk)
	if _, ok := c.key(&r, aad); ok || len(c.entries) != 0 {
		t.Fatal("a key cached after close")
	}
}
