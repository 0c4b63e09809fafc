package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/store"
)

// consoleGatewayQueue opens the queue of the e-mail gateway that serves
// from the KMC directory dir (its recorded database, else DIR/gateway.db),
// for the console's gateway page; nil, and nothing to close, when no
// gateway has served from there or it cannot be opened (said on standard
// error).
func consoleGatewayQueue(e *env, dir, pwFile string) (*gateway.Queue, func()) {
	db := ""
	q, done, err := openGatewayAdmin(context.Background(), e, gatewayDBFlags{dir: &dir, db: &db, passwordFile: &pwFile})
	if err != nil {
		if !errors.Is(err, store.ErrNoDatabase) {
			fmt.Fprintf(e.stderr, "stskms kmc serve: console: gateway queue not shown: %v\n", err)
		}
		return nil, func() {}
	}
	return q, done
}
