package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/target"
)

// keys is what the keygen step made.
type keys struct {
	identity, recipient string // identity file, its age1 recipient
	signing, verifyKey  string // signing key file, its ed25519: public key
	verifyKeyFile       string
}

// TestFlow runs keygen -> seal -> backups -> verify -> restore against a real
// VersityGW, then the ways each can fail.
func TestFlow(t *testing.T) {
	b := newBed(t)
	k := keygenStep(t, b)
	b.putBackup(t, "b1", "Completed")
	bsl := b.writeBSL(t)
	unpinned := b.writeTarget(t, "target-unpinned.yaml", offsiteBucket, true, k.recipient)
	b.pin = k.verifyKey
	target := b.writeTarget(t, "target.yaml", offsiteBucket, true, k.recipient)

	t.Run("seal", func(t *testing.T) { sealStep(t, b, k, bsl, target) })
	t.Run("backups", func(t *testing.T) { backupsStep(t, b, target) })
	t.Run("verify", func(t *testing.T) { verifyStep(t, b, k, target, unpinned) })
	t.Run("verify wrong identity", func(t *testing.T) { verifyWrongIdentity(t, b, target) })
	t.Run("restore", func(t *testing.T) { restoreStep(t, b, k, target) })
	t.Run("planted backup", func(t *testing.T) { plantedStep(t, b, k, bsl, target, unpinned) })
	t.Run("restore key", func(t *testing.T) { restoreKeyStep(t, b, k) })
	t.Run("age interop", func(t *testing.T) { ageInteropStep(t, b, k) })
	t.Run("tampered", func(t *testing.T) { tamperStep(t, b, k, bsl) })
	t.Run("interrupted", func(t *testing.T) { interruptStep(t, b, k, bsl, target) })
	t.Run("bad input", func(t *testing.T) { badInputStep(t, b, k, bsl, target) })

	// Nothing any run printed holds a secret.
	all := b.outputs.String()
	for _, secret := range []string{b.s3.SecretKey, "AGE-SECRET-KEY", "-----BEGIN", marker} {
		if strings.Contains(all, secret) {
			t.Errorf("some output contains a secret (%.12s...)", secret)
		}
	}
	// No offsite object holds the plaintext marker.
	for key, data := range b.offsiteObjects(t, offsiteBucket) {
		if bytes.Contains(data, []byte(marker)) {
			t.Errorf("offsite object %s contains the plaintext marker", key)
		}
	}
}

func keygenStep(t *testing.T, b *bed) keys {
	var k keys
	k.identity = b.path("id.txt")
	k.recipient = strings.TrimSpace(b.ok(t, "keygen", "-o", k.identity))
	if !regexp.MustCompile(`^age1[02-9ac-hj-np-z]{58}$`).MatchString(k.recipient) {
		t.Fatalf("keygen printed %q, want an age1 recipient", k.recipient)
	}
	checkMode(t, k.identity, 0o600)
	k.signing = b.path("signing.pem")
	k.verifyKey = strings.TrimSpace(b.ok(t, "keygen", "--signing", "-o", k.signing))
	if !strings.HasPrefix(k.verifyKey, "ed25519:") {
		t.Fatalf("keygen --signing printed %q, want ed25519:...", k.verifyKey)
	}
	checkMode(t, k.signing, 0o600)
	k.verifyKeyFile = b.write(t, "signing.pub", k.verifyKey+"\n")
	return k
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}

