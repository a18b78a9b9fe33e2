package volume

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// TestSummaries: what the reader writes to its termination message reads
// back to each volume's summary, without Velero's done folder; one changed
// byte changes the sum; the whole stays within the kubelet's 4096 bytes,
// summaries before errors, lines whole; a log tail is not a summary.
func TestSummaries(t *testing.T) {
	vol := fstest.MapFS{
		"records/patient 1.json": {Data: []byte(`{"name":"Jane"}`)},
		"odd\nname":              {Data: []byte("x")},
		".velero/restore-uid":    {Data: []byte{}},
	}
	got, err := DigestsOf(vol)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteSummaries(&b, []DigestListRead{{Digests: got}, {Err: errors.New("open scans: permission denied")}}); err != nil {
		t.Fatal(err)
	}
	reads := ReadSummaries("the runtime's own line\nsummary 9 1 1 sha256:00\n"+b.String(), 2)
	delete(vol, ".velero/restore-uid")
	want, _ := DigestsOf(vol)
	if reads[0].Summary == nil || *reads[0].Summary != want.Summary() || want.Summary().Files != 2 || want.Summary().Bytes != 16 {
		t.Errorf("volume 0: %+v, want %+v", reads[0], want.Summary())
	}
	if reads[1].Summary != nil || reads[1].Err == nil || reads[1].Err.Error() != "open scans: permission denied" {
		t.Errorf("volume 1: %+v, want its error", reads[1])
	}
	vol["odd\nname"] = &fstest.MapFile{Data: []byte("y")}
	changed, _ := DigestsOf(vol)
	if s := changed.Summary(); s.Sum == want.Summary().Sum || s.Files != 2 || s.Bytes != 16 {
		t.Errorf("one changed byte: %+v, want the same counts and another sum than %s", s, want.Summary().Sum)
	}

	// 100 volumes do not fit: whole summary lines up to 4096 bytes, the
	// errors (the log has them) after.
	many := make([]DigestListRead, 100)
	for i := range many {
		many[i] = DigestListRead{Digests: Digests{fmt.Sprint(i): {Size: int64(i), SHA256: strings.Repeat("a", 64)}}}
	}
	many[0] = DigestListRead{Err: errors.New(strings.Repeat("x", 1000))}
	b.Reset()
	if err := WriteSummaries(&b, many); err != nil {
		t.Fatal(err)
	}
	reads = ReadSummaries(b.String(), 100)
	n := 0
	for _, r := range reads {
		if r.Summary != nil {
			n++
		}
	}
	if b.Len() > MaxSummaries || n < 30 || reads[1].Summary == nil || reads[99].Summary != nil || reads[0].Err != nil || !strings.HasSuffix(b.String(), "\n") {
		t.Errorf("%d bytes, %d summaries, volume 0 %+v: want within %d bytes, the first summaries whole", b.Len(), n, reads[0], MaxSummaries)
	}
}

// TestSummariesRoom: MaxSummaryVolumes volumes always fit, whatever is
// written of each: the largest counts, or errors whose messages grow when
// quoted (invalid UTF-8, control bytes, multi-byte runes), cut whole.
func TestSummariesRoom(t *testing.T) {
	huge := Digests{}
	for i := range 3 {
		huge[fmt.Sprint(i)] = FileDigest{Size: 1 << 61, SHA256: strings.Repeat("f", 64)}
	}
	for _, msg := range []string{strings.Repeat("\xff", 400), strings.Repeat("\x01", 400), strings.Repeat("é", 400), strings.Repeat("x", 400) + "\n"} {
		reads := make([]DigestListRead, MaxSummaryVolumes)
		for i := range reads {
			if i%2 == 0 {
				reads[i] = DigestListRead{Err: errors.New(msg)}
			} else {
				reads[i] = DigestListRead{Digests: huge}
			}
		}
		var b strings.Builder
		if err := WriteSummaries(&b, reads); err != nil {
			t.Fatal(err)
		}
		got := ReadSummaries(b.String(), len(reads))
		for i, r := range got {
			switch {
			case i%2 == 0 && (r.Err == nil || !strings.HasPrefix(msg, r.Err.Error()) || len(r.Err.Error()) < 20):
				t.Errorf("%q: volume %d %+v, want the start of its error", msg[:4], i, r)
			case i%2 == 1 && (r.Summary == nil || *r.Summary != huge.Summary()):
				t.Errorf("%q: volume %d %+v, want its summary", msg[:4], i, r)
			}
		}
		if b.Len() > MaxSummaries {
			t.Errorf("%q: %d bytes, over %d", msg[:4], b.Len(), MaxSummaries)
		}
	}
}
