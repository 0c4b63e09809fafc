package sm

// CachedKeys returns how many vending keys m holds in its cache, and
// whether each of them is all zeros.
func CachedKeys(m *Module) (n int, zero bool) {
	m.cache.mu.RLock()
	defer m.cache.mu.RUnlock()
	zero = true
	for _, e := range m.cache.entries {
		n++
		for _, b := range e.vk {
			zero = zero && b == 0
		}
	}
	return n, zero
}
