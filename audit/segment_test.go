package audit_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/storage"
)

// segLog is a log written by audittest.WriteLog with segments of
// segSize entries.
type segLog struct {
	st      storage.Store
	entries []*audit.Entry
	data    [][]byte
}

const segSize = 100

func writeSegLog(t *testing.T, b *audittest.Bed, prefix string, n int) *segLog {
	t.Helper()
	l := &segLog{st: audittest.OpenStore(t, b.S3.Config("plain", prefix+"/safekeep/v1"))}
	audittest.WriteLog(t, l.st, b.Signer, n, audittest.WriteOptions{SegmentSize: segSize})
	var prev *audit.Entry
	for i := range n {
		e, data, err := audittest.Entry(i, prev, b.Signer)
		if err != nil {
			t.Fatal(err)
		}
		l.entries, l.data, prev = append(l.entries, e), append(l.data, data), e
	}
	return l
}

// segmentOf is the key of the segment holding seq.
func segmentOf(seq uint64) string {
	first := (seq-1)/segSize*segSize + 1
	return audit.SegmentKey(first, first+segSize-1)
}

// editSegment rewrites the line of seq in its segment with edit.
func editSegment(t *testing.T, st storage.Store, seq uint64, edit func([]byte) []byte) {
	t.Helper()
	key := segmentOf(seq)
	rc, _, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	i := (seq - 1) % segSize
	lines[i] = edit(lines[i])
	put(t, st, key, audit.EncodeSegment(lines))
}

// edit changes a seal entry's bytes, keeping their size.
func edit(t *testing.T, data []byte) []byte {
	t.Helper()
	out := bytes.Replace(data, []byte(`"objects":9`), []byte(`"objects":8`), 1)
	if bytes.Equal(out, data) {
		t.Fatal("not a seal entry: nothing to edit")
	}
	return out
}

// TestSegments: a log of 2,500 entries with segments of 100 verifies and
// reads from its 25 segments; Deep reads every object.
func TestSegments(t *testing.T) {
	b := audittest.NewBed(t)
	const n = 2500
	l := writeSegLog(t, b, "intact", n)
	// The entries are in three shards of 1000 (independent of the
	// segment size), next to the segments and claims.
	dirs, strays, err := storage.ListDir(t.Context(), l.st, audit.Dir)
	if want := []string{"audit/00000000000000000/", "audit/00000000000000001/", "audit/00000000000000002/", audit.SegmentDir, audit.ClaimDir}; err != nil || !slices.Equal(dirs, want) || len(strays) != 0 {
		t.Errorf("ListDir(%s) = %v, %d objects, %v; want %v", audit.Dir, dirs, len(strays), err, want)
	}
	rep := mustVerify(t, l.st, audit.VerifyOptions{})
	if rep.Entries != n || rep.FromSegments != n || rep.HeadHash != l.entries[n-1].Hash || len(rep.Warnings) != 0 {
		t.Errorf("report %+v", rep)
	}
	deep := mustVerify(t, l.st, audit.VerifyOptions{Deep: true})
	if deep.Entries != n || deep.FromSegments != 0 || deep.HeadHash != rep.HeadHash {
		t.Errorf("deep report %+v", deep)
	}
	got := collect(t, l.st, audit.ReadOptions{})
	if len(got) != n {
		t.Fatalf("Read returned %d entries, want %d", len(got), n)
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || e.Hash != l.entries[i].Hash {
			t.Fatalf("Read entry %d: seq %d hash %s, want %s", i+1, e.Seq, e.Hash, l.entries[i].Hash)
		}
	}
	// Visit sees every entry once, in order; an error stops Verify.
	var seen []uint64
	mustVerify(t, l.st, audit.VerifyOptions{Visit: func(e *audit.Entry) error {
		seen = append(seen, e.Seq)
		return nil
	}})
	if len(seen) != n || !slices.IsSorted(seen) || seen[0] != 1 || seen[n-1] != n {
		t.Errorf("Visit saw %d entries (%v...)", len(seen), seen[:min(len(seen), 3)])
	}
	stop := errors.New("enough")
	count := 0
	_, err = audit.Verify(t.Context(), l.st, audit.VerifyOptions{Visit: func(*audit.Entry) error {
		if count++; count == 150 {
			return stop
		}
		return nil
	}})
	if !errors.Is(err, stop) || count != 150 {
		t.Errorf("Verify with Visit stopping at 150: %v after %d entries", err, count)
	}
}

