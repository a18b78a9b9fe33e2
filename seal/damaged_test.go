package seal_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestDamagedAtRest changes the bytes of sealed objects under VersityGW's
// posix backend, so that a GET fails the checksum stored with them. Each is
// a finding about that object, named; seal.json, intact, is not blamed; and
// every damaged object is reported, not only the first.
func TestDamagedAtRest(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	const schedule, backup = "nightly", "b1"
	b.MustSeal(t, ctx, schedule, backup)
	tarball, logs := backup+".tar.gz", backup+"-logs.gz"
	b.Damage(t, seal.ObjectKey(schedule, backup, tarball))
	b.Damage(t, seal.ObjectKey(schedule, backup, logs))
	pin := seal.VerifyOptions{VerifyKey: new(b.Signer.Public())}

	for _, tc := range []struct {
		name string
		opts seal.VerifyOptions
	}{
		{"key-less", pin},
		{"with identity", seal.VerifyOptions{VerifyKey: pin.VerifyKey, Identities: b.Identities}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := seal.Verify(ctx, b.Offsite, schedule, backup, tc.opts)
			var verr *seal.VerifyError
			if !errors.As(err, &verr) {
				t.Fatalf("Verify: %v, want a *VerifyError naming the damaged objects", err)
			}
			if rep.Seal == nil {
				t.Fatal("the intact seal.json was not read")
			}
			damaged := map[string]bool{}
			for _, p := range rep.Problems {
				if p.Kind != seal.ProblemDamaged || !errors.Is(p.Err, seal.ErrObjectMismatch) || !errors.Is(p.Err, storage.ErrCorrupt) {
					t.Errorf("problem %v, want only damaged objects", p)
				}
				if !strings.Contains(p.Err.Error(), p.Object) {
					t.Errorf("problem %v does not name the object's key", p)
				}
				damaged[p.Object] = true
			}
			if !damaged[tarball] || !damaged[logs] || len(damaged) != 2 {
				t.Fatalf("damaged objects %v, want %s and %s", damaged, tarball, logs)
			}
			if strings.Contains(err.Error(), "seal.json") {
				t.Fatalf("error %q blames seal.json", err)
			}
		})
	}

	t.Run("open and read", func(t *testing.T) {
		o, err := seal.Open(ctx, b.Offsite, schedule, backup, seal.VerifyOptions{VerifyKey: pin.VerifyKey, Identities: b.Identities})
		if err != nil {
			t.Fatalf("Open (the seal and the manifest are intact): %v", err)
		}
		var buf bytes.Buffer
		_, err = o.ReadObject(ctx, tarball, &buf, nil)
		if !errors.Is(err, seal.ErrObjectMismatch) || !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), tarball) {
			t.Fatalf("ReadObject of the damaged tarball: %v, want a mismatch naming it", err)
		}
		if !seal.IsRetryable(err) {
			t.Fatal("a checksum failure is not retryable: damage in transit would be called damage at rest")
		}
		buf.Reset()
		if _, err := o.ReadObject(ctx, "velero-backup.json", &buf, nil); err != nil {
			t.Fatalf("ReadObject of an intact object: %v", err)
		}
	})

	t.Run("seal.json", func(t *testing.T) {
		b.Damage(t, seal.SealKey(schedule, backup))
		_, err := seal.Verify(ctx, b.Offsite, schedule, backup, pin)
		if !errors.Is(err, seal.ErrBadSeal) || !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), "seal.json") {
			t.Fatalf("Verify with seal.json damaged: %v, want ErrBadSeal naming seal.json", err)
		}
	})
}
