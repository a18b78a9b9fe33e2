package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestRecoverFlow: on a versioned, object-locked bucket an attacker deletes
// every current object of a sealed backup (each now under a delete marker).
// backups hides it unless --all, verify and restore read it from the locked
// versions and say so, recover --dry-run changes nothing, recover clears
// the markers and writes an audit entry, and the audit log stays intact.
func TestRecoverFlow(t *testing.T) {
	b, k, target, st := sealedVersioned(t)

	var hidden []string
	for info, err := range st.List(t.Context(), seal.BackupPrefix("manual", "b1")) {
		if err != nil {
			t.Fatal(err)
		}
		if info.Key == seal.SealKey("manual", "b1") || info.Key == seal.ManifestKey("manual", "b1") ||
			strings.HasPrefix(info.Key, seal.ObjectsPrefix("manual", "b1")) {
			hidden = append(hidden, info.Key)
		}
	}
	// Two audit entries, the first then hidden too.
	signKey, err := os.ReadFile(k.signing)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := crypto.ParseSigningKey(signKey)
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(st, signer, audit.Options{})
	for range 2 {
		if _, err := log.Append(t.Context(), audit.Record{Actor: "test", Kind: audit.KindFailure, Subject: "x", Details: audit.FailureDetails{Operation: "seal", Reason: "Test"}}); err != nil {
			t.Fatal(err)
		}
	}
	entry := ""
	for info, err := range st.List(t.Context(), audit.Dir) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(info.Key, audit.EntryPrefix(1)) {
			entry = info.Key
		}
	}
	if entry == "" {
		t.Fatal("no object of audit entry 1")
	}
	for _, key := range append(hidden, entry) {
		sealtest.Hide(t, st, key)
	}
	// The chain verifies through the hidden entry; the marker is someone
	// else's write: exit 1 naming it.
	if r := b.run(t, "audit", "verify", "--target-file", target, "--verify-key", k.verifyKeyFile, "--deep"); r.code != exitFailure || !strings.Contains(r.out, "intact") ||
		!strings.Contains(r.out, entry+": hidden by a delete marker at") || !strings.Contains(r.out, "recovered from version") ||
		!strings.Contains(r.out, "tampered  entry "+entry+": 1 delete marker(s), the newest current (hidden)") || !strings.Contains(r.err, "written outside the claim protocol") {
		t.Errorf("audit verify does not read the hidden entry from its version and name the marker (exit %d):\n%s%s", r.code, r.out, r.err)
	}

	r := b.run(t, "backups", "--target-file", target, "--verify-key", k.verifyKeyFile)
	if r.code != 0 || strings.Contains(r.out, "b1") || !strings.Contains(r.err, "hidden by a delete marker") {
		t.Errorf("backups without --all: exit %d, want b1 left out with a note on stderr", r.code)
	}
	if r := b.run(t, "backups", "--target-file", target, "--all", "--verify-key", k.verifyKeyFile); r.code != 0 || !strings.Contains(r.out, "b1      hidden") || !strings.Contains(r.out, "recoverable from version") {
		t.Errorf("backups --all: exit %d, want b1 listed as hidden and recoverable", r.code)
	}
	if r := b.run(t, "verify", "--target-file", target, "--backup", "manual/b1", "--trust-bucket-key"); r.code != 1 || !strings.Contains(r.err, "only a pinned signing key") {
		t.Errorf("verify of a hidden seal.json without a pinned key: exit %d, want 1 saying a pinned key is needed", r.code)
	}
	out := b.ok(t, "verify", "--target-file", target, "--backup", "manual/b1", "--identity", k.identity, "--verify-key", k.verifyKeyFile)
	if n := strings.Count(out, "hidden by a delete marker at"); n != len(hidden) || !strings.Contains(out, "recovered from version") || !strings.Contains(out, "intact") {
		t.Errorf("verify names %d hidden objects, want %d, each recovered:\n%s", n, len(hidden), out)
	}
	dir := filepath.Join(b.dir, "restored")
	out = b.ok(t, "restore", "--target-file", target, "--backup", "manual/b1", "--identity", k.identity, "--verify-key", k.verifyKeyFile, "--to-dir", dir)
	if !strings.Contains(out, "recovered from version") {
		t.Errorf("restore does not say what it recovered:\n%s", out)
	}
	for name, want := range b.backups["b1"] {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s differs from Velero's bytes (%v)", name, err)
		}
	}

	out = b.ok(t, "recover", "--target-file", target, "--all", "--dry-run", "--verify-key", k.verifyKeyFile)
	if strings.Count(out, "manual/b1: would bring back") != len(hidden) || !strings.Contains(out, "audit log: would bring back "+entry) {
		t.Errorf("recover --dry-run plans %d, want %d and the audit entry:\n%s", strings.Count(out, "manual/b1: would bring back"), len(hidden), out)
	}
	if _, still := storage.Hidden(sealtest.Versions(t, st, seal.SealKey("manual", "b1"))); !still {
		t.Fatal("recover --dry-run changed the bucket")
	}
	out = b.ok(t, "recover", "--target-file", target, "--all", "--verify-key", k.verifyKeyFile, "--signing-key", k.signing)
	if !strings.Contains(out, "audit log: recovered "+entry) {
		t.Errorf("recover --all did not bring back the audit entry:\n%s", out)
	}
	if _, h := storage.Hidden(sealtest.Versions(t, st, entry)); h {
		t.Errorf("audit entry %s is still hidden after recover", entry)
	}
	if strings.Count(out, "manual/b1: recovered ") != len(hidden) || !strings.Contains(out, "audit entry") {
		t.Errorf("recover did not bring back every object with an audit entry:\n%s", out)
	}
	for _, key := range hidden {
		if _, h := storage.Hidden(sealtest.Versions(t, st, key)); h {
			t.Errorf("%s is still hidden after recover", key)
		}
	}
	if out := b.ok(t, "backups", "--target-file", target, "--verify-key", k.verifyKeyFile); !strings.Contains(out, "b1") {
		t.Errorf("after recover, backups does not list b1:\n%s", out)
	}
	if out := b.ok(t, "verify", "--target-file", target, "--backup", "manual/b1", "--identity", k.identity, "--verify-key", k.verifyKeyFile); strings.Contains(out, "hidden") {
		t.Errorf("after recover, verify still reports hidden objects:\n%s", out)
	}
	if out := b.ok(t, "audit", "verify", "--target-file", target, "--verify-key", k.verifyKeyFile, "--deep"); !strings.Contains(out, "intact") || strings.Contains(out, "hidden") {
		t.Errorf("audit verify after recover:\n%s", out)
	}
	if out := b.ok(t, "recover", "--target-file", target, "--backup", "manual/b1", "--verify-key", k.verifyKeyFile); !strings.Contains(out, "nothing hidden") {
		t.Errorf("a second recover finds something:\n%s", out)
	}
}

