package faultsuite

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestComplianceSealAndAudit proves on VersityGW that what a seal and the
// audit log write under compliance-mode object lock cannot be deleted or
// overwritten before it expires, with the root credentials (which, in
// VersityGW's single-account mode, are also the controller's) asking to
// bypass governance retention: every locked version of seal.json, the
// objects, the manifest, the audit entry and its claim is refused a delete
// by version ID and keeps its bytes; on a bucket without versions an
// overwrite is refused too, and on a versioned one it only adds a version
// above the locked one, which audit.FindTampered names. The seal still
// verifies (a forged current seal.json is read through), and an
// unversioned log still reads.
func TestComplianceSealAndAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	for _, versioned := range []bool{false, true} {
		t.Run(map[bool]string{false: "unversioned", true: "versioned"}[versioned], func(t *testing.T) {
			b := sealtest.NewBed(t, true)
			if versioned {
				b = sealtest.NewVersionedBed(t)
			}
			ctx := t.Context()
			sealer := b.Sealer()
			sealer.Lock = &seal.Lock{Mode: storage.LockCompliance, RetainDays: 1}
			b.VeleroBackup(t, "c1", "Completed", 32<<10)
			if _, err := sealer.Seal(ctx, schedule, "c1"); err != nil {
				t.Fatal(err)
			}
			log := audit.New(b.Offsite, b.Signer, audit.Options{RetainDays: 1, LockMode: storage.LockCompliance})
			if _, err := log.Append(ctx, audit.Record{Actor: "test", Kind: audit.KindSeal, Subject: "ns/" + schedule + "/c1"}); err != nil {
				t.Fatal(err)
			}

			mc := b.S3.Minio(t)
			tried := 0
			for v := range mc.ListObjects(ctx, b.OffsiteBucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
				if v.Err != nil {
					t.Fatal(v.Err)
				}
				if !lockedBySeal(v.Key) {
					continue
				}
				if v.VersionID == storage.NullVersion {
					v.VersionID = "" // a server without versions refuses it by name
				}
				before := readVersion(t, mc, b.OffsiteBucket, v.Key, v.VersionID)
				err := mc.RemoveObject(ctx, b.OffsiteBucket, v.Key, minio.RemoveObjectOptions{VersionID: v.VersionID, GovernanceBypass: true})
				if err == nil {
					t.Fatalf("root deleted version %q of %s under compliance lock", v.VersionID, v.Key)
				}
				_, err = mc.PutObject(ctx, b.OffsiteBucket, v.Key, strings.NewReader("forged"), 6, minio.PutObjectOptions{SendContentMd5: true})
				if !versioned && err == nil {
					t.Fatalf("root overwrote %s under compliance lock", v.Key)
				}
				if after := readVersion(t, mc, b.OffsiteBucket, v.Key, v.VersionID); !bytes.Equal(before, after) {
					t.Fatalf("the locked bytes of %s changed", v.Key)
				}
				tried++
			}
			if tried < 6 { // seal.json, manifest, objects, entry, claim
				t.Fatalf("only %d locked objects tried", tried)
			}
			t.Logf("%d compliance-locked objects: delete by version with governance bypass refused, bytes kept", tried)
			pin := b.Signer.Public()
			if _, err := seal.Verify(ctx, b.Offsite, schedule, "c1", seal.VerifyOptions{TrustedKeys: []crypto.VerifyKey{pin}, Identities: b.Identities}); err != nil {
				t.Fatalf("the seal no longer verifies: %v", err)
			}
			if versioned { // the forged versions sit above the locked ones: named, never read as entries
				found, err := audit.FindTampered(ctx, b.Offsite)
				if err != nil || len(found) < 2 {
					t.Fatalf("the overwritten entry and claim are not found tampered: %v, %v", found, err)
				}
				return
			}
			n := 0
			for _, err := range audit.Read(ctx, b.Offsite, audit.ReadOptions{}) {
				if err != nil {
					t.Fatalf("the log no longer reads: %v", err)
				}
				n++
			}
			if n != 1 {
				t.Fatalf("the log holds %d entries, want 1", n)
			}
		})
	}
}

// lockedBySeal: the keys a seal and the audit log lock (not receipts or
// markers, which are not locked).
func lockedBySeal(key string) bool {
	return strings.Contains(key, "/objects/") || strings.HasSuffix(key, "/seal.json") || strings.HasSuffix(key, "/manifest.json.age") ||
		strings.Contains(key, "/audit/")
}

func readVersion(t *testing.T, mc *minio.Client, bucket, key, version string) []byte {
	t.Helper()
	rc, err := mc.GetObject(t.Context(), bucket, key, minio.GetObjectOptions{VersionID: version})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }() // read-only
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data
}
