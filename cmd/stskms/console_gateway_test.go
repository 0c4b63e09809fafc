package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/store"
)

// TestConsoleGatewayQueue: kmc serve's console shows the queue of the
// gateway database in the KMC directory, and none (quietly, creating no
// database) when no gateway has served from there.
func TestConsoleGatewayQueue(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	e := &env{stdout: &stderr, stderr: &stderr, getenv: func(string) string { return "" }}
	if q, done := consoleGatewayQueue(e, dir, ""); q != nil || stderr.Len() != 0 {
		t.Errorf("no gateway: queue %v, said %q", q, stderr.String())
	} else {
		done()
	}
	if _, err := os.Stat(filepath.Join(dir, "gateway.db")); !os.IsNotExist(err) {
		t.Errorf("a database was made: %v", err)
	}
	db, _ := openTestGateway(t, store.InDir(dir, defaultGatewayDB))
	db.Close()
	q, done := consoleGatewayQueue(e, dir, "")
	defer done()
	if q == nil {
		t.Fatalf("the gateway's queue was not opened: %s", stderr.String())
	}
}