// Each case tampers with a log of 450 entries (four segments of 100 and a
// tail of 50) and expects the first problem, with and without Deep.
func TestSegmentTampering(t *testing.T) {
	b := audittest.NewBed(t)
	const n, victim = 450, 152 // entry 152 is a seal ("objects":9)
	for i, tc := range []struct {
		name     string
		tamper   func(t *testing.T, l *segLog)
		want     error
		seq      uint64
		key      func(l *segLog) string
		msg      string
		warning  string // Verify passes with this warning
		fromSegs int
	}{
		{
			name: "segment line edited",
			tamper: func(t *testing.T, l *segLog) {
				editSegment(t, l.st, victim, func(line []byte) []byte {
					return edit(t, line)
				})
			},
			want: audit.ErrChanged, seq: victim, key: func(*segLog) string { return segmentOf(victim) },
			msg: "line 52 of segment " + segmentOf(victim) + " is not the content of the entry object",
		},
		{
			name: "segment line edited and signed again by the key holder",
			tamper: func(t *testing.T, l *segLog) {
				e := *l.entries[victim-1]
				e.Subject = "someone-else"
				data, err := audit.Sign(&e, b.Signer)
				if err != nil {
					t.Fatal(err)
				}
				editSegment(t, l.st, victim, func([]byte) []byte { return data })
			},
			want: audit.ErrChanged, seq: victim, key: func(*segLog) string { return segmentOf(victim) },
			msg: "is not the content of the entry object",
		},
		{
			name: "segment with a line too few",
			tamper: func(t *testing.T, l *segLog) {
				put(t, l.st, segmentOf(victim), audit.EncodeSegment(l.data[100:199]))
			},
			want: audit.ErrMalformed, seq: 101, key: func(*segLog) string { return segmentOf(victim) },
			msg: "it holds 99 lines, its name says 100 entries",
		},
		{
			name: "segment removed",
			tamper: func(t *testing.T, l *segLog) {
				del(t, l.st, segmentOf(victim))
			},
			warning: "no segment covers entries 101 to 200: they were read one object each", fromSegs: n - 50 - segSize,
		},
		{
			name: "entry object edited with the same size",
			tamper: func(t *testing.T, l *segLog) {
				put(t, l.st, audit.EntryKey(victim, l.entries[victim-1].Hash), edit(t, l.data[victim-1]))
			},
			want: audit.ErrChanged, seq: victim, msg: "content hashes to",
		},
		{
			name: "entry object removed",
			tamper: func(t *testing.T, l *segLog) {
				del(t, l.st, audit.EntryKey(victim, l.entries[victim-1].Hash))
			},
			want: audit.ErrMissing, seq: victim, msg: fmt.Sprintf("entry %d removed: the next object is %s", victim, audit.EntryPrefix(victim+1)),
		},
		{
			name: "entry object replaced by another entry",
			tamper: func(t *testing.T, l *segLog) {
				put(t, l.st, audit.EntryKey(victim, l.entries[victim-1].Hash), l.data[victim])
			},
			want: audit.ErrOutOfOrder, seq: victim, msg: fmt.Sprintf("the object of entry %d holds entry %d", victim, victim+1),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := writeSegLog(t, b, fmt.Sprintf("seg-%d", i), n)
			rep := mustVerify(t, l.st, audit.VerifyOptions{})
			if rep.FromSegments != n-50 {
				t.Fatalf("before tampering: %d entries from segments, want %d", rep.FromSegments, n-50)
			}
			tc.tamper(t, l)
			for _, deep := range []bool{false, true} {
				rep, err := audit.Verify(t.Context(), l.st, audit.VerifyOptions{Deep: deep})
				if tc.want == nil {
					if err != nil || !slices.Contains(rep.Warnings, tc.warning) || (!deep && rep.FromSegments != tc.fromSegs) {
						t.Errorf("deep=%v: Verify: %v, warnings %q, from segments %d; want intact with %q, %d", deep, err, rep.Warnings, rep.FromSegments, tc.warning, tc.fromSegs)
					}
					continue
				}
				var ve *audit.VerifyError
				if !errors.Is(err, tc.want) || !errors.As(err, &ve) {
					t.Fatalf("deep=%v: Verify: %v, want %v", deep, err, tc.want)
				}
				key := audit.EntryKey(tc.seq, l.entries[tc.seq-1].Hash)
				if tc.key != nil {
					key = tc.key(l)
				}
				if p := ve.First; p.Seq != tc.seq || p.Key != key || !strings.Contains(p.Message, tc.msg) {
					t.Errorf("deep=%v: first problem %q, want entry %d (%s) with %q", deep, p, tc.seq, key, tc.msg)
				}
				t.Logf("deep=%v: %v", deep, err)
			}
		})
	}
}

// A writer appends through segment boundaries: it writes each segment from
// the bytes it appended, and a writer that stopped before writing one
// (here: one writing no segments) leaves it to the next Append, which
// reads the claims.
func TestAppendWritesSegments(t *testing.T) {
	b := audittest.NewBed(t)
	ctx := t.Context()
	const size = 10
	crashed := audit.New(b.Locked, b.Signer, audit.Options{RetainDays: 1, SegmentSize: -1})
	for i := range size {
		if _, err := crashed.Append(ctx, sealRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Locked.Stat(ctx, audit.SegmentKey(1, size)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("segment 1-%d before the next Append: %v, want not found", size, err)
	}
	// Verify cannot tell a missing segment from a log of another segment
	// size when none is there: it warns only for DefaultSegmentSize.
	rep := mustVerify(t, b.Locked, audit.VerifyOptions{})
	if rep.FromSegments != 0 || len(rep.Warnings) != 0 {
		t.Errorf("report with the segment missing: %+v", rep)
	}
	l := audit.New(b.Locked, b.Signer, audit.Options{RetainDays: 1, SegmentSize: size})
	for i := size; i < 2*size+3; i++ {
		if _, err := l.Append(ctx, sealRecord(i)); err != nil {
			t.Fatal(err)
		}
		if i == size {
			if _, err := b.Locked.Stat(ctx, audit.SegmentKey(1, size)); err != nil {
				t.Fatalf("segment 1-%d after the next Append: %v", size, err)
			}
		}
	}
	rep = mustVerify(t, b.Locked, audit.VerifyOptions{})
	if rep.Entries != 2*size+3 || rep.FromSegments != 2*size || len(rep.Warnings) != 0 {
		t.Errorf("report %+v", rep)
	}
	// Segments are locked as entries are.
	if err := b.Locked.Delete(ctx, audit.SegmentKey(size+1, 2*size)); !errors.Is(err, storage.ErrLocked) {
		t.Errorf("delete segment: %v, want ErrLocked", err)
	}
}
