package keyagree

import "bytes"

// KEKForTest and MACKeyForTest expose copies of the derived keys so that the
// external tests can compare them with the §3.7 vectors. Test builds only.
func (k *KLFKeys) KEKForTest() []byte { return bytes.Clone(k.kek[:]) }

// MACKeyForTest: see KEKForTest.
func (k *KLFKeys) MACKeyForTest() []byte { return bytes.Clone(k.mac[:]) }
