package keystore

// StoreOfficers returns the officers of the sealed store in dir, in the
// order of their components: the people whose passphrases unlock it, and so
// the officers registered for its dual control.
func StoreOfficers(dir string) ([]string, error) {
	m, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(m.comps))
	for i, c := range m.comps {
		names[i] = c.officer
	}
	return names, nil
}

// VerifyOfficer checks one officer's credential against the sealed store in
// dir without unlocking it: nil if the passphrase opens that officer's
// component, else an *OfficerError (ErrUnknownOfficer, ErrBadPassphrase).
// It authenticates one officer of a dual-control step; it does not read or
// modify the passphrase (the caller clears it).
func VerifyOfficer(dir string, c Component) error {
	m, err := readMeta(dir)
	if err != nil {
		return err
	}
	n := len(m.comps)
	for i, comp := range m.comps {
		if comp.officer != c.Officer {
			continue
		}
		doSecret(func() {
			kek := deriveKEK(c.Passphrase, comp.salt, comp.kdf)
			var part []byte
			part, err = openWith(kek, comp.nonce, comp.sealed, componentAAD(m.storeID, i, n, comp.officer))
			clear(kek)
			clear(part)
		})
		if err != nil {
			return &OfficerError{Officer: c.Officer, Err: ErrBadPassphrase}
		}
		return nil
	}
	return &OfficerError{Officer: c.Officer, Err: ErrUnknownOfficer}
}
