package console

import "context"

// DualAction is the Action name, allowed by op, that two officers take on
// x, a component (Action.Dual): describe is its Describe and do its Do,
// each given x.
func DualAction[T any](x T, name, op string,
	describe func(context.Context, T, Call) (Operation, error),
	do func(context.Context, T, Call) (string, error)) Action {
	return Action{Name: name, Op: op, Dual: true,
		Describe: func(ctx context.Context, c Call) (Operation, error) { return describe(ctx, x, c) },
		Do:       func(ctx context.Context, c Call) (string, error) { return do(ctx, x, c) }}
}
