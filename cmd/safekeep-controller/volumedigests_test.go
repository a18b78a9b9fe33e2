package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/volume"
)

// TestVolumeDigestsNonUTF8: the reader of restored volumes lists files
// whose names are not valid UTF-8 (Linux allows any bytes), each under
// its own bytes, quoted so that two such names stay two; os.DirFS, which
// it used before, refuses to open them.
func TestVolumeDigestsNonUTF8(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"bad\xffname": "one", "bad\xfename": "two", "ok.txt": "three", "sub\xc3/in": "four"}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out, errs bytes.Buffer
	if code := runVolumeDigests([]string{dir}, &out, &errs); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), `"bad\xffname"`) || !strings.Contains(out.String(), `"sub\xc3/in"`) {
		t.Errorf("list does not quote the names' bytes:\n%s", out.String())
	}
	got, err := volume.ReadDigestList(&out, 1)
	if err != nil || got[0].Err != nil {
		t.Fatalf("ReadDigestList: %v %v", err, got[0].Err)
	}
	if len(got[0].Digests) != len(files) {
		t.Fatalf("listed %v, want the %d files", got[0].Digests, len(files))
	}
	for name, data := range files {
		d, ok := got[0].Digests[name]
		if !ok || d.Size != int64(len(data)) {
			t.Errorf("%q: %+v %v", name, d, ok)
		}
	}
	local, err := volume.DigestsOf(volume.LocalDir(dir))
	if err != nil || !maps.Equal(local, got[0].Digests) {
		t.Errorf("DigestsOf(LocalDir): %v %v", local, err)
	}
	if _, err := volume.WriteDigestList(&out, 0, os.DirFS(dir)); err == nil {
		t.Errorf("os.DirFS read a non-UTF-8 name: this test no longer shows why LocalDir")
	}
}
