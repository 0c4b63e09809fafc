package meter

import "slices"

// tidMemory holds the TIDs of the most recently accepted class 0 and class 2
// tokens in ascending order, at most size of them (see Meter).
type tidMemory struct {
	size int
	tids []uint32
}

// newTIDMemory returns a memory of the given size holding the manufacture
// TID.
func newTIDMemory(size int, manufactured uint32) tidMemory {
	return tidMemory{size: size, tids: []uint32{manufactured}}
}

// check returns OldError if tid is smaller than every remembered TID,
// UsedError if it is remembered, and Accepted otherwise.
func (t *tidMemory) check(tid uint32) Outcome {
	i, found := slices.BinarySearch(t.tids, tid)
	switch {
	case found:
		return UsedError
	case i == 0 && len(t.tids) > 0:
		return OldError
	}
	return Accepted
}

// insert remembers a TID that check accepted, forgetting the smallest one
// when the memory is full.
func (t *tidMemory) insert(tid uint32) {
	if len(t.tids) == t.size {
		t.tids = slices.Delete(t.tids, 0, 1)
	}
	i, _ := slices.BinarySearch(t.tids, tid)
	t.tids = slices.Insert(t.tids, i, tid)
}

// reset forgets every TID.
func (t *tidMemory) reset() { t.tids = nil }
