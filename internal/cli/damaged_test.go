package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyDamaged: with sealed objects damaged at rest (their bytes
// changed under VersityGW, so a GET fails the stored checksum), key-less
// verify signs off seal.json and names each damaged object, and restore
// --to-dir names them too and writes nothing.
func TestVerifyDamaged(t *testing.T) {
	b := newBed(t)
	k := keygenStep(t, b)
	b.putBackup(t, "b2", "Completed")
	bsl := b.writeBSL(t)
	b.pin = k.verifyKey
	target := b.writeTarget(t, "target.yaml", plainBucket, false, k.recipient)
	b.ok(t, "seal", "--source", bsl, "--backup", "b2", "--target-file", target, "--signing-key", k.signing)
	damaged := []string{"b2.tar.gz", "b2-logs.gz"}
	for _, name := range damaged {
		damageFile(t, filepath.Join(b.s3.Dir, plainBucket, "cluster-a/safekeep/v1/backups/manual/b2/objects", name+".age"))
	}

	r := b.run(t, "verify", "--target-file", target, "--backup", "manual/b2")
	if r.code != exitFailure || !strings.Contains(r.out, "signature  ok") || strings.Contains(r.out, "seal       FAIL") {
		t.Fatalf("verify of damaged objects: exit %d\n%s%s", r.code, r.out, r.err)
	}
	for _, name := range damaged {
		if !strings.Contains(r.out, name+": damaged: ") {
			t.Errorf("verify does not name %s as damaged:\n%s", name, r.out)
		}
	}
	if !strings.Contains(r.out, "2 of 11 objects have problems") {
		t.Errorf("verify output:\n%s", r.out)
	}

	dir := b.path("restored")
	r = b.run(t, "restore", "--target-file", target, "--backup", "manual/b2", "-i", k.identity, "--to-dir", dir)
	if r.code != exitFailure {
		t.Fatalf("restore of damaged objects: exit %d", r.code)
	}
	for _, name := range damaged {
		if !strings.Contains(r.err, name) {
			t.Errorf("restore does not name %s: %s", name, r.err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed restore left %d entries in %s", len(entries), dir)
	}
}

// damageFile flips one byte in the middle of a file.
func damageFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(path, data, 0o600); err != nil { //nolint:gosec // a test file under t.TempDir
		t.Fatal(err)
	}
}
