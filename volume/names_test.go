package volume_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/restore"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// TestNonUTF8Names: kopia (Velero's uploader) stores a name that is not
// valid UTF-8 with U+FFFD, so "bad\xffname" and "bad\xfename" become one
// name and kopia's reader drops one of them. The seal counts the altered
// names and seals the hidden entry's data, Level 1 reads it, and
// restore --to-dir writes it under a name of its own, with its bytes; a
// sealed manifest that does not count them is a finding. VersityGW, a
// repository written by kopia's own uploader.
func TestNonUTF8Names(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"ok.txt":         "plain",
		"bad\xffname":    "first file with a non-UTF-8 name",
		"bad\xfename":    "second, hidden by the first in kopia's reader",
		"dir\xc3/inner":  "in a folder whose name is cut UTF-8",
		"\xe9t\xe9.json": `{"latin-1":"name"}`,
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	m := volumetest.SealVolumes(t, b, "b1", "phi-app", map[string]string{"db-0": src})
	v := m.Volumes[0]
	// Altered: bad?name twice, dir?, ?t?.json. One of the bad?name is hidden.
	if v.AlteredNames != 4 || v.ShadowedEntries != 1 || v.ShadowedFiles != 1 || v.Files != 4 {
		t.Fatalf("sealed volume %+v: want 4 altered names, 1 shadowed entry of 1 file, 4 files", v)
	}
	hiddenLen := v.ShadowedBytes
	if hiddenLen != int64(len(files["bad\xffname"])) && hiddenLen != int64(len(files["bad\xfename"])) {
		t.Fatalf("shadowed bytes %d: neither bad name's", hiddenLen)
	}

	ver, err := volume.Verify(ctx, b.Offsite, m, b.Identities, volume.VerifyOptions{})
	if err != nil || len(ver) != 1 || len(ver[0].Findings) != 0 || ver[0].Files != 5 {
		t.Fatalf("Verify: %v %+v; want 5 files verified, no findings", err, ver)
	}

	pub := b.Signer.Public()
	dir := t.TempDir()
	res, err := restore.ToDir(ctx, b.Offsite, "nightly", "b1", b.Identities, dir, restore.Options{VerifyKey: &pub})
	if err != nil {
		t.Fatalf("ToDir: %v", err)
	}
	r := res.Volumes[0]
	if r.Files != 5 || r.AlteredNames != 4 || len(r.Shadowed) != 1 {
		t.Fatalf("restored %+v: want 5 files, 4 altered names, 1 shadowed", r)
	}
	// Every file's bytes come back: each content once, under the name kopia
	// kept (U+FFFD for each bad byte) or the shadowed one.
	out := filepath.Join(dir, r.Dir)
	got, err := volume.DigestsOf(volume.LocalDir(out))
	if err != nil {
		t.Fatal(err)
	}
	var contents []string
	for p := range got {
		data, err := os.ReadFile(filepath.Join(out, p))
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, string(data))
	}
	if want := slices.Sorted(maps.Values(files)); !slices.Equal(slices.Sorted(slices.Values(contents)), want) {
		t.Errorf("restored contents %q, want %q", contents, want)
	}
	want := []string{"bad\ufffdname", "bad\ufffdname" + volume.ShadowedSuffix + "1", "dir\ufffd/inner", "ok.txt", "\ufffdt\ufffd.json"}
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, want) {
		t.Errorf("restored names %q, want %q", names, want)
	}
	if st, err := os.Stat(filepath.Join(out, r.Shadowed[0])); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("shadowed file: %v %v, want mode 0640", st, err)
	}

	// A manifest that does not count what kopia hides is a finding.
	m.Volumes[0].ShadowedFiles = 0
	ver, err = volume.Verify(ctx, b.Offsite, m, b.Identities, volume.VerifyOptions{})
	if err != nil || len(ver[0].Findings) != 1 || ver[0].Findings[0].Kind != volume.FindingCount ||
		!strings.Contains(ver[0].Findings[0].Message, "shadowed") {
		t.Errorf("Verify with a wrong shadowed count: %v %+v", err, ver)
	}
}

// TestNonUTF8NamesInHiddenFolder: two names colliding inside a folder
// that a same-named folder hides are found too: the seal counts and seals
// the entry kopia's reader of the hidden folder drops, Level 1 reads it,
// and restore --to-dir writes it inside the hidden folder's own name, so
// every file's bytes come back.
func TestNonUTF8NamesInHiddenFolder(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"ok":            "plain",
		"box\xff/n\xff": "A1",
		"box\xff/n\xfe": "A2",
		"box\xfe/n\xff": "B1",
		"box\xfe/n\xfe": "B2",
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	m := volumetest.SealVolumes(t, b, "b1", "phi-app", map[string]string{"db-0": src})
	v := m.Volumes[0]
	// Altered: box? twice, n? twice in each box. Shadowed: one box, one n?
	// in the kept box, one n? in the hidden box, each of one 2-byte file
	// (the hidden box's reader reaches one of its two).
	if v.AlteredNames != 6 || v.ShadowedEntries != 3 || v.ShadowedFiles != 3 || v.ShadowedBytes != 6 || v.Files != 2 {
		t.Fatalf("sealed volume %+v: want 6 altered names, 3 shadowed entries of 3 files, 6 bytes, 2 files", v)
	}
	ver, err := volume.Verify(ctx, b.Offsite, m, b.Identities, volume.VerifyOptions{})
	if err != nil || len(ver) != 1 || len(ver[0].Findings) != 0 || ver[0].Files != 5 {
		t.Fatalf("Verify: %v %+v; want 5 files verified, no findings", err, ver)
	}
	pub := b.Signer.Public()
	dir := t.TempDir()
	res, err := restore.ToDir(ctx, b.Offsite, "nightly", "b1", b.Identities, dir, restore.Options{VerifyKey: &pub})
	if err != nil {
		t.Fatalf("ToDir: %v", err)
	}
	r := res.Volumes[0]
	if r.Files != 5 || r.AlteredNames != 6 || len(r.Shadowed) != 3 {
		t.Fatalf("restored %+v: want 5 files, 6 altered names, 3 shadowed", r)
	}
	out := filepath.Join(dir, r.Dir)
	got, err := volume.DigestsOf(volume.LocalDir(out))
	if err != nil {
		t.Fatal(err)
	}
	var contents []string
	for p := range got {
		data, err := os.ReadFile(filepath.Join(out, p))
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, string(data))
	}
	if want := slices.Sorted(maps.Values(files)); !slices.Equal(slices.Sorted(slices.Values(contents)), want) {
		t.Errorf("restored contents %q, want %q", contents, want)
	}
	box, n, sh := "box\ufffd", "n\ufffd", volume.ShadowedSuffix+"1"
	want := slices.Sorted(slices.Values([]string{box + "/" + n, box + "/" + n + sh, box + sh + "/" + n, box + sh + "/" + n + sh, "ok"}))
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, want) {
		t.Errorf("restored names %q, want %q", names, want)
	}
}
