package ingest

import (
	"bytes"
	"errors"
	"testing"
	"testing/iotest"
)

// TestReadBudgeted checks the budget a body takes as it arrives: for a
// known length, exactly its room (the length and one byte to see the
// end); for an unknown one, at most about twice what was read. A refused
// grow stops the read with its error.
func TestReadBudgeted(t *testing.T) {
	for _, size := range []int{0, 1, readChunk - 1, readChunk, readChunk + 1, 3<<20 + 17} {
		body := bytes.Repeat([]byte("x"), size)
		for _, known := range []bool{true, false} {
			announced := int64(-1)
			room := int64(readChunk)
			if known {
				announced = int64(size)
				room = min(room, announced+1)
			}
			taken := room
			got, err := readBudgeted(iotest.HalfReader(bytes.NewReader(body)), nil, announced, room, func(n int64) error {
				taken += n
				return nil
			})
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("size %d known %v: %d bytes, %v", size, known, len(got), err)
			}
			switch {
			case known && taken != int64(size)+1:
				t.Errorf("size %d: budget for %d bytes, want %d", size, taken, size+1)
			case !known && (taken < int64(size) || taken > 2*int64(size)+readChunk+1):
				t.Errorf("size %d of unknown length: budget for %d bytes", size, taken)
			}
		}
	}
	_, err := readBudgeted(bytes.NewReader(make([]byte, 1<<20)), nil, 1<<20, readChunk, func(int64) error { return errBudget })
	if !errors.Is(err, errBudget) {
		t.Errorf("refused budget: %v", err)
	}
}
