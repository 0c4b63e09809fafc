package gwresult

// Error codes of X-Gateway-Result (Error<TAB>code<TAB>description<TAB>
// params…): CamelCase identifiers with prefix E, after the seed's own
// EVkloadExpired. The gateway's own codes come first; the KMC's codes
// (ERecordFormat … ENoVendingKeys, ESmUpdateRecord … ESmUpdateConflict,
// EInternal) are those of package kmc and docs/kmc.md, passed through with
// the same descriptions. A published code never changes its meaning.
const (
	// EUnknownService: the Subject starts with {KMS:…} naming no service.
	EUnknownService = "EUnknownService"
	// ENotPlainText: the request has an HTML part and no plain-text part.
	ENotPlainText = "ENotPlainText"
	// EAttachment: the service takes an attachment, and the one sent is
	// missing, not text/plain, too large, or one of several.
	EAttachment = "EAttachment"
	// ENotAuthorisedSender: the reply address may not receive the result
	// (a Key Load File goes only to an address registered for the module;
	// param: that address) or the sender may not make the request
	// ({KMS:SmUpdateStsEd2} only from an STS Association sender).
	ENotAuthorisedSender = "ENotAuthorisedSender"
	// ENotAvailable: the service is not available at this KMC.
	ENotAvailable = "ENotAvailable"
	// ETooManyRecipients: Reply-To names more than the gateway's
	// MaxReplyRecipients addresses; sent to the envelope sender alone.
	// Param: how many.
	ETooManyRecipients = "ETooManyRecipients"

	// The KMC's codes (package kmc), in the order of its checks.
	ERecordFormat    = "ERecordFormat"
	ERecordCrc       = "ERecordCrc"
	EUnknownKmc      = "EUnknownKmc"
	EKmcKeyExpired   = "EKmcKeyExpired"
	EVkloadExpired   = "EVkloadExpired"
	ETagInvalid      = "ETagInvalid"
	EUnknownSm       = "EUnknownSm"
	EVkloadReplayed  = "EVkloadReplayed"
	ESmRevoked       = "ESmRevoked"
	ESmNotCertified  = "ESmNotCertified"
	ESmNotAuthorised = "ESmNotAuthorised"
	ENoVendingKeys   = "ENoVendingKeys"

	// The KMC's codes of {KMS:SmUpdateStsEd2}, the STS Association's
	// signed registry update (package kmc, docs/kmc.md), in the order of
	// its checks; a KMC without an STSA key answers ENotAvailable. Each
	// means that nothing of the update was applied.

	// ESmUpdateRecord: the update file is malformed; param: the position
	// of the faulty record (0: the file as a whole).
	ESmUpdateRecord = "ESmUpdateRecord"
	// ESmUpdateUnknownKey: the update names an STSA key the KMC is not
	// configured with; param: the key id.
	ESmUpdateUnknownKey = "ESmUpdateUnknownKey"
	// ESmUpdateSignature: the signature does not verify; param: the key
	// id.
	ESmUpdateSignature = "ESmUpdateSignature"
	// ESmUpdateStale: the update's sequence number is not greater than
	// the last applied; params: its number, the last applied.
	ESmUpdateStale = "ESmUpdateStale"
	// ESmUpdateConflict: a record contradicts the registry or another
	// record; params: the record's position, the SMID.
	ESmUpdateConflict = "ESmUpdateConflict"

	// EInternal: the KMC or the gateway failed, even after retries.
	EInternal = "EInternal"
)

// Notice codes (Notice<TAB>code<TAB>message<TAB>params…): not results;
// more mail about the request follows.
const (
	// Deferred: the request will be processed later (rate limit, or a
	// transient failure); param: the earliest time, YYYYMMDDTHHMMSSZ UTC.
	Deferred = "Deferred"
	// Blocked: too many requests; requests are ignored until the time in
	// the param (YYYYMMDDTHHMMSSZ UTC), and this request is dropped.
	Blocked = "Blocked"
)

// CodeInfo documents one code: the gateway's {KMS:Help} text and
// docs/gateway.md list them from Codes.
type CodeInfo struct {
	Kind        Kind
	Code        string
	Description string // the client-facing text the header carries
	Params      string // what the parameters are, "" if none
}

