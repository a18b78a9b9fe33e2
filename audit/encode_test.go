package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/canonical"
)

// fixedSigner is an ed25519 key from a fixed seed, for test vectors.
func fixedSigner(t testing.TB) crypto.SigningKey {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.ParseSigningKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vectorEntry() *Entry {
	return &Entry{
		Format: FormatV1, Seq: 2, Time: time.Date(2025, 3, 1, 2, 0, 3, 500000000, time.UTC),
		Actor: "system:serviceaccount:safekeep-system:safekeep-controller", Kind: KindRetentionDelete,
		Subject: "ns/nightly/b1", Details: json.RawMessage(`{ "schedule":"nightly", "backup":"b1", "reason":"retention <keepLast 3>" }`),
		Prev: "sha256:" + strings.Repeat("ab", 32),
	}
}

// The hash covers exactly the canonical JSON of the entry without hash and
// signature: sorted keys, no white space, no HTML escaping.
func TestSignVector(t *testing.T) {
	signer := fixedSigner(t)
	e := vectorEntry()
	data, err := Sign(e, signer)
	if err != nil {
		t.Fatal(err)
	}
	const signed = `{"actor":"system:serviceaccount:safekeep-system:safekeep-controller",` +
		`"details":{"backup":"b1","reason":"retention <keepLast 3>","schedule":"nightly"},` +
		`"format":"safekeep.dev/audit/v1","kind":"retention-delete",` +
		`"prev":"sha256:abababababababababababababababababababababababababababababababab",` +
		`"seq":2,"subject":"ns/nightly/b1","time":"2025-03-01T02:00:03.5Z"}`
	sum := sha256.Sum256([]byte(signed))
	if want := "sha256:" + hex.EncodeToString(sum[:]); e.Hash != want {
		t.Fatalf("hash %s, want %s", e.Hash, want)
	}
	if err := signer.Public().Verify([]byte(signed), e.Signature.Value); err != nil {
		t.Fatalf("signature does not cover the canonical bytes: %v", err)
	}
	if e.Signature.Alg != "ed25519" || e.Signature.KeyID != signer.Public().KeyID() {
		t.Errorf("signature %+v", e.Signature)
	}
	// The object is the canonical JSON of the whole entry.
	if again, err := canonical.JSON(data); err != nil || string(again) != string(data) {
		t.Errorf("object is not canonical JSON: %s", data)
	}
	if !strings.HasPrefix(string(data), `{"actor":`) || !strings.Contains(string(data), `"hash":"`+e.Hash+`"`) ||
		!strings.Contains(string(data), `"signature":{"alg":"ed25519","keyId":"`+e.Signature.KeyID+`","value":"`) {
		t.Errorf("object %s", data)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got.Hash != e.Hash || got.Seq != 2 || !got.Time.Equal(e.Time) || string(got.Details) != string(e.Details) {
		t.Errorf("Parse = %+v", got)
	}
}

func TestParseRejects(t *testing.T) {
	signer := fixedSigner(t)
	data, err := Sign(vectorEntry(), signer)
	if err != nil {
		t.Fatal(err)
	}
	obj := string(data)
	for _, tc := range []struct {
		name, data string
		want       error
	}{
		{"not json", "seq 2", ErrMalformed},
		{"array", "[1,2]", ErrMalformed},
		{"trailing data", obj + "{}", ErrMalformed},
		{"format", strings.Replace(obj, FormatV1, "safekeep.dev/audit/v9", 1), ErrMalformed},
		{"seq zero", strings.Replace(obj, `"seq":2`, `"seq":0`, 1), ErrMalformed},
		{"seq negative", strings.Replace(obj, `"seq":2`, `"seq":-2`, 1), ErrMalformed},
		{"case variant", strings.Replace(obj, `"seq":2`, `"seq":2,"Seq":3`, 1), ErrMalformed},
		{"no prev", strings.Replace(obj, `"prev":"sha256:`, `"prev":"x`, 1), ErrMalformed},
		{"short signature", strings.Replace(obj, `"value":"`, `"value":"AAAA`, 1), ErrMalformed},
		{"too big", `{"x":"` + strings.Repeat("a", MaxEntrySize) + `"}`, ErrMalformed},
		{"edited", strings.Replace(obj, "b1", "b2", 1), ErrChanged},
		{"field added", strings.Replace(obj, `"seq":2`, `"seq":2,"note":"x"`, 1), ErrChanged},
	} {
		if _, err := Parse([]byte(tc.data)); !errors.Is(err, tc.want) {
			t.Errorf("%s: Parse error %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestEntryKeys(t *testing.T) {
	h := "sha256:0123456789abcdef" + strings.Repeat("0", 48)
	for _, tc := range []struct {
		seq  uint64
		want string
	}{
		{1, "audit/00000000000000000/00000000000000000001-0123456789abcdef.json"},
		{42, "audit/00000000000000000/00000000000000000042-0123456789abcdef.json"},
		{1000, "audit/00000000000000000/00000000000000001000-0123456789abcdef.json"},
		{1001, "audit/00000000000000001/00000000000000001001-0123456789abcdef.json"},
		{100_000, "audit/00000000000000099/00000000000000100000-0123456789abcdef.json"},
		{1<<64 - 1, "audit/18446744073709551/18446744073709551615-0123456789abcdef.json"},
	} {
		if got := EntryKey(tc.seq, h); got != tc.want {
			t.Errorf("EntryKey(%d) = %s, want %s", tc.seq, got, tc.want)
		}
		if seq, s, ok := parseEntryKey(tc.want); !ok || seq != tc.seq || s != "0123456789abcdef" {
			t.Errorf("parseEntryKey(%s) = %d %s %v", tc.want, seq, s, ok)
		}
		if !strings.HasPrefix(tc.want, EntryPrefix(tc.seq)) {
			t.Errorf("EntryPrefix(%d) = %s", tc.seq, EntryPrefix(tc.seq))
		}
	}
	if got, want := ClaimKey(42), "audit/seq/00000000000000000042"; got != want {
		t.Errorf("ClaimKey = %s, want %s", got, want)
	}
	for _, bad := range []string{
		"audit/00000000000000000042-0123456789abcdef.json", // the unsharded layout
		"audit/00000000000000000/42-0123456789abcdef.json",
		"audit/00000000000000000/00000000000000000000-0123456789abcdef.json",
		"audit/00000000000000000/00000000000000000042-0123456789ABCDEF.json",
		"audit/00000000000000000/00000000000000000042_0123456789abcdef.json",
		"audit/00000000000000001/00000000000000000042-0123456789abcdef.json", // wrong shard
		"audit/00000000000000000/00000000000000001001-0123456789abcdef.json", // wrong shard
		"audit/0000000000000000/00000000000000000042-0123456789abcdef.json",
		"audit/00000000000000000/x/00000000000000000042-0123456789abcdef.json",
		"audit/+0000000000000000/00000000000000000042-0123456789abcdef.json",
		"audit/00000000000000000/+0000000000000000042-0123456789abcdef.json",
		"audit/x",
	} {
		if _, _, ok := parseEntryKey(bad); ok {
			t.Errorf("parseEntryKey(%s) accepted", bad)
		}
	}
	for _, tc := range []struct {
		dir  string
		n    uint64
		okay bool
	}{
		{"audit/00000000000000000/", 0, true},
		{"audit/00000000000000099/", 99, true},
		{"audit/18446744073709551/", 18446744073709551, true},
		{"audit/18446744073709552/", 0, false},
		{"audit/0000000000000099/", 0, false},
		{"audit/segments/", 0, false},
		{"audit/seq/", 0, false},
		{"audit/+0000000000000099/", 0, false},
	} {
		if n, ok := parseShardDir(tc.dir); ok != tc.okay || n != tc.n && ok {
			t.Errorf("parseShardDir(%s) = %d %v", tc.dir, n, ok)
		}
	}
	if seq, ok := parseClaimKey(ClaimKey(7)); !ok || seq != 7 {
		t.Errorf("parseClaimKey = %d %v", seq, ok)
	}
}

// parseEntryKey accepts exactly the names EntryKey makes.
func FuzzEntryKey(f *testing.F) {
	f.Add("audit/00000000000000000/00000000000000000042-0123456789abcdef.json")
	f.Add("audit/00000000000000001/00000000000000000042-0123456789abcdef.json")
	f.Fuzz(func(t *testing.T, key string) {
		seq, s, ok := parseEntryKey(key)
		if ok && EntryKey(seq, s) != key {
			t.Errorf("parseEntryKey(%q) = %d %s, but EntryKey gives %s", key, seq, s, EntryKey(seq, s))
		}
	})
}

func FuzzParse(f *testing.F) {
	signer := fixedSigner(f)
	data, err := Sign(vectorEntry(), signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"safekeep.dev/audit/v1","seq":1}`))
	f.Add([]byte(strings.Replace(string(data), `"seq":2`, `"Seq":2`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrChanged) {
				t.Fatalf("Parse error wraps no sentinel: %v", err)
			}
			return
		}
		// What parses is well formed, and its canonical form parses the same.
		if err := e.check(); err != nil {
			t.Fatalf("Parse accepted an entry that fails its check: %v", err)
		}
		c, err := canonical.JSON(data)
		if err != nil {
			t.Fatalf("canonical: %v", err)
		}
		e2, err := Parse(c)
		if err != nil || e2.Hash != e.Hash || e2.Seq != e.Seq {
			t.Fatalf("canonical form parses differently: %v", err)
		}
	})
}
