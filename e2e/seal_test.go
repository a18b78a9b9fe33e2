package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
)

const (
	sealNamespace = "phi-app"
	sealBackup    = "nightly-1" // the Velero backup
	sealSchedule  = "nightly"
	offsiteBucket = "offsite"
	offsitePrefix = "cluster-a"
	// offsiteRoot is where Safekeep writes inside the offsite bucket.
	offsiteRoot = offsitePrefix + "/safekeep/v1/"
	// sealedBackup is the offsite folder of the sealed backup.
	sealedBackup = offsiteRoot + "backups/" + sealSchedule + "/" + sealBackup + "/"
)

// testSeal: Velero backs up a namespace (sample.PHIApp: ConfigMap, Secret
// holding a random marker, Deployment, Service, PVC); the CLI
// seals it into an object-locked bucket; the real age CLI opens every sealed
// object to Velero's exact bytes; no offsite byte shows the marker; verify,
// backups and restore --to-dir work from the bucket alone; sealing again
// changes nothing; sealed objects cannot be deleted.
func testSeal(t *testing.T, b *bed) {
	ctx := t.Context()
	marker := "PHI-MARKER-" + randomHex(t, 16)
	createWorkload(t, b.cp.Client, sealNamespace, marker)

	backup := b.velero.Backup(t, ctx, sealBackup, velerov1.BackupSpec{IncludedNamespaces: []string{sealNamespace}})
	if backup.Status.Phase != velerov1.BackupPhaseCompleted {
		t.Fatalf("Velero backup phase = %s (%s, validation errors %v), want Completed",
			backup.Status.Phase, backup.Status.FailureReason, backup.Status.ValidationErrors)
	}
	mc := b.s3.Minio(t)
	primary := map[string][]byte{} // Velero object name -> bytes
	for key, body := range readObjects(t, mc, veleroBucket, "backups/"+sealBackup+"/") {
		primary[strings.TrimPrefix(key, "backups/"+sealBackup+"/")] = body
	}
	tarball := primary[sealBackup+".tar.gz"]
	if tarball == nil {
		t.Fatalf("Velero wrote no %s.tar.gz; objects: %v", sealBackup, slices.Sorted(maps.Keys(primary)))
	}
	// The scan below can only pass for the right reason if it finds the
	// marker in Velero's plaintext.
	if !containsMarker(tarball, marker, 3) {
		t.Fatalf("the marker scan does not find the marker in Velero's own %s.tar.gz", sealBackup)
	}

	b.s3.CreateBucket(t, offsiteBucket, true)
	kit := newSealKit(t, b, offsiteBucket, offsitePrefix)
	sk, identity, signingKey, bsl, target := kit.sk, kit.identity, kit.signingKey, kit.bsl, kit.target
	sealArgs := []string{"seal", "--source", bsl, "--backup", sealBackup, "--target-file", target,
		"--schedule", sealSchedule, "--signing-key", signingKey}
	sk.ok(t, sealArgs...)
	offsite := readObjects(t, mc, offsiteBucket, "")
	ref := sealSchedule + "/" + sealBackup

	t.Run("age CLI decrypts every sealed object to Velero's bytes", func(t *testing.T) {
		for name, want := range primary {
			key := sealedBackup + "objects/" + name + ".age"
			sealed, ok := offsite[key]
			if !ok {
				t.Errorf("no sealed copy of %s at %s", name, key)
				continue
			}
			got, err := ageDecrypt(t, identity, sealed)
			if err != nil {
				t.Errorf("age -d %s: %v", key, err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("age -d %s: %d bytes differing from Velero's %d", key, len(got), len(want))
			}
		}
		for key := range offsite {
			name, ok := strings.CutPrefix(key, sealedBackup+"objects/")
			if ok && primary[strings.TrimSuffix(name, ".age")] == nil {
				t.Errorf("sealed object %s has no Velero counterpart", key)
			}
		}
	})

	t.Run("no offsite object shows the marker", func(t *testing.T) {
		if len(offsite) < len(primary)+2 {
			t.Fatalf("offsite bucket holds %d objects, want at least %d", len(offsite), len(primary)+2)
		}
		for key, body := range offsite {
			if containsMarker(body, marker, 3) {
				t.Errorf("offsite object %s shows the Secret's plaintext marker", key)
			}
		}
	})

	t.Run("seal.json is plaintext JSON and the manifest opens with age", func(t *testing.T) {
		var doc map[string]any
		if err := json.Unmarshal(offsite[sealedBackup+"seal.json"], &doc); err != nil {
			t.Errorf("seal.json: %v", err)
		}
		manifest, err := ageDecrypt(t, identity, offsite[sealedBackup+"manifest.json.age"])
		if err != nil {
			t.Fatalf("age -d manifest.json.age: %v", err)
		}
		if !json.Valid(manifest) {
			t.Errorf("manifest.json.age does not decrypt to JSON")
		}
	})

	t.Run("verify", func(t *testing.T) {
		sk.ok(t, "verify", "--target-file", target, "--backup", ref)
		sk.ok(t, "verify", "--target-file", target, "--backup", ref, "--identity", identity)
		other := filepath.Join(t.TempDir(), "other.txt")
		sk.ok(t, "keygen", "-o", other)
		_, stderr, err := sk.run(t, "verify", "--target-file", target, "--backup", ref, "--identity", other)
		if err == nil || strings.TrimSpace(stderr) == "" {
			t.Errorf("verify with an identity that is no recipient: err %v, stderr %q; want a failure that says why", err, stderr)
		}
	})

	t.Run("backups lists it", func(t *testing.T) {
		var list []struct {
			Schedule   string `json:"schedule"`
			Backup     string `json:"backup"`
			Restorable bool   `json:"restorable"`
		}
		out := sk.ok(t, "backups", "--target-file", target, "-o", "json")
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("backups -o json: %v\n%s", err, out)
		}
		if len(list) != 1 || list[0].Schedule != sealSchedule || list[0].Backup != sealBackup || !list[0].Restorable {
			t.Errorf("backups -o json = %+v, want one restorable %s", list, ref)
		}
		if table := sk.ok(t, "backups", "--target-file", target); !regexp.MustCompile(`(?m)^` + sealSchedule + `\s+` + sealBackup + `\s`).MatchString(table) {
			t.Errorf("backups table lacks %s:\n%s", ref, table)
		}
	})

	t.Run("restore --to-dir writes Velero's files byte for byte", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "restored")
		sk.ok(t, "restore", "--target-file", target, "--backup", ref, "--identity", identity, "--to-dir", out)
		for name, want := range primary {
			got, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Errorf("restored file: %v", err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("restored %s: %d bytes differing from Velero's %d", name, len(got), len(want))
			}
		}
	})

	t.Run("sealing again changes nothing", func(t *testing.T) {
		before := listETags(t, mc, offsiteBucket, "")
		sk.ok(t, sealArgs...)
		if after := listETags(t, mc, offsiteBucket, ""); !maps.Equal(before, after) {
			t.Errorf("a second seal changed the offsite bucket:\nbefore %v\nafter  %v", before, after)
		}
	})

	// Last: if the lock were missing, this would delete a sealed object.
	t.Run("object lock refuses deleting a sealed object", func(t *testing.T) {
		for _, key := range []string{sealedBackup + "objects/" + sealBackup + ".tar.gz.age", sealedBackup + "seal.json"} {
			if err := mc.RemoveObject(ctx, offsiteBucket, key, minio.RemoveObjectOptions{}); err == nil {
				t.Errorf("deleting %s succeeded; want it refused by object lock", key)
			}
			if _, err := mc.StatObject(ctx, offsiteBucket, key, minio.StatObjectOptions{}); err != nil {
				t.Errorf("%s after the delete attempt: %v", key, err)
			}
		}
	})
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// sealKit is what the CLI needs to seal Velero's backups to an offsite
// bucket: a CLI, an age identity (the target's one recipient), a signing
// key (its public key pinned in the target), the BSL and target files.
type sealKit struct {
	sk                                *cli
	identity, signingKey, bsl, target string
}

