package restore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/restore"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestBadBucketContents is the bad-input table of what a restore reads
// from the bucket (the CLI's and the target files' tables are in
// internal/cli and location): seal.json, the manifest, the Velero tarball,
// backup and object names, a bucket with nothing or with an object
// missing. Each case gets one error that wraps its sentinel and names what
// is wrong; the bucket is left as it was, and a failed restore writes no
// file. Real VersityGW for the bucket cases.
func TestBadBucketContents(t *testing.T) {
	ctx := t.Context()
	b := sealtest.NewBed(t, false)
	var err error
	sl, _ := b.MustSeal(t, ctx, "nightly", "n-1")
	b.S3.CreateBucket(t, "empty", false)
	empty := sealtest.OpenStore(t, b.S3.Config("empty", "cluster-a/safekeep/v1"))
	trusted := restore.Options{TrustedKeys: []crypto.VerifyKey{b.Signer.Public()}}
	raw := sl.Raw
	edit := func(old, new string) []byte {
		if !bytes.Contains(raw, []byte(old)) {
			t.Fatalf("seal.json holds no %q", old)
		}
		return bytes.Replace(raw, []byte(old), []byte(new), 1)
	}
	first := sl.Objects[0].Name
	second := sl.Objects[1].Name
	manifest := func(edit func(m map[string]any)) []byte {
		m := map[string]any{"format": seal.FormatManifestV1, "schedule": "nightly", "backup": "n-1",
			"objects":   []any{map[string]any{"name": "a.json", "size": 1, "sha256": strings.Repeat("0", 64)}},
			"resources": map[string]any{"configmaps": []string{"phi/x"}}}
		if edit != nil {
			edit(m)
		}
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	toDir := func(st storage.Store, schedule, backup string) func(string) error {
		return func(dir string) error {
			_, err := restore.ToDir(ctx, st, schedule, backup, b.Identities, dir, trusted)
			return err
		}
	}
	tests := []struct {
		name     string
		run      func(dir string) error // dir: where a restore would write
		sentinel error
		want     string
	}{
		{"seal.json not JSON", parseSeal([]byte("{\"seal\": [")), seal.ErrBadSeal, "not valid JSON"},
		{"seal.json empty", parseSeal(nil), seal.ErrBadSeal, "not valid JSON"},
		{"seal.json of unknown format version", parseSeal(edit(seal.FormatSealV1, "safekeep.dev/seal/v9")), seal.ErrBadSeal, `unknown format "safekeep.dev/seal/v9"`},
		{"seal.json without format", parseSeal(edit(`"format": "`+seal.FormatSealV1+`",`, "")), seal.ErrBadSeal, `missing "format"`},
		{"seal.json unsigned field", parseSeal(edit(`"seal": {`, `"extra": 1, "seal": {`)), seal.ErrBadSeal, `unknown field "extra"`},
		{"seal.json enormous", parseSeal(append(bytes.Repeat([]byte(" "), 64<<20), raw...)), seal.ErrBadSeal, "larger than"},
		{"seal.json object name with ..", parseSeal(edit(`"name": "`+first+`"`, `"name": "../`+first+`"`)), seal.ErrBadSeal, "invalid object name"},
		{"seal.json absolute object name", parseSeal(edit(`"name": "`+first+`"`, `"name": "/etc/`+first+`"`)), seal.ErrBadSeal, "invalid object name"},
		{"seal.json object name with backslash", parseSeal(edit(`"name": "`+first+`"`, `"name": "a\\\\`+first+`"`)), seal.ErrBadSeal, "invalid object name"},
		{"seal.json listing an object twice", parseSeal(edit(`"name": "`+second+`"`, `"name": "`+first+`"`)), seal.ErrBadSeal, "not sorted and unique"},
		{"seal.json negative size", parseSeal(edit(`"size": `, `"size": -`)), seal.ErrBadSeal, "negative size"},
		{"manifest not JSON", parseManifest([]byte("{")), seal.ErrBadManifest, ""},
		{"manifest of unknown format version", parseManifest(manifest(func(m map[string]any) { m["format"] = "safekeep.dev/manifest/v7" })), seal.ErrBadManifest, `unknown format "safekeep.dev/manifest/v7"`},
		{"manifest listing an object twice", parseManifest(manifest(func(m map[string]any) {
			o := map[string]any{"name": "a.json", "size": 1, "sha256": strings.Repeat("0", 64)}
			m["objects"] = []any{o, o}
		})), seal.ErrBadManifest, "not sorted and unique"},
		{"manifest object name with ..", parseManifest(manifest(func(m map[string]any) {
			m["objects"] = []any{map[string]any{"name": "../../etc/passwd", "size": 1, "sha256": strings.Repeat("0", 64)}}
		})), seal.ErrBadManifest, "invalid object name"},
		{"manifest backup name with a slash", parseManifest(manifest(func(m map[string]any) { m["backup"] = "n/1" })), seal.ErrBadManifest, `invalid backup name "n/1"`},
		{"manifest enormous", parseManifest(bytes.Repeat([]byte(" "), 64<<20+1)), seal.ErrBadManifest, "larger than"},
		{"tarball not gzip", walk([]byte("not a tarball")), restore.ErrBadTarball, "gzip"},
		{"tarball with an absolute path", walk(oneEntry(t, "/resources/configmaps/namespaces/phi/x.json", 2)), restore.ErrBadTarball, `unsafe entry "/resources/`},
		{"tarball escaping with ..", walk(oneEntry(t, "resources/configmaps/namespaces/../../../../etc/x.json", 2)), restore.ErrBadTarball, `unsafe entry "resources/configmaps/namespaces/../`},
		{"tarball climbing outside resources", walk(oneEntry(t, "../../home/x.json", 2)), restore.ErrBadTarball, `unsafe entry "../../home/x.json"`},
		{"tarball with an enormous entry", walk(oneEntry(t, "resources/configmaps/namespaces/phi/x.json", restore.MaxItemSize+1)), restore.ErrBadTarball, "more than"},
		{"empty bucket", toDir(empty, "nightly", "n-1"), seal.ErrNotSealed, "n-1"},
		{"backup not in the bucket", toDir(b.Offsite, "nightly", "n-2"), seal.ErrNotSealed, "n-2"},
		{"schedule name with a slash", toDir(b.Offsite, "night/ly", "n-1"), nil, `invalid schedule name "night/ly"`},
		{"backup name ..", toDir(b.Offsite, "nightly", ".."), nil, `invalid backup name ".."`},
	}
	before := sealtest.Snapshot(t, b.Offsite, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "restore")
			err := tt.run(dir)
			checkBadInput(t, err, tt.sentinel, tt.want)
			if _, statErr := os.Stat(dir); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("a failed restore left %s (%v)", dir, statErr)
			}
		})
	}
	// The bucket is as it was: nothing read was changed or removed.
	if after := sealtest.Snapshot(t, b.Offsite, ""); !sameObjects(before, after) {
		t.Errorf("the bucket changed: %v, then %v", sealtest.Keys(before), sealtest.Keys(after))
	}

	// An object the seal lists is missing: named, and nothing restored.
	if err := b.Offsite.Delete(ctx, seal.ObjectKey("nightly", "n-1", first)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restore")
	err = toDir(b.Offsite, "nightly", "n-1")(dir)
	checkBadInput(t, err, nil, first)
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("a restore with an object missing left %d files", len(left))
	}
	t.Logf("bad bucket contents: %d inputs, each refused with one error naming it", len(tests)+1)
}

func parseSeal(data []byte) func(string) error {
	return func(string) error { _, err := seal.ParseSeal(data); return err }
}

func parseManifest(data []byte) func(string) error {
	return func(string) error { _, err := seal.ParseManifest(data); return err }
}

func walk(data []byte) func(string) error {
	return func(string) error {
		return restore.WalkTarball(bytes.NewReader(data), func(restore.Item) error { return nil })
	}
}

// oneEntry is a gzipped tar of one entry of size bytes.
func oneEntry(t *testing.T, name string, size int) []byte {
	t.Helper()
	return tarball(t, map[string]string{name: strings.Repeat("x", size)}, name)
}

// checkBadInput wants one line that wraps sentinel (when set) and names want.
func checkBadInput(t *testing.T, err, sentinel error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %q", want)
	}
	msg := err.Error()
	t.Log(msg)
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("error %q does not wrap %v", msg, sentinel)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not name %q", msg, want)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q spans lines", msg)
	}
}

func sameObjects(a, b []storage.ObjectInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Size != b[i].Size || a[i].ETag != b[i].ETag {
			return false
		}
	}
	return true
}
