//go:build !unix

package storetest

// serverProc is not needed where startServer cannot start a server.
type serverProc struct{}

func (serverProc) stop() error { return nil }

// startServer cannot start PostgreSQL on this system.
func startServer() (p *postgres, skip string, err error) {
	return nil, "the PostgreSQL test server needs a unix system; set " + EnvPostgres, nil
}
