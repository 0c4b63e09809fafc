package kmc

import (
	"context"
	"time"

	"github.com/stskms/stskms/store"
)

// IssuedFile is a Key Load File the KMC issued, as the record of its
// request shows it: never the file's keys.
type IssuedFile struct {
	// SMID and KMCID are the request's full PKID texts.
	SMID, KMCID string
	// RequestTime is the request's t_req, IssueTime when the file was made.
	RequestTime, IssueTime time.Time
	// Keys is how many vending keys the file carries.
	Keys int
	// Ref is the caller's reference of the delivery ("" if none).
	Ref string
	// FileName is the file's attachment name, <SMID id>_<issue time>.klf.
	FileName string
}

// IssuedFiles returns the Key Load Files issued, oldest first: all, or
// those of one module when smRef names one (see FindSM).
func (k *KMC) IssuedFiles(ctx context.Context, smRef string) ([]IssuedFile, error) {
	smid := ""
	if smRef != "" {
		sm, err := k.FindSM(ctx, smRef)
		if err != nil {
			return nil, err
		}
		smid = sm.SMID.String()
	}
	var out []IssuedFile
	err := eachRow(ctx, k.db, "read the issued files", `SELECT smid, kmcid, t_req, t_issue, n_vk, ref FROM seen_requests
		WHERE $1 = '' OR smid = $1 ORDER BY t_issue, smid, t_req`, []any{smid}, func(row store.Scanner) error {
		var smid, kmcid, ref string
		var tReq, tIssue, n int64
		if err := row.Scan(&smid, &kmcid, &tReq, &tIssue, &n, &ref); err != nil {
			return failed("read the issued files", err)
		}
		f, err := issuedFile(smid, kmcid, tReq, tIssue, n, ref)
		if err != nil {
			return err
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