// sealedVersioned seals backup manual/b1 with the CLI on a versioned,
// object-locked bucket, and returns the bed, the keys, the target file
// (its signing key trusted for audit entries too) and the target's store.
func sealedVersioned(t *testing.T) (*bed, keys, string, storage.Store) {
	b := newBed(t, testbed.S3Versioned())
	k := keygenStep(t, b)
	b.putBackup(t, "b1", "Completed")
	bsl := b.writeBSL(t)
	target := b.writeTarget(t, "target.yaml", offsiteBucket, true, k.recipient)
	doc, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	target = b.write(t, "target.yaml", string(doc)+"  auditKeys: [\""+k.verifyKey+"\"]\n")
	b.ok(t, "seal", "--source", bsl, "--backup", "b1", "--target-file", target, "--signing-key", k.signing)
	return b, k, target, sealtest.OpenStore(t, b.s3.Config(offsiteBucket, "cluster-a/safekeep/v1"))
}

// overwriteSeal puts data over manual/b1's seal.json as a new version and
// returns its key, the genuine bytes and how output names the overwrite.
func overwriteSeal(t *testing.T, st storage.Store, data []byte) (key string, genuine []byte, over string) {
	t.Helper()
	key = seal.SealKey("manual", "b1")
	genuine = sealtest.Get(t, st, key)
	sealtest.Put(t, st, key, data)
	return key, genuine, "overwritten with other bytes (version " + sealtest.Versions(t, st, key)[0].VersionID + ")"
}

