package sm

import (
	"encoding/json"

	"github.com/stskms/stskms/sts"
)

// The variant rules of STS 600-10-1 §4.1.3, enforced by the module on
// every request (tests: policy_test.go, one refusal each).

// creditKeyTypes lists, per variant, the decoder key types under which
// credit tokens may be encrypted and verified: DITK only for a
// manufacturing module, DUTK and DCTK for a vending module. Neither may use
// a DDTK (a meter refuses credit under a default key, DDTKError).
var creditKeyTypes = map[Variant][]sts.KeyType{
	Manufacturing: {sts.DITK},
	Vending:       {sts.DUTK, sts.DCTK},
}

// checkCredit refuses credit under a key type the variant may not use.
func (m *Module) checkCredit(kt sts.KeyType) error {
	if kt == sts.DDTK {
		return refuse(ErrKeyType, "no credit token under a DDTK (default key)")
	}
	for _, ok := range creditKeyTypes[m.ident.Variant] {
		if kt == ok {
			return nil
		}
	}
	return refuse(ErrVariant, "a %s module makes credit tokens only under %v, not %v",
		m.ident.Variant, creditKeyTypes[m.ident.Variant], kt)
}

// checkKeyChange refuses a key change IEC 62055-41 §6.5 does not allow
// (sts.KeyChangeAllowed) or the variant may not make: a manufacturing
// module makes every allowed one, a vending module every one but those
// from a DITK.
func (m *Module) checkKeyChange(from, to sts.KeyType) error {
	if !sts.KeyChangeAllowed(from, to) {
		return refuse(ErrKeyType, "no key change from %v to %v (IEC 62055-41 §6.5)", from, to)
	}
	if m.ident.Variant == Vending && from == sts.DITK {
		return refuse(ErrVariant, "a vending module makes no key change from a DITK (%v → %v)", from, to)
	}
	return nil
}

// marshalWith marshals v (a struct) as a JSON object with one more member.
func marshalWith(v any, name string, value any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	if obj[name], err = json.Marshal(value); err != nil {
		return nil, err
	}
	return json.Marshal(obj)
}
