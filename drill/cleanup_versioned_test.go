package drill

import (
	"bytes"
	"testing"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestCleanupVersionedStaging: on a versioned staging bucket a plain
// delete keeps the plaintext as a version under a marker. The staged copy
// has two versions of one object (a retried upload) and a delete marker
// over another (Velero's own delete); cleanup leaves no version and no
// marker of any of them.
func TestCleanupVersionedStaging(t *testing.T) {
	s3 := testbed.StartS3(t, testbed.S3Versioned())
	s3.CreateBucket(t, "staging", true) // object lock: versioned, as on AWS
	st := sealtest.OpenStore(t, s3.Config("staging", ""))
	ctx := t.Context()
	prefix := "backups/drill-x-1/"
	keys := []string{prefix + "velero-backup.json", prefix + "drill-x-1.tar.gz", prefix + "drill-x-1-logs.gz"}
	for _, key := range keys {
		sealtest.Put(t, st, key, []byte("PHI plaintext of "+key))
	}
	sealtest.Put(t, st, keys[1], bytes.Repeat([]byte("again"), 10))
	if err := st.Delete(ctx, keys[2]); err != nil {
		t.Fatal(err)
	}
	if n := len(sealtest.Versions(t, st, keys[1])); n != 2 {
		t.Fatalf("%s has %d versions, want 2 (is the bucket versioned?)", keys[1], n)
	}
	if err := deletePrefix(ctx, st, prefix, keys[0]); err != nil {
		t.Fatal(err)
	}
	var left []storage.Version
	for v, err := range st.ListVersions(ctx, prefix) {
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, v)
	}
	if len(left) != 0 {
		t.Errorf("cleanup left %d versions or markers of the staged plaintext: %+v", len(left), left)
	}
}