// newSealKit makes keys and writes the files for sealing b's Velero backups
// to an object-locked (Governance, 1 day) bucket under prefix.
func newSealKit(t *testing.T, b *bed, bucket, prefix string) *sealKit {
	t.Helper()
	dir := t.TempDir()
	sk := newCLI(t, b.s3)
	identity := filepath.Join(dir, "identity.txt")
	recipient := regexp.MustCompile(`age1[0-9a-z]+`).FindString(sk.ok(t, "keygen", "-o", identity))
	if recipient == "" {
		t.Fatal("keygen printed no age1... recipient")
	}
	signingKey := filepath.Join(dir, "signing.key")
	verifyKey := strings.TrimSpace(sk.ok(t, "keygen", "--signing", "-o", signingKey))
	bsl := writeFile(t, dir, "bsl.yaml", fmt.Sprintf(`apiVersion: velero.io/v1
kind: BackupStorageLocation
metadata:
  name: default
  namespace: velero
spec:
  provider: aws
  objectStorage:
    bucket: %s
  config:
    region: us-east-1
    s3ForcePathStyle: "true"
    s3Url: %s
`, veleroBucket, b.s3.Endpoint))
	target := targetManifest{endpoint: b.s3.Endpoint, bucket: bucket, prefix: prefix, recipients: []string{recipient},
		locked: true, signingPublicKey: verifyKey}.write(t, dir)

	return &sealKit{sk: sk, identity: identity, signingKey: signingKey, bsl: bsl, target: target}
}
