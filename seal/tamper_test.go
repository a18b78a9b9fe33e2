package seal_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

func TestVerifyDetectsTampering(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	_, otherIDs, _ := sealtest.NewKeys(t)
	type want struct {
		err    error            // errors.Is target of Verify's error
		kind   seal.ProblemKind // a problem of this kind ...
		object string           // ... on this object ("" when the seal itself is bad)
	}
	for i, tc := range []struct {
		name    string
		tamper  func(t *testing.T, schedule, backup string)
		ids     []crypto.Identity
		keyless want
		withID  *want // nil: same as keyless
		// resealOK: sealing again returns the existing seal, whose quick
		// check (signature, names and sizes) this tampering passes.
		resealOK bool
	}{
		{
			name: "bit flip",
			tamper: func(t *testing.T, s, bk string) {
				key := seal.ObjectKey(s, bk, bk+".tar.gz")
				data := sealtest.Get(t, b.Offsite, key)
				data[len(data)/2] ^= 0x01
				sealtest.Put(t, b.Offsite, key, data)
			},
			keyless:  want{seal.ErrObjectMismatch, seal.ProblemDigest, "tar"},
			withID:   &want{crypto.ErrCorrupt, seal.ProblemDecrypt, "tar"},
			resealOK: true,
		},
		{
			name: "truncated",
			tamper: func(t *testing.T, s, bk string) {
				key := seal.ObjectKey(s, bk, bk+"-logs.gz")
				data := sealtest.Get(t, b.Offsite, key)
				sealtest.Put(t, b.Offsite, key, data[:len(data)-1])
			},
			keyless: want{seal.ErrObjectMismatch, seal.ProblemSize, "logs"},
		},
		{
			name: "re-encrypted",
			tamper: func(t *testing.T, s, bk string) {
				// The same plaintext encrypted again: a valid age file of the
				// same size that is not the sealed one.
				plain := sealtest.Get(t, b.Source, seal.SourcePrefix(bk)+bk+"-results.gz")
				sealtest.Put(t, b.Offsite, seal.ObjectKey(s, bk, bk+"-results.gz"), encrypt(t, b, plain))
			},
			keyless:  want{seal.ErrObjectMismatch, seal.ProblemDigest, "results"},
			resealOK: true,
		},
		{
			name: "substituted",
			tamper: func(t *testing.T, s, bk string) {
				// Other content of the same size, encrypted to the right recipient.
				plain := sealtest.Get(t, b.Source, seal.SourcePrefix(bk)+"velero-backup.json")
				other := bytes.ToUpper(plain)
				sealtest.Put(t, b.Offsite, seal.ObjectKey(s, bk, "velero-backup.json"), encrypt(t, b, other))
			},
			keyless:  want{seal.ErrObjectMismatch, seal.ProblemDigest, "velero-backup.json"},
			withID:   &want{seal.ErrPlaintextMismatch, seal.ProblemPlaintext, "velero-backup.json"},
			resealOK: true,
		},
		{
			name:    "deleted",
			tamper:  func(t *testing.T, s, bk string) { del(t, b, seal.ObjectKey(s, bk, "velero-backup.json")) },
			keyless: want{seal.ErrObjectMissing, seal.ProblemMissing, "velero-backup.json"},
		},
		{
			name: "extra",
			tamper: func(t *testing.T, s, bk string) {
				sealtest.Put(t, b.Offsite, seal.ObjectKey(s, bk, "smuggled"), []byte("x"))
			},
			keyless: want{}, // named in Report.Extra, not a problem: TestExtraObjectIgnored
		},
		{
			name:    "manifest deleted",
			tamper:  func(t *testing.T, s, bk string) { del(t, b, seal.ManifestKey(s, bk)) },
			keyless: want{seal.ErrObjectMissing, seal.ProblemMissing, seal.ManifestObject},
		},
		{
			name: "seal edited",
			tamper: func(t *testing.T, s, bk string) {
				var doc map[string]any
				if err := json.Unmarshal(sealtest.Get(t, b.Offsite, seal.SealKey(s, bk)), &doc); err != nil {
					t.Fatal(err)
				}
				doc["seal"].(map[string]any)["cluster"] = "elsewhere"
				data, _ := json.Marshal(doc)
				sealtest.Put(t, b.Offsite, seal.SealKey(s, bk), data)
			},
			keyless: want{crypto.ErrBadSignature, "", ""},
		},
		{
			name:    "seal deleted",
			tamper:  func(t *testing.T, s, bk string) { del(t, b, seal.SealKey(s, bk)) },
			keyless: want{seal.ErrNotSealed, "", ""},
		},
		{
			name:    "wrong identity",
			tamper:  func(*testing.T, string, string) {},
			ids:     otherIDs,
			keyless: want{nil, "", ""},
			withID:  &want{crypto.ErrWrongIdentity, seal.ProblemDecrypt, seal.ManifestObject},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backup := "t-" + string(rune('a'+i))
			b.MustSeal(t, ctx, "nightly", backup)
			tc.tamper(t, "nightly", backup)
			ids := tc.ids
			if ids == nil {
				ids = b.Identities
			}
			check := func(label string, opts seal.VerifyOptions, w want) {
				rep, err := seal.Verify(ctx, b.Offsite, "nightly", backup, opts)
				if w.err == nil {
					if err != nil {
						t.Errorf("%s: Verify: %v", label, err)
					}
					return
				}
				if !errors.Is(err, w.err) {
					t.Fatalf("%s: Verify: %v, want %v", label, err, w.err)
				}
				if w.object == "" {
					return
				}
				found := false
				for _, p := range rep.Problems {
					found = found || (strings.Contains(p.Object, w.object) && (w.kind == "" || p.Kind == w.kind))
				}
				if !found {
					t.Errorf("%s: no %q problem on %q in %v", label, w.kind, w.object, rep.Problems)
				}
				t.Logf("%s: %v", label, err)
			}
			check("keyless", seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public())}, tc.keyless)
			withID := tc.keyless
			if tc.withID != nil {
				withID = *tc.withID
			}
			check("with identity", seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public()), Identities: ids}, withID)
			if tc.keyless.err != nil {
				// Sealing again does not paper over it.
				_, err := b.Sealer().Seal(ctx, "nightly", backup)
				if (err == nil) != tc.resealOK {
					t.Errorf("Seal of the tampered backup: %v", err)
				}
			}
		})
	}
}

func del(t *testing.T, b *sealtest.Bed, key string) {
	t.Helper()
	if err := b.Offsite.Delete(t.Context(), key); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

func encrypt(t *testing.T, b *sealtest.Bed, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := crypto.Encrypt(&buf, b.Recipients)
	if err == nil {
		_, err = w.Write(plain)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
