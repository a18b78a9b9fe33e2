package restore_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/restore"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestToDirNamesEveryDamagedObject damages two objects at rest under
// VersityGW: the restore fails naming both (not only the first, and not
// seal.json) and writes nothing.
func TestToDirNamesEveryDamagedObject(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.MustSeal(t, ctx, "nightly", "n-1")
	damaged := []string{"n-1.tar.gz", "n-1-logs.gz"}
	for _, name := range damaged {
		b.Damage(t, seal.ObjectKey("nightly", "n-1", name))
	}
	dir := filepath.Join(t.TempDir(), "restore")
	_, err := restore.ToDir(ctx, b.Offsite, "nightly", "n-1", b.Identities, dir, restore.Options{TrustedKeys: []crypto.VerifyKey{b.Signer.Public()}})
	if !errors.Is(err, seal.ErrObjectMismatch) || !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("ToDir: %v, want the damaged objects named", err)
	}
	for _, name := range damaged {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "seal.json") {
		t.Errorf("error %q blames seal.json", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("a failed restore left %v", got)
	}
}
