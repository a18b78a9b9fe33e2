package restore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/restore"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

func TestToDir(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	sl, objs := b.MustSeal(t, ctx, "nightly", "n-1")
	dir := filepath.Join(t.TempDir(), "restore")
	var last seal.Progress
	res, err := restore.ToDir(ctx, b.Offsite, "nightly", "n-1", b.Identities, dir, restore.Options{
		TrustedKeys: []crypto.VerifyKey{b.Signer.Public()},
		Progress:    func(p seal.Progress) { last = p },
	})
	if err != nil {
		t.Fatalf("ToDir: %v", err)
	}
	if res.Seal.Digest() != sl.Digest() || len(res.Files) != len(objs) {
		t.Errorf("result = %+v", res)
	}
	if last.BytesDone != sl.CiphertextBytes() || last.ObjectsDone != len(objs) {
		t.Errorf("last progress %+v, want %d bytes", last, sl.CiphertextBytes())
	}
	checkDir(t, dir, objs)
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode: %v %v", st.Mode(), err)
	}

	// An existing file is not overwritten unless asked.
	_, err = restore.ToDir(ctx, b.Offsite, "nightly", "n-1", b.Identities, dir, restore.Options{TrustedKeys: []crypto.VerifyKey{b.Signer.Public()}})
	if !errors.Is(err, restore.ErrFileExists) {
		t.Errorf("second ToDir: %v, want ErrFileExists", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "velero-backup.json"), []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.ToDir(ctx, b.Offsite, "nightly", "n-1", b.Identities, dir, restore.Options{Overwrite: true, TrustedKeys: []crypto.VerifyKey{b.Signer.Public()}}); err != nil {
		t.Fatalf("ToDir with Overwrite: %v", err)
	}
	checkDir(t, dir, objs)
}

// TestToDirResourcesFail: when the resources cannot be written (here the
// tarball is not one), nothing is placed: no half-written folder.
func TestToDirResourcesFail(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.MustSeal(t, ctx, "nightly", "n-1") // its tarball is random bytes
	dir := filepath.Join(t.TempDir(), "restore")
	_, err := restore.ToDir(ctx, b.Offsite, "nightly", "n-1", b.Identities, dir, restore.Options{Resources: true, TrustedKeys: []crypto.VerifyKey{b.Signer.Public()}})
	if !errors.Is(err, restore.ErrBadTarball) {
		t.Fatalf("ToDir with a tarball that is not one: %v, want ErrBadTarball", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("ToDir failed but left %v in the directory", names)
	}
}

func TestToDirRefuses(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.MustSeal(t, ctx, "nightly", "flip")
	b.MustSeal(t, ctx, "nightly", "ok")
	_, others, _ := sealtest.NewKeys(t)

	key := seal.ObjectKey("nightly", "flip", "flip.tar.gz")
	data := sealtest.Get(t, b.Offsite, key)
	data[len(data)-100] ^= 0x80
	sealtest.Put(t, b.Offsite, key, data)

	// A validly signed seal naming an object outside the directory.
	var doc map[string]any
	if err := json.Unmarshal(sealtest.Get(t, b.Offsite, seal.SealKey("nightly", "ok")), &doc); err != nil {
		t.Fatal(err)
	}
	inner := doc["seal"].(map[string]any)
	inner["backup"] = "evil"
	inner["objects"].([]any)[0].(map[string]any)["name"] = "../../evil"
	signed, _ := json.Marshal(inner) // sorted keys, compact: the canonical form here
	doc["signature"].(map[string]any)["value"] = b.Signer.Sign(signed)
	evil, _ := json.Marshal(doc)
	sealtest.Put(t, b.Offsite, seal.SealKey("nightly", "evil"), evil)

	for _, tc := range []struct {
		name, backup string
		ids          []crypto.Identity
		want         error
	}{
		{"bit flip", "flip", b.Identities, seal.ErrObjectMismatch},
		{"wrong identity", "ok", others, crypto.ErrWrongIdentity},
		{"not sealed", "absent", b.Identities, seal.ErrNotSealed},
		{"no identity", "ok", nil, crypto.ErrNoIdentities},
		{"path traversal", "evil", b.Identities, seal.ErrBadSeal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := restore.ToDir(ctx, b.Offsite, "nightly", tc.backup, tc.ids, dir, restore.Options{TrustedKeys: []crypto.VerifyKey{b.Signer.Public()}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("ToDir: %v, want %v", err, tc.want)
			}
			if left := files(t, dir); len(left) != 0 {
				t.Errorf("a refused restore left %v", left)
			}
		})
	}
}

// checkDir compares dir with the objects Velero wrote, byte for byte, and
// checks that files are private.
func checkDir(t *testing.T, dir string, objs map[string][]byte) {
	t.Helper()
	got := files(t, dir)
	var want []string
	for name := range objs {
		want = append(want, name)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for name, content := range objs {
		path := filepath.Join(dir, filepath.FromSlash(name))
		data, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(data, content) {
			t.Errorf("%s: %d bytes, identical %v, %v", name, len(data), bytes.Equal(data, content), err)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, st.Mode())
		}
	}
}

// files lists every file under dir, relative, with slashes, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return slices.DeleteFunc(out, func(s string) bool { return strings.HasPrefix(s, "..") })
}