// Codes lists every error and notice code, gateway codes first, then the
// KMC's in the order of its checks, then the notices.
var Codes = []CodeInfo{
	{Failure, EUnknownService, "The Subject names a service this gateway does not offer; send {KMS:Help} for the list of services", "the service name as given"},
	{Failure, ENotPlainText, "The request is HTML only; switch your mail client to plain text and send the request again", ""},
	{Failure, EAttachment, "The attachment is not acceptable; attach exactly one text/plain file (a name ending in .txt) as the service requires", "what was wrong"},
	{Failure, ENotAuthorisedSender, "Your address is not registered for this request: a Key Load File goes only to addresses registered for the security module, a registry update is taken only from the STS Association; send the request from a registered address", "the address not registered ({KMS:GetKlfStsEd2}); none for {KMS:SmUpdateStsEd2}"},
	{Failure, ENotAvailable, "This service is not available at this KMC; contact the KMC operator", ""},
	{Failure, ETooManyRecipients, "Reply-To names more than 5 addresses; this reply goes to the envelope sender only. Send the request again with at most 5", "how many addresses Reply-To names"},
	{Failure, ERecordFormat, "The VKLOAD.REQ.1 is missing or malformed; send exactly one request record, unaltered, in plain text", "what was wrong (gateway) or the SMID (KMC)"},
	{Failure, ERecordCrc, "A CRC of the VKLOAD.REQ.1 does not verify; the request was altered in transit, send it again unaltered", ""},
	{Failure, EUnknownKmc, "The VKLOAD.REQ.1 is made for a KMC key this KMC does not hold; get the current public key ({KMS:GetPublicKey}) and make a new request", "KMCID"},
	{Failure, EKmcKeyExpired, "The KMC key the VKLOAD.REQ.1 is made for has expired; get the current public key ({KMS:GetPublicKey}) and make a new request", "KMCID"},
	{Failure, EVkloadExpired, "The VKLOADREQ is stale; generate a fresh VKLOADREQ and try again", "t_req"},
	{Failure, ETagInvalid, "The tag of the VKLOAD.REQ.1 does not verify; make a new request with the security module", "SMID"},
	{Failure, EUnknownSm, "The security module is not registered with this KMC; ask the KMC operator to register it", "SMID"},
	{Failure, EVkloadReplayed, "A Key Load File was already issued for this VKLOAD.REQ.1; generate a fresh request", "SMID, t_req"},
	{Failure, ESmRevoked, "The security module's registration is revoked; contact the KMC operator", "SMID"},
	{Failure, ESmNotCertified, "This KMC issues Key Load Files only to certified hardware security modules", "SMID"},
	{Failure, ESmNotAuthorised, "The security module holds no key-use authorisation; ask the KMC operator for one", "SMID"},
	{Failure, ENoVendingKeys, "No vending key the security module is authorised for can be issued; contact the KMC operator", "SMID"},
	{Failure, ESmUpdateRecord, "The registry update file is malformed (the parameter names the record, 0 for the whole file); nothing was applied, correct the file and send it again", "the record's position in the file"},
	{Failure, ESmUpdateUnknownKey, "The registry update is signed with a key this KMC is not configured with; nothing was applied, ask the KMC operator to configure your key", "the key id"},
	{Failure, ESmUpdateSignature, "The signature of the registry update does not verify; nothing was applied, sign the file again and send it unaltered", "the key id"},
	{Failure, ESmUpdateStale, "The registry update's sequence number is not greater than that of the last update applied; nothing was applied, send a newer update", "its sequence number, the last applied"},
	{Failure, ESmUpdateConflict, "A record of the registry update contradicts the KMC's registry or another record; nothing was applied, contact the KMC operator", "the record's position, the SMID"},
	{Failure, EInternal, "The KMC could not process the request; try again later", ""},
	{Notice, Deferred, "Your request will be processed later; you don't need to do anything", "the earliest time it will be processed, YYYYMMDDTHHMMSSZ (UTC)"},
	{Notice, Blocked, "Too many requests: requests from your address are ignored until the time given; this request was dropped", "the end of the block, YYYYMMDDTHHMMSSZ (UTC)"},
}

// Lookup returns the documentation of code, and whether Codes lists it.
func Lookup(code string) (CodeInfo, bool) {
	for _, c := range Codes {
		if c.Code == code {
			return c, true
		}
	}
	return CodeInfo{}, false
}
