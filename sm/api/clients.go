package api

import (
	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/sm"
)

// ClientsFile is the name of the client certificate file in the module
// directory: it maps TLS client certificates to callers for both the
// HTTP API and the STS6-style API.
const ClientsFile = "sm-sts6-clients.json"

const clientsFormat = "stskms-sm-sts6-clients/1"

// ClientEntry maps a client certificate to a caller (role officer,
// operator or auditor): by the SHA-256 of the certificate or by its
// subject common name.
type ClientEntry = httpapi.ClientEntry

// Clients maps verified client certificates to callers.
type Clients = httpapi.Clients[sm.Actor]

// NewClients checks the entries and returns their map.
func NewClients(entries []ClientEntry) (*Clients, error) { return httpapi.NewClients(entries, smActor) }

// LoadClients reads a client certificate file (ClientsFile).
func LoadClients(path string) (*Clients, error) {
	return httpapi.LoadClientFile(path, clientsFormat, smActor)
}
