// Package gateway is the KMS E-mail Gateway of STS 600-9-2: security-module
// owners reach the KMC by plain e-mail. It accepts request mail over SMTP or
// LMTP, stores it before answering 250, decides by the rules of
// STS 600-9-2 §4 and §8.2 and RFC 3834 whether to reply at all, runs the
// requested service against the KMC, and queues and sends exactly one final
// reply per accepted request, whose X-Gateway-Result header follows
// STS 600-9-2 §8.3.2. docs/gateway.md is the integrator's guide.
//
// # Services
//
// The Subject starts with the service code: {KMS:Help}, {KMS:GetPublicKey},
// {KMS:GetKlfStsEd2} (a VKLOAD.REQ.1 in the body or in a file-of-records
// attachment; the Key Load File comes back as a text/plain attachment) and
// {KMS:SmUpdateStsEd2} (STS Association senders only). Services lists
// them; HelpText and docs/gateway.md are generated from the same
// definitions and from gwresult.Codes.
//
// # Rooms
//
//   - Decide (policy.go) is the pure "reply or ignore, and why" of a parsed
//     mail (ParseMessage, message.go), one rule per Reason.
//   - Package gwresult (Result, Codes) is the wire vocabulary, shared
//     with mail clients; errors are data (*ServiceError), rendered only
//     by gwresult.Result.Header.
//   - The queue (Queue, queue*.go, schema.go) owns the store: a state
//     machine in which a message is received, claimed by a worker with a
//     lease, and finished (replied, ignored, failed) in the same
//     transaction that stores its reply in the outbox; a crashed worker's
//     claim expires and is taken over. The store sides of the rooms below
//     are its methods too (dedupe.go, dsn_store.go, ratestore.go,
//     process.go, admin.go); it knows nothing of SMTP, the policy or what
//     replies say. The KMC's IssueKLF is idempotent per request, so a
//     retried request gets the same Key Load File.
//   - The server (server.go) is the go-smtp Backend; it knows only its
//     inbox, "accept this message" (accept.go: the Gateway stores it in
//     the queue and wakes a worker).
//   - The worker (worker.go: Run, ProcessNext) takes a claimed mail through
//     named steps: read (parse and Decide), admit (authentication, blocks,
//     rate limits), execute (the service, through the KMC interface) and
//     finish with the reply composed by reply.go. SendNext (send.go) sends
//     the outbox through a Relay (sender.go) with exponential back-off.
//     Files reference one another one way only (TestFilesOneWay in
//     internal/e2e).
//   - Bounces (dsn.go, bounce.go, dsn_store.go): with a bounce address
//     each reply is sent from its VERP address bounce+<id>.<tag>@domain;
//     ParseBounce reads RFC 3464 reports (best-effort other bounces),
//     matched to a reply only by that address or its ENVID, never
//     answered.
//   - Flood protection (ratelimit.go, ratestore.go): token buckets per reply
//     address, domain and module, stored in the database and shared by
//     every process on it; deferral, then blocks.
//   - Operations: Prometheus metrics (metrics.go, MetricsHandler) and queue
//     administration (admin.go: Queue.List, Retry, RetryFailed, Purge;
//     OpenQueue opens the queue alone, for the administration commands).
//   - Sender authenticity (auth.go): SPF, DKIM and DMARC, recorded or
//     required.
//
// The gateway reaches the KMC only through the KMC interface; it imports
// records, records/armor and store, never kmc, sm or keystore. Client-facing
// text is generic: causes of failures go to the log (log/slog), never into
// a reply.
package gateway