func sealStep(t *testing.T, b *bed, k keys, bsl, target string) {
	out := b.ok(t, "seal", "--source", bsl, "--backup", "b1", "--target-file", target,
		"--signing-key", k.signing, "--cluster-id", "cluster-a", "--concurrency", "3")
	for _, want := range []string{
		"manual/b1 (sealed)", "objects:", "11", "plaintext:", "ciphertext:", "duration:",
		"object lock:", "GOVERNANCE",
		"seal:", b.s3.Endpoint + "/" + offsiteBucket + "/cluster-a/safekeep/v1/backups/manual/b1/seal.json",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("seal summary lacks %q:\n%s", want, out)
		}
	}
	// Sealing again uploads nothing and says so.
	out = b.ok(t, "seal", "--source", bsl, "--backup", "b1", "--target-file", target, "--signing-key", k.signing)
	if !strings.Contains(out, "already sealed") {
		t.Errorf("second seal does not say it was already sealed:\n%s", out)
	}
	// The signing key from the environment, another schedule.
	t.Setenv(SigningKeyEnv, k.signing)
	b.ok(t, "seal", "--source", bsl, "--backup", "b1", "--target-file", target, "--schedule", "nightly")
}

func backupsStep(t *testing.T, b *bed, target string) {
	// An interrupted seal's leftovers: listed apart, never restorable.
	mc := b.s3.Minio(t)
	leftover := "cluster-a/safekeep/v1/backups/manual/b9/objects/b9.tar.gz.age"
	if _, err := mc.PutObject(t.Context(), offsiteBucket, leftover, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.ok(t, "backups", "--target-file", target)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !regexp.MustCompile(`^SCHEDULE\s+BACKUP\s+SEALED\s+OBJECTS\s+SIZE$`).MatchString(lines[0]) {
		t.Fatalf("backups table:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^manual\s+b1\s+\d{4}-\d\d-\d\dT\S+Z\s+11\s+\d+(\.\d)? KiB$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^nightly\s+b1\s+`).MatchString(out) {
		t.Errorf("backups table lacks the sealed rows:\n%s", out)
	}
	if !strings.Contains(out, "Not restorable") || !regexp.MustCompile(`(?m)^manual\s+b9\s+incomplete\s+1\s`).MatchString(out) {
		t.Errorf("backups table does not list the incomplete backup apart:\n%s", out)
	}

	var list []backupJSON
	if err := json.Unmarshal([]byte(b.ok(t, "backups", "--target-file", target, "-o", "json")), &list); err != nil {
		t.Fatalf("backups -o json: %v", err)
	}
	states := map[string]backupJSON{}
	for _, e := range list {
		states[e.Schedule+"/"+e.Backup] = e
	}
	if e := states["manual/b1"]; !e.Restorable || e.State != "sealed" || e.Objects != 11 || e.Cluster != "cluster-a" ||
		e.SealedAt == nil || !strings.HasPrefix(e.SealDigest, "sha256:") {
		t.Errorf("manual/b1 in JSON: %+v", e)
	}
	if e := states["manual/b9"]; e.Restorable || e.State != "incomplete" {
		t.Errorf("manual/b9 in JSON: %+v", e)
	}
	if len(list) != 3 {
		t.Errorf("backups -o json lists %d backups, want 3", len(list))
	}
	// --verbose: debug logs on stderr, the same table on stdout.
	r := b.run(t, "backups", "--target-file", target, "--verbose")
	if r.code != 0 || r.out != out || !strings.Contains(r.err, `msg="offsite target"`) || !strings.Contains(r.err, "level=DEBUG") {
		t.Errorf("backups --verbose: exit %d, stderr:\n%s", r.code, r.err)
	}
	if err := mc.RemoveObject(t.Context(), offsiteBucket, leftover, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

func verifyStep(t *testing.T, b *bed, k keys, target, unpinned string) {
	out := b.ok(t, "verify", "--target-file", target, "--backup", "manual/b1")
	for _, want := range []string{"signature  ok", "trusted: spec.signingPublicKey of target file " + target, "objects    ok    11 objects", "manifest   ok", "plaintext  skip", "intact: manual/b1"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify without keys lacks %q:\n%s", want, out)
		}
	}
	// A target naming no key: refused unless the bucket's key is trusted
	// explicitly, and then the verdict says so.
	r := b.run(t, "verify", "--target-file", unpinned, "--backup", "manual/b1")
	checkOneLine(t, r, exitFailure, "names no signing key to trust")
	out = b.ok(t, "verify", "--target-file", unpinned, "--backup", "manual/b1", "--trust-bucket-key")
	if !strings.Contains(out, "published in the bucket, trusted on --trust-bucket-key only") {
		t.Errorf("verify --trust-bucket-key does not say which key it trusted:\n%s", out)
	}
	r = b.run(t, "verify", "--target-file", target, "--backup", "manual/b1", "--trust-bucket-key")
	checkOneLine(t, r, exitUsage, "--trust-bucket-key is only for a target that names no signing key")
	for _, vk := range []string{k.verifyKeyFile, k.verifyKey} {
		out = b.ok(t, "verify", "--target-file", unpinned, "--backup", "nightly/b1", "--identity", k.identity, "--verify-key", vk)
		for _, want := range []string{"trusted: --verify-key", "plaintext  ok", "intact: nightly/b1"} {
			if !strings.Contains(out, want) {
				t.Errorf("verify with keys lacks %q:\n%s", want, out)
			}
		}
	}
}

// verifyWrongIdentity wants the plaintext check, and only it, to fail.
func verifyWrongIdentity(t *testing.T, b *bed, target string) {
	other := b.path("stranger.txt")
	b.ok(t, "keygen", "-o", other)
	r := b.run(t, "verify", "--target-file", target, "--backup", "manual/b1", "-i", other)
	checkOneLine(t, r, exitFailure, "no given identity can decrypt it")
	for _, want := range []string{"objects    ok", "manifest   ok", "plaintext  FAIL  1 problem(s)", "  manifest.json.age: decrypt: "} {
		if !strings.Contains(r.out, want) {
			t.Errorf("verify with a stranger's identity lacks %q:\n%s", want, r.out)
		}
	}
}

func restoreStep(t *testing.T, b *bed, k keys, target string) {
	dir := filepath.Join(b.dir, "restored")
	out := b.ok(t, "restore", "--target-file", target, "--backup", "manual/b1", "--identity", k.identity, "--to-dir", dir)
	if !strings.Contains(out, "restored manual/b1 to "+dir+": 11 files") {
		t.Errorf("restore summary:\n%s", out)
	}
	checkRestored(t, dir, b.backups["b1"])

	// A second restore into the same folder refuses to overwrite...
	r := b.run(t, "restore", "--target-file", target, "--backup", "manual/b1", "--identity", k.identity, "--to-dir", dir)
	checkOneLine(t, r, exitFailure, "already exists")
	// ...unless asked to.
	b.ok(t, "restore", "--target-file", target, "--backup", "manual/b1", "-i", k.identity, "--to-dir", dir, "--overwrite")
	checkRestored(t, dir, b.backups["b1"])
}

// plantedStep: someone who can write to the bucket (but holds none of the
// target's keys) seals a backup of their own, signed by their own key and
// encrypted to the responder's recipient. Verify, restore and backups refuse
// it; before pinning by default, verify said intact and restore wrote it.
func plantedStep(t *testing.T, b *bed, k keys, bsl, target, unpinned string) {
	evilKey := b.path("evil.pem")
	b.ok(t, "keygen", "--signing", "-o", evilKey)
	b.putBackup(t, "evil", "Completed")
	b.ok(t, "seal", "--source", bsl, "--backup", "evil", "--target-file", unpinned, "--signing-key", evilKey)

	r := b.run(t, "verify", "--target-file", target, "--backup", "manual/evil")
	checkOneLine(t, r, exitFailure, "does not trust")
	if !strings.Contains(r.out, "signed by a key the target does not trust: refused") || strings.Contains(r.out, "intact") {
		t.Errorf("verify of a planted backup:\n%s", r.out)
	}
	r = b.run(t, "restore", "--target-file", target, "--backup", "manual/evil", "-i", k.identity, "--to-dir", b.path("evil"))
	checkOneLine(t, r, exitFailure, "does not trust")
	if _, err := os.Stat(b.path("evil")); err == nil {
		t.Error("restore of a planted backup created its directory")
	}
	out := b.ok(t, "backups", "--target-file", target)
	if !regexp.MustCompile(`(?m)^manual\s+evil\s+untrusted\s`).MatchString(out) {
		t.Errorf("backups does not list the planted backup apart as untrusted:\n%s", out)
	}
	// The restore through a target that names the key says which key and why.
	out = b.ok(t, "restore", "--target-file", target, "--backup", "manual/b1", "-i", k.identity, "--to-dir", b.path("pinned"))
	if !strings.Contains(out, "seal signed by key "+verifyKeyID(t, k.verifyKey)+", trusted: spec.signingPublicKey of target file "+target) {
		t.Errorf("restore does not say which key it trusted:\n%s", out)
	}
}

// restoreKeyStep: a responder signs the restore's audit entry with a restore
// key of their own, never the seal signing key. Only a key the target lists
// in spec.auditKeys writes an entry, and the controller's writer (the seal
// key, trusting the target's audit keys) chains onto it.
func restoreKeyStep(t *testing.T, b *bed, k keys) {
	rk := b.path("restore.pem")
	rpub := strings.TrimSpace(b.ok(t, "keygen", "--signing", "-o", rk))
	unlisted := b.writeTarget(t, "target-no-audit-keys.yaml", offsiteBucket, true, k.recipient)
	r := b.run(t, "restore", "--target-file", unlisted, "--backup", "manual/b1", "-i", k.identity, "--to-dir", b.path("rk-1"), "--signing-key", rk)
	if r.code != 0 || !strings.Contains(r.err, "no audit entry written: the restore key") || !strings.Contains(r.err, "spec.auditKeys") {
		t.Errorf("restore with a key the target does not list: exit %d, stderr:\n%s", r.code, r.err)
	}
	b.auditKeys = []string{rpub}
	defer func() { b.auditKeys = nil }()
	listed := b.writeTarget(t, "target-audit-keys.yaml", offsiteBucket, true, k.recipient)
	out := b.ok(t, "restore", "--target-file", listed, "--backup", "manual/b1", "-i", k.identity, "--to-dir", b.path("rk-2"), "--signing-key", rk)
	if !strings.Contains(out, "audit entry ") || !strings.Contains(out, " recorded (") {
		t.Fatalf("restore with a listed restore key recorded no entry:\n%s", out)
	}
	// The controller's writer on the target as the CLI loads a target file.
	off, err := (&targetFlags{file: listed}).open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	signer, ok, err := auditSigner(k.signing)
	if err != nil || !ok {
		t.Fatalf("read the seal signing key: %v", err)
	}
	tgt := &target.Target{Object: off.target, Config: off.config, Store: off.store, Signer: signer, HasSigner: true}
	l, err := tgt.AuditLog()
	if err != nil {
		t.Fatal(err)
	}
	e, err := l.Append(t.Context(), audit.Record{Actor: "test", Kind: audit.KindSeal, Subject: "after/restore"})
	if err != nil {
		t.Fatalf("the controller's writer after a restore entry: %v", err)
	}
	var prev *audit.Entry
	for entry, err := range audit.Read(t.Context(), tgt.Store, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if entry.Seq == e.Seq-1 {
			prev = entry
		}
	}
	if prev == nil || prev.Kind != audit.KindRestore || prev.Signature.KeyID != verifyKeyID(t, rpub) || e.Prev != prev.Hash {
		t.Errorf("entry %d does not chain onto the restore entry signed by the restore key: %+v", e.Seq, prev)
	}
}

// verifyKeyID is the key id of an ed25519:... public key.
func verifyKeyID(t *testing.T, text string) string {
	t.Helper()
	k, err := crypto.ParseVerifyKey([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return k.KeyID()
}

// checkRestored wants dir to hold exactly the objects, byte for byte.
func checkRestored(t *testing.T, dir string, objects map[string][]byte) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Besides Velero's files, resources/ holds the backup's resources as YAML.
	entries = slices.DeleteFunc(entries, func(e os.DirEntry) bool { return e.Name() == "resources" && e.IsDir() })
	if len(entries) != len(objects) {
		t.Errorf("%s holds %d entries besides resources/, want %d", dir, len(entries), len(objects))
	}
	for name, want := range objects {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("restored %s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("restored %s differs from what Velero wrote (%d bytes, want %d)", name, len(got), len(want))
		}
	}
}

// ageInteropStep decrypts a sealed object with the age CLI and the identity
// keygen wrote.
func ageInteropStep(t *testing.T, b *bed, k keys) {
	age, err := exec.LookPath("age")
	if err != nil {
		t.Fatalf("the age CLI (Debian package age) is needed: %v", err)
	}
	objs := b.offsiteObjects(t, offsiteBucket)
	sealed := objs["cluster-a/safekeep/v1/backups/manual/b1/objects/b1.tar.gz.age"]
	if len(sealed) == 0 {
		t.Fatal("sealed b1.tar.gz.age not found offsite")
	}
	cmd := exec.CommandContext(t.Context(), age, "-d", "-i", k.identity)
	cmd.Stdin = bytes.NewReader(sealed)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	plain, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -d -i: %v: %s", err, stderr.String())
	}
	if !bytes.Equal(plain, b.backups["b1"]["b1.tar.gz"]) {
		t.Error("age -d of the sealed tarball does not give Velero's bytes back")
	}
}

// tamperStep seals into an unlocked bucket, damages it, and wants verify to
// fail listing the problems.
func tamperStep(t *testing.T, b *bed, k keys, bsl string) {
	target := b.writeTarget(t, "target-unlocked.yaml", plainBucket, false, k.recipient)
	b.ok(t, "seal", "--source", bsl, "--backup", "b1", "--target-file", target, "--signing-key", k.signing)
	mc := b.s3.Minio(t)
	objects := "cluster-a/safekeep/v1/backups/manual/b1/objects/"
	if err := mc.RemoveObject(t.Context(), plainBucket, objects+"b1-logs.gz.age", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	key := objects + "b1.tar.gz.age"
	data := b.offsiteObjects(t, plainBucket)[key]
	data[len(data)/2] ^= 1
	if _, err := mc.PutObject(t.Context(), plainBucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	r := b.run(t, "verify", "--target-file", target, "--backup", "manual/b1")
	checkOneLine(t, r, exitFailure, "2 problems")
	for _, want := range []string{"objects    FAIL  2 of 11 objects have problems", "b1-logs.gz: missing", "b1.tar.gz: digest"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("verify of a damaged backup lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "intact") {
		t.Errorf("verify of a damaged backup says intact:\n%s", r.out)
	}
	r = b.run(t, "restore", "--target-file", target, "--backup", "manual/b1", "-i", k.identity, "--to-dir", filepath.Join(b.dir, "bad"))
	checkOneLine(t, r, exitFailure, "restore manual/b1")
}

// interruptStep cancels a seal (as Ctrl-C does) and wants it left
// incomplete, then completed by the next run.
func interruptStep(t *testing.T, b *bed, k keys, bsl, target string) {
	b.putBackup(t, "b2", "Completed")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := b.runCtx(t, ctx, "seal", "--source", bsl, "--backup", "b2", "--target-file", target, "--signing-key", k.signing)
	checkOneLine(t, r, exitFailure, "seal manual/b2: interrupted")
	if _, ok := b.offsiteObjects(t, offsiteBucket)["cluster-a/safekeep/v1/backups/manual/b2/seal.json"]; ok {
		t.Fatal("a cancelled seal left a seal.json")
	}
	b.ok(t, "seal", "--source", bsl, "--backup", "b2", "--target-file", target, "--signing-key", k.signing)
	b.ok(t, "verify", "--target-file", target, "--backup", "manual/b2", "-i", k.identity)
}
