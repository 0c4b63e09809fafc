package keptcheckpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/stskms/stskms/audit"
)

// witnessTail is how much of the end of a witness file is searched for
// the log's last checkpoint.
const witnessTail = 1 << 20

// checkWitnesses checks that the log extends the last checkpoint of its
// own origin in each witness file (URL witnesses cannot be read back).
// Two instances of one component — an original and its restored copy —
// writing to one witness are caught here: the second to open finds the
// other's checkpoint, which its log does not extend (a fork).
func (g *Guard) checkWitnesses(ctx context.Context) (*audit.CheckpointError, error) {
	for _, w := range g.keeper.witnesses {
		if strings.HasPrefix(w, "http://") || strings.HasPrefix(w, "https://") {
			continue
		}
		last, err := lastWitnessed(w, g.log.Origin())
		if err != nil || last == nil {
			return nil, err
		}
		_, err = g.log.CheckExtends(ctx, last, nil)
		if cpe, ok := errors.AsType[*audit.CheckpointError](err); ok {
			g.witnessed.Store(&w)
			return &audit.CheckpointError{Size: cpe.Size, Kind: cpe.Kind, Reason: fmt.Sprintf(
				"the witness holds a checkpoint of %d records of this log that it does not extend (%s): "+
					"another instance of this component — its original, or a restored copy of it — keeps checkpoints there; "+
					"retire one of them (docs/operations.md)", cpe.Size, cpe.Reason)}, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// ErrAnotherInstance is returned by keeping a checkpoint when a witness
// file holds one of the same log that the log does not extend: another
// instance of the component (its original, or a restored copy) keeps
// checkpoints there. It wraps the *audit.CheckpointError.
var ErrAnotherInstance = errors.New("keptcheckpoint: another instance of this component keeps checkpoints at the witness")

// witnessConflict is checkWitnesses as an error, for a serving component.
func (g *Guard) witnessConflict(ctx context.Context) error {
	cpe, err := g.checkWitnesses(ctx)
	if cpe != nil {
		return fmt.Errorf("%w %s: %w", ErrAnotherInstance, g.Path(), cpe)
	}
	return err
}

// lastWitnessed returns the last checkpoint of origin in the witness file
// w (nil if there is none, or no file), looking at its last witnessTail
// bytes.
func lastWitnessed(w, origin string) ([]byte, error) {
	f, err := os.Open(w)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keptcheckpoint: witness: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keptcheckpoint: witness: %w", err)
	}
	for tail := int64(16 << 10); ; tail = witnessTail {
		from := max(0, fi.Size()-tail)
		b, err := io.ReadAll(io.NewSectionReader(f, from, fi.Size()-from))
		if err != nil {
			return nil, fmt.Errorf("keptcheckpoint: witness %s: %w", w, err)
		}
		if note := lastNote(b, origin); note != nil || from == 0 || tail == witnessTail {
			return note, nil
		}
	}
}

// lastNote finds the last signed note of origin in b: its origin line,
// size, root, a blank line and its signature lines ("— …").
func lastNote(b []byte, origin string) []byte {
	start := []byte(origin + "\n")
	for end := len(b); end > 0; {
		i := bytes.LastIndex(b[:end], start)
		if i < 0 {
			return nil
		}
		end = i
		if i > 0 && b[i-1] != '\n' {
			continue
		}
		if note := noteAt(b[i:]); note != nil {
			return note
		}
	}
	return nil
}

// noteAt returns the signed note b starts with, nil if it is malformed.
func noteAt(b []byte) []byte {
	lines := strings.SplitAfter(string(b[:min(len(b), 8<<10)]), "\n")
	if len(lines) < 5 || lines[3] != "\n" || !strings.HasPrefix(lines[4], "— ") {
		return nil
	}
	n := 4
	for n < len(lines) && strings.HasPrefix(lines[n], "— ") && strings.HasSuffix(lines[n], "\n") {
		n++
	}
	return []byte(strings.Join(lines[:n], ""))
}
