package sm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stskms/stskms/records"
)

// SeedLiveKMC is the STS Association's KMC key of the seed STS 600-9-2
// (§5.1.3.5): a live KMC. The module refuses it always, whatever the
// live-KMC file says.
const SeedLiveKMC = "KMCID.1:Prism:K0001:20200622T140747Z:9863A537B5AF34F5:6850"

// liveKMC is one entry of the live-KMC list: a KMC named by vendor and id.
// Any key of that KMC is refused (a new key has a new time and key hash,
// but is the same live KMC).
type liveKMC struct{ vendor, id string }

// liveKMCFileText is DIR/live-kmcs.txt as Init writes it.
const liveKMCFileText = `# Live KMCs: a virtual (software) security module must never install their
# keys, so that no live KMC ever learns its public key (STS 600-10-1 §4.5).
# One KMCID per line, full ("KMCID.1:vendor:id:time:KH:CRC") or as
# "KMCID.1:vendor:id"; every key of that vendor and id is refused.
# The STS Association's KMC of the seed is refused even if removed here.
` + SeedLiveKMC + "\n"

// LiveKMCs returns the live-KMC list the module enforces, as
// "KMCID.1:vendor:id" entries: the seed's KMC, then DIR/live-kmcs.txt.
func (m *Module) LiveKMCs() []string {
	out := make([]string, len(m.live))
	for i, l := range m.live {
		out[i] = fmt.Sprintf("%s:%s:%s", records.KMCID, l.vendor, l.id)
	}
	return out
}

// loadLiveKMCs reads the built-in entry and DIR/live-kmcs.txt. A line that
// is not a KMCID fails the open: a list that does not say what the officer
// meant must not be half-applied.
func loadLiveKMCs(dir string) ([]liveKMC, error) {
	seed, err := parseLiveKMC(SeedLiveKMC)
	if err != nil {
		panic("sm: built-in live KMC: " + err.Error())
	}
	list := []liveKMC{seed}
	data, err := os.ReadFile(filepath.Join(dir, LiveKMCFile))
	if errors.Is(err, fs.ErrNotExist) {
		return list, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		l, err := parseLiveKMC(line)
		if err != nil {
			return nil, fmt.Errorf("sm: %s line %d: %w", LiveKMCFile, n, err)
		}
		if !containsLive(list, l) {
			list = append(list, l)
		}
	}
	return list, sc.Err()
}

func parseLiveKMC(s string) (liveKMC, error) {
	f := strings.Split(s, ":")
	if len(f) != 3 && len(f) != 6 || f[0] != string(records.KMCID) || f[1] == "" || f[2] == "" {
		return liveKMC{}, fmt.Errorf("not a KMCID (KMCID.1:vendor:id[:time:KH:CRC])")
	}
	return liveKMC{vendor: f[1], id: f[2]}, nil
}

func containsLive(list []liveKMC, l liveKMC) bool {
	for _, x := range list {
		if strings.EqualFold(x.vendor, l.vendor) && strings.EqualFold(x.id, l.id) {
			return true
		}
	}
	return false
}

// isLive reports whether a KMCID names a live KMC.
func (m *Module) isLive(kmcid records.PKID) bool {
	return containsLive(m.live, liveKMC{vendor: kmcid.Vendor, id: kmcid.ID})
}
