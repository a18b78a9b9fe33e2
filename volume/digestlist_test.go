package volume

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"strings"
	"testing"
	"testing/fstest"
)

// TestDigestList: what the in-pod reader writes reads back to the same
// digests DigestsOf gives, names with spaces and newlines included; a
// list cut short, changed, or with an error line fails only its
// volume.
func TestDigestList(t *testing.T) {
	vol := fstest.MapFS{
		"records/patient 1.json":  {Data: []byte(`{"name":"Jane"}`)},
		"odd\nname":               {Data: []byte("x")},
		"scans/ct.dcm":            {Data: bytes.Repeat([]byte{7}, 70000)},
		"link":                    {Data: []byte("records"), Mode: fs.ModeSymlink},
		"records/sub/deeper/file": {Data: []byte("deep")},
	}
	want, err := DigestsOf(vol)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString("a line of the runtime's own\n")
	for i, fsys := range []fs.FS{vol, fstest.MapFS{}} {
		if _, err := WriteDigestList(&buf, i, fsys); err != nil {
			t.Fatal(err)
		}
	}
	list := buf.String()
	got, err := ReadDigestList(strings.NewReader(list), 2)
	if err != nil || got[0].Err != nil || got[1].Err != nil {
		t.Fatalf("ReadDigestList: %v, %+v", err, got)
	}
	if !maps.Equal(got[0].Digests, want) || len(got[0].Digests) != 4 || len(got[1].Digests) != 0 {
		t.Errorf("read back %v, want %v", got[0].Digests, want)
	}

	cut := list[:strings.LastIndex(list, "end 4")]
	if got, err := ReadDigestList(strings.NewReader(cut), 2); err != nil || !errors.Is(got[0].Err, ErrDigestList) || got[1].Err == nil {
		t.Errorf("a list cut short: %v, %+v; want both volumes failed", err, got)
	}
	dropped := strings.Replace(list, "f "+want["scans/ct.dcm"].SHA256, "x", 1)
	if got, _ := ReadDigestList(strings.NewReader(dropped), 2); !errors.Is(got[0].Err, ErrDigestList) || got[1].Err != nil {
		t.Errorf("a lost line: %+v; want volume 0 failed only", got)
	}
	errLine := "volume 0\nerror 0 \"open records: permission denied\"\n"
	if got, _ := ReadDigestList(strings.NewReader(errLine), 1); got[0].Err == nil || got[0].Err.Error() != "open records: permission denied" {
		t.Errorf("an error line: %+v", got)
	}
	if _, err := ReadDigestList(strings.NewReader("volume 7\n"), 1); !errors.Is(err, ErrDigestList) {
		t.Errorf("a volume out of range: %v", err)
	}
	if a, b := want.Sum(), (Digests{}).Sum(); a == b || !strings.HasPrefix(a, "sha256:") {
		t.Errorf("sums %s %s", a, b)
	}
}
