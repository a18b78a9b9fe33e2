package audit

import (
	"bytes"
	"errors"
	"testing"

	"github.com/safekeep-dev/safekeep/storage"
)

// FuzzClaimKey: a claim name parses only when ClaimKey gives it back.
func FuzzClaimKey(f *testing.F) {
	f.Add(ClaimKey(42))
	f.Add(ClaimDir + "00000000000000000000")
	f.Add(ClaimDir + "-0000000000000000001")
	f.Fuzz(func(t *testing.T, key string) {
		if seq, ok := parseClaimKey(key); ok && ClaimKey(seq) != key {
			t.Errorf("parseClaimKey(%q) = %d, but ClaimKey gives %s", key, seq, ClaimKey(seq))
		}
	})
}

// FuzzSegmentKey: a segment name parses only when SegmentKey gives it back.
func FuzzSegmentKey(f *testing.F) {
	f.Add(SegmentKey(1, 1000))
	f.Add(SegmentKey(5, 4))
	f.Add(SegmentDir + "x.jsonl")
	f.Fuzz(func(t *testing.T, key string) {
		first, last, ok := parseSegmentKey(key)
		if ok && (SegmentKey(first, last) != key || last < first) {
			t.Errorf("parseSegmentKey(%q) = %d-%d, but SegmentKey gives %s", key, first, last, SegmentKey(first, last))
		}
	})
}

// FuzzReadSegment: a segment's bytes split into exactly the lines its name
// spans, or fail as ErrMalformed.
func FuzzReadSegment(f *testing.F) {
	f.Add([]byte("{}\n{}\n{}\n"))
	f.Add([]byte("{}\n{}"))
	f.Add([]byte("\n\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := storage.NewMemBucket(storage.MemOptions{}).Store("")
		key := SegmentKey(1, 3)
		if _, err := st.Put(t.Context(), key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		lines, err := readSegment(t.Context(), st, segRef{key: key, first: 1, last: 3})
		switch {
		case err != nil && !errors.Is(err, ErrMalformed):
			t.Fatalf("readSegment: %v wraps no ErrMalformed", err)
		case err == nil && len(lines) != 3:
			t.Fatalf("readSegment gave %d lines for 3 entries", len(lines))
		}
	})
}
