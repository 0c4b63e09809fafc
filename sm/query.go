package sm

import "context"

// LookupRegister returns one vending key register's attributes, never its
// key (any role that may list registers; SM?GA): ErrNoRegister (28) if no
// register has that SGC, KRN and key type.
func (m *Module) LookupRegister(ctx context.Context, a Actor, k RegisterKey) (Register, error) {
	if err := m.ready(a, "register.list"); err != nil {
		return Register{}, err
	}
	r, err := m.register(ctx, k)
	r.sealed = nil
	r.gen = 0
	return r, err
}

// TransactionCount is the module's transaction counter (SM?CQ): how many
// token requests it has answered with tokens, counted from the store, so
// it survives restarts and is shared by the processes of one database. A
// retried request (same request id) counts once. Any role that may list
// registers may read it.
func (m *Module) TransactionCount(ctx context.Context, a Actor) (uint64, error) {
	if err := m.ready(a, "register.list"); err != nil {
		return 0, err
	}
	var n int64
	if err := m.db.QueryRow(ctx, `SELECT COUNT(*) FROM sm_request`).Scan(&n); err != nil {
		return 0, err
	}
	return uint64(n), nil
}

// DualControl returns the caller of an operation under dual control (PCI
// HSM: key loading by two officers): two distinct officers, recorded
// together as "officer:FIRST+SECOND". Anything else is refused (ErrRole).
func DualControl(first, second Actor) (Actor, error) {
	if first.Role != Officer || second.Role != Officer {
		return Actor{}, refuse(ErrRole, "dual control: two officers must authorise this")
	}
	if first.Name == second.Name {
		return Actor{}, refuse(ErrRole, "dual control: the second officer must be another officer than %s", first)
	}
	return Officer.As(first.Name + "+" + second.Name), nil
}
