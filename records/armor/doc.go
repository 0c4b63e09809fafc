// Package armor is the text envelope of STS KMS records, what encoding/pem
// is for DER: it puts a one-line record such as PK.ECDH.1 or VKLOAD.REQ.1
// between BEGINS and ENDS markers for an e-mail body or attachment, and finds
// such blocks again in text that mail clients have reformatted. It does not
// look inside a record beyond its type (fields, CRCs and tags are the job of
// package records); it only guarantees that what it returns is exactly the
// unwrapped record line.
//
// The format is the Record-in-Email form of STS 600-4-2 Appendix C as the
// seed STS 600-9-2 shows it (§5.1.3.5, §5.1.4.4), inferred in
// docs/notes/kms-records.md §2.5–§2.6 and §3.1, and the file-of-records
// of §3.1, which is our own definition (Appendix D is not public).
//
// This package imports only the standard library.
//
// # Record-in-Email
//
// A block is the line "STS:<rectype> BEGINS", the record body cut into
// lines of exactly [LineLen] (64) characters (the last one shorter),
// regardless of field boundaries, and the line "STS:<rectype> ENDS"; every
// line ends in CRLF. <rectype> is the body's first "|"-separated field:
//
//	rectype = NAME *("." NAME) "." DIGITS   ; NAME = 1*(A-Z / DIGIT)
//
// for example PK.ECDH.1, VKLOAD.REQ.1, KLF.HDR.1, VK.1, KLF.END.1. A body is
// 1 to [MaxBodyLen] (64 KiB) bytes of printable ASCII without space and
// without ">" (the mail quote mark; no record field uses it), and holds at
// least one "|". [Wrap] writes a block, [Find] finds every block in a mail
// body.
//
// # What Find tolerates
//
// Find reads the decoded text of a text/plain part line by line, and
// undoes what mail clients are seen to do to a block (STS 600-9-2 §7.1):
//
//   - Line ends: CRLF, LF and a lone CR each end a line; the last line
//     needs none. Lines are numbered from 1 in the input.
//   - Every line is first cleaned: leading spaces and tabs go, then any
//     number of ">" quote marks, each with any spaces or tabs around it
//     (so "> ", ">>", "> > " and unquoted lines may be mixed, even within
//     one block), then trailing spaces and tabs.
//   - A marker is a cleaned line that starts with "STS:" and ends with one
//     or more spaces or tabs and then BEGINS or ENDS (upper case). The text
//     between is its type.
//   - Outside a block, every other line is ignored: text may stand before,
//     between and after blocks.
//   - Inside a block, cleaned lines that are empty are skipped and the
//     others are joined with nothing between them, so line breaks may fall
//     anywhere, lines may have any length, and a block may even be a single
//     line. A run of spaces or tabs inside a cleaned line is removed when it
//     touches a "|" (Outlook's "47EA:2642 | KMCID…").
//
// Nothing else is repaired. A block is rejected, with one [*Error] for the
// block (its first fault), when:
//
//   - a space or tab is left inside a field ([ErrWhitespace]), or the block
//     holds a control character, a byte outside ASCII (a non-breaking space,
//     say) or a ">" past the quote marks ([ErrBadCharacter]);
//   - the marker type is not a rectype ([ErrBadType]), the ENDS marker or
//     the body's first field names another type than BEGINS
//     ([ErrTypeMismatch]), or the body has no "|" ([ErrNotRecord]);
//   - the body is empty ([ErrEmpty]) or longer than MaxBodyLen
//     ([ErrTooLong]);
//   - another BEGINS comes before the ENDS ([ErrNested]; the outer block is
//     dropped and the inner one read on) or the text ends first
//     ([ErrUnterminated]).
//
// An ENDS outside a block is reported as [ErrStrayEnd]; so a block whose
// BEGINS marker was broken over two lines or changed in case is not seen,
// but its ENDS is reported. A faulty block never hides a later one: Find
// returns every well-formed block together with the errors.Join of one
// *Error per fault (at most [MaxErrors] of them, then one
// [ErrTooManyErrors] that counts the rest); [Faults] lists them.
//
// # File-of-records
//
// A file-of-records (our definition, kms-records.md §3.1) is a text/plain,
// us-ascii file of one or more blocks in order, each line ending in CRLF,
// with blank lines allowed between blocks and nothing else. It travels as an
// attachment named by [FileName], "<SMID id>_<yyyymmddThhmmssZ>.klf" for a
// key load file. [File] writes one, with an empty line between blocks.
// [ParseFile] reads blocks by the rules above, with two differences: ">" is
// never removed (so a quoted line is a fault), and a line outside a block
// must be empty or only spaces and tabs ([ErrStrayText] otherwise). LF-only
// and lone-CR line ends are accepted. ParseFile is all or nothing: on any
// fault it returns no blocks; a file without blocks is [ErrNoRecords].
//
// Find and ParseFile are single-pass line scanners: whatever the input
// (a million markers, one huge line, deep quoting), they run in time linear
// in its size and allocate at most a small multiple of it (under 3.5 times
// in the worst case the tests know, a megabyte of large well-formed
// records; a megabyte of hostile markers costs a few kilobytes).
package armor