// TestRecoverOverwrittenSeal: an attacker puts other bytes over seal.json
// as a new version (no delete marker). backups --all offers the genuine
// version, verify and restore read it, and recover --backup makes it
// current again. Before, the backup was only reported invalid.
func TestRecoverOverwrittenSeal(t *testing.T) {
	b, k, target, st := sealedVersioned(t)
	key, genuine, over := overwriteSeal(t, st, []byte("{}"))

	if r := b.run(t, "backups", "--target-file", target, "--all", "--verify-key", k.verifyKeyFile); r.code != 0 ||
		!strings.Contains(r.out, "seal.json "+over) || !strings.Contains(r.out, "recoverable from version") {
		t.Errorf("backups --all: exit %d, want b1 recoverable from under the overwrite:\n%s%s", r.code, r.out, r.err)
	}
	if out := b.ok(t, "verify", "--target-file", target, "--backup", "manual/b1", "--identity", k.identity, "--verify-key", k.verifyKeyFile); !strings.Contains(out, key+": "+over) || !strings.Contains(out, "intact") {
		t.Errorf("verify does not read the genuine seal.json under the overwrite:\n%s", out)
	}
	dir := filepath.Join(b.dir, "restored")
	b.ok(t, "restore", "--target-file", target, "--backup", "manual/b1", "--identity", k.identity, "--verify-key", k.verifyKeyFile, "--to-dir", dir)
	for name, want := range b.backups["b1"] {
		if got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name))); err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s differs from Velero's bytes (%v)", name, err)
		}
	}
	if out := b.ok(t, "recover", "--target-file", target, "--backup", "manual/b1", "--verify-key", k.verifyKeyFile, "--signing-key", k.signing); !strings.Contains(out, "manual/b1: recovered "+key+" ("+over) {
		t.Errorf("recover does not bring back the genuine seal.json:\n%s", out)
	}
	if !bytes.Equal(sealtest.Get(t, st, key), genuine) {
		t.Error("after recover the current seal.json is not the genuine one")
	}
	if out := b.ok(t, "backups", "--target-file", target, "--verify-key", k.verifyKeyFile); !strings.Contains(out, "b1") {
		t.Errorf("after recover, backups does not list b1:\n%s", out)
	}
}

// TestRecoverAllOverwrittenSeal: an attacker puts bytes that are no seal at
// all over seal.json as a new version. recover --all finds the backup in
// the trusted listing (hidden, recoverable from the genuine version) and
// makes the genuine seal.json current again. Before, --all listed the
// backup as invalid and skipped it: only --backup recovered it. A hidden
// audit claim comes back too (before, only entries did).
func TestRecoverAllOverwrittenSeal(t *testing.T) {
	b, k, target, st := sealedVersioned(t)
	key, genuine, over := overwriteSeal(t, st, []byte("not a seal"))
	out := b.ok(t, "recover", "--target-file", target, "--all", "--verify-key", k.verifyKeyFile, "--signing-key", k.signing)
	if !strings.Contains(out, "manual/b1: recovered "+key+" ("+over) {
		t.Errorf("recover --all does not bring back the genuine seal.json:\n%s", out)
	}
	if !bytes.Equal(sealtest.Get(t, st, key), genuine) {
		t.Error("after recover --all the current seal.json is not the genuine one")
	}

	// That recovery's audit entry took claim 1: hidden, it comes back from
	// its version, which the target's audit key signed.
	claim := audit.ClaimKey(1)
	sealtest.Hide(t, st, claim)
	out = b.ok(t, "recover", "--target-file", target, "--all", "--verify-key", k.verifyKeyFile, "--signing-key", k.signing)
	if !strings.Contains(out, "audit log: recovered "+claim) {
		t.Errorf("recover --all does not bring back the hidden claim:\n%s", out)
	}
	if _, err := st.Stat(t.Context(), claim); err != nil {
		t.Errorf("claim 1 after recover --all: %v", err)
	}
}
