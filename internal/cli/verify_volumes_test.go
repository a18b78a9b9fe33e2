package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// TestVerifyCountsVolumeBlobs: verify, with and without a key, says how
// many sealed volume blobs it checked, and which failed (VersityGW, a
// repository written by kopia's own uploader).
func TestVerifyCountsVolumeBlobs(t *testing.T) {
	b := newBed(t)
	k := keygenStep(t, b)
	b.putBackup(t, "b1", "Completed")
	bsl := b.writeBSL(t)
	b.pin = k.verifyKey
	target := b.writeTarget(t, "target.yaml", plainBucket, false, k.recipient)
	velero := sealtest.OpenStore(t, storage.Config{Endpoint: b.s3.Endpoint, Bucket: veleroBucket, Prefix: veleroPrefix, PathStyle: true,
		Credentials: storage.Credentials{AccessKeyID: b.s3.AccessKey, SecretAccessKey: b.s3.SecretKey}})
	dir := t.TempDir()
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("record-%d.json", i)), []byte(marker+strings.Repeat("x", i*1000)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := volumetest.NewRepo(t, volumetest.Password)
	id := r.Snapshot(t, dir)
	r.CopyTo(t, velero, "phi-app")
	volumetest.WriteBackup(t, velero, "b1", "default", []volumetest.PodVolume{
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", SnapshotID: id}})
	password := b.write(t, "repository-password", volumetest.Password)
	b.ok(t, "seal", "--source", bsl, "--backup", "b1", "--target-file", target, "--signing-key", k.signing, "--repository-password-file", password)
	var blobs []string
	for key := range b.offsiteObjects(t, plainBucket) {
		if strings.Contains(key, "/volumes/") && strings.Contains(key, "/blobs/") {
			blobs = append(blobs, key)
		}
	}
	if len(blobs) < 4 {
		t.Fatalf("the seal wrote %d volume blobs, want kopia's identity, index and pack blobs", len(blobs))
	}
	checked := fmt.Sprintf("volumes    ok    %d volume blobs checked, ", len(blobs))

	out := b.ok(t, "verify", "--target-file", target, "--backup", "manual/b1")
	if !strings.Contains(out, checked) || strings.Contains(out, "decrypted, they match") {
		t.Errorf("key-less verify says:\n%s\nwant %q, without decrypting", out, checked)
	}
	out = b.ok(t, "verify", "--target-file", target, "--backup", "manual/b1", "--identity", k.identity)
	if !strings.Contains(out, checked) || !strings.Contains(out, "decrypted, they match the manifest") {
		t.Errorf("verify --identity says:\n%s\nwant %q and the plaintext matching the manifest", out, checked)
	}

	if err := b.s3.Minio(t).RemoveObject(t.Context(), plainBucket, blobs[0], minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	res := b.run(t, "verify", "--target-file", target, "--backup", "manual/b1")
	want := fmt.Sprintf("volumes    FAIL  1 of %d volume blobs have problems; %d checked out", len(blobs), len(blobs)-1)
	if res.code == 0 || !strings.Contains(res.out, want) {
		t.Errorf("verify with a volume blob deleted: exit %d, says:\n%s\nwant %q", res.code, res.out, want)
	}
}
