package kmc

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/store"
)

// FileSearch narrows the Key Load Files SearchIssuedFiles returns; its
// zero value asks for all of them.
type FileSearch struct {
	// SM names one module as FindSM takes it; "" for every module.
	SM string
	// SGC, when HasSGC, keeps the files carrying a key of that supply
	// group.
	SGC    int
	HasSGC bool
	// From and Until bound the issue time: From ≤ t < Until. A zero bound
	// is open.
	From, Until time.Time
}

// FoundFile is a Key Load File issued, with the supply groups of the keys
// it carries (never the keys).
type FoundFile struct {
	IssuedFile
	SGCs []int // in file order, each once
}

// SearchIssuedFiles returns the Key Load Files issued that s asks for,
// newest first. Like IssuedFiles it reads the files still kept (prune
// drops the old ones). A module s.SM does not name is ErrNotFound.
func (k *KMC) SearchIssuedFiles(ctx context.Context, s FileSearch) ([]FoundFile, error) {
	smid := ""
	if s.SM != "" {
		sm, err := k.FindSM(ctx, s.SM)
		if err != nil {
			return nil, err
		}
		smid = sm.SMID.String()
	}
	from, until := int64(math.MinInt64), int64(math.MaxInt64)
	if !s.From.IsZero() {
		from = s.From.Unix()
	}
	if !s.Until.IsZero() {
		until = s.Until.Unix()
	}
	var out []FoundFile
	err := eachRow(ctx, k.db, "search the issued files", `SELECT smid, kmcid, t_req, t_issue, n_vk, ref, klf FROM seen_requests
		WHERE ($1 = '' OR smid = $1) AND t_issue >= $2 AND t_issue < $3 ORDER BY t_issue DESC, smid, t_req DESC`,
		[]any{smid, from, until}, func(row store.Scanner) error {
			var f FoundFile
			var smid, kmcid, ref, klf string
			var tReq, tIssue, n int64
			err := row.Scan(&smid, &kmcid, &tReq, &tIssue, &n, &ref, &klf)
			if err != nil {
				return failed("search the issued files", err)
			}
			if f.IssuedFile, err = issuedFile(smid, kmcid, tReq, tIssue, n, ref); err != nil {
				return err
			}
			if f.SGCs, err = fileSGCs(klf); err != nil {
				return fmt.Errorf("kmc: issued file %s: %w", f.FileName, err)
			}
			if !s.HasSGC || slices.Contains(f.SGCs, s.SGC) {
				out = append(out, f)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// issuedFile makes the IssuedFile of a seen_requests row.
func issuedFile(smid, kmcid string, tReq, tIssue, n int64, ref string) (IssuedFile, error) {
	f := IssuedFile{SMID: smid, KMCID: kmcid, RequestTime: time.Unix(tReq, 0).UTC(), IssueTime: time.Unix(tIssue, 0).UTC(),
		Keys: int(n), Ref: ref}
	id, err := records.ParsePKID(f.SMID)
	if err != nil {
		return IssuedFile{}, fmt.Errorf("kmc: issued file of %q: %w", f.SMID, err)
	}
	f.FileName = armor.FileName(id.ID, f.IssueTime, "klf")
	return f, nil
}

// fileSGCs reads the supply groups of a kept file's VK.1 records: their
// clear attributes only.
func fileSGCs(file string) ([]int, error) {
	blocks, err := armor.ParseFile([]byte(file))
	if err != nil {
		return nil, err
	}
	var sgcs []int
	for _, b := range blocks {
		if b.Type != records.VKSpec.Type() {
			continue
		}
		vk, err := records.ParseVK(b.Body)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(sgcs, vk.SGC) {
			sgcs = append(sgcs, vk.SGC)
		}
	}
	return sgcs, nil
}
