package console

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// TestApprovalVectors: the digest of an operation and the challenges of its
// two passkey steps agree with testdata/approval_vectors.json, computed
// outside Go from the encoding docs/console.md gives (its provenance is in
// the file). The encoding is what an auditor recomputes from the audit
// log's records, so it may never change silently.
func TestApprovalVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/approval_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Site, Page, Action, Op, Kind, Words, ID string
			Params                                  map[string]string
			Digest                                  string
			Propose                                 string `json:"challenge_propose"`
			Approve                                 string `json:"challenge_approve"`
		}
	}
	if err := json.Unmarshal(b, &file); err != nil || len(file.Vectors) == 0 {
		t.Fatalf("vectors: %v", err)
	}
	for _, v := range file.Vectors {
		d := operationDigest(v.Site, Proposal{Page: v.Page, Action: v.Action, Op: v.Op, Kind: v.Kind, Words: v.Words, Params: v.Params})
		if got := hex.EncodeToString(d); got != v.Digest {
			t.Errorf("%s %s: digest %s, want %s", v.Site, v.Kind, got, v.Digest)
		}
		if got := hex.EncodeToString(approvalChallenge(d, v.ID, stepPropose)); got != v.Propose {
			t.Errorf("%s %s: propose challenge %s, want %s", v.Site, v.Kind, got, v.Propose)
		}
		if got := hex.EncodeToString(approvalChallenge(d, v.ID, stepApprove)); got != v.Approve {
			t.Errorf("%s %s: approve challenge %s, want %s", v.Site, v.Kind, got, v.Approve)
		}
	}
}
