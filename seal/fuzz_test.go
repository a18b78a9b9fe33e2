package seal

import (
	"bytes"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseSeal(f *testing.F) {
	key := signingKey(f)
	good, err := MarshalSeal(sampleDoc(), key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"seal":{},"signature":{}}`))
	f.Add([]byte(`{"seal":{"format":"safekeep.dev/seal/v1"},"signature":{"alg":"ed25519"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sl, err := ParseSeal(data)
		if err != nil {
			return
		}
		// Whatever parses is valid and re-signs into a seal that parses to
		// the same document.
		if err := sl.validate(); err != nil {
			t.Fatalf("parsed an invalid document: %v", err)
		}
		again, err := MarshalSeal(sl.Document, key)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		sl2, err := ParseSeal(again)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if err := sl2.VerifySignature(key.Public()); err != nil {
			t.Fatalf("re-signed seal does not verify: %v", err)
		}
		_ = sl.VerifySignature(key.Public()) // must not panic
	})
}

func FuzzParseManifest(f *testing.F) {
	good, err := sampleManifest().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"format":"safekeep.dev/manifest/v1"}`))
	f.Add([]byte(`{"format":"safekeep.dev/manifest/v1","schedule":"a","backup":"b","objects":[{"name":"x","size":0,"sha256":""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("parsed manifest does not marshal: %v", err)
		}
		m2, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		out2, _ := m2.Marshal()
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}

func FuzzValidateObjectName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "a/./b", "", "a\\b", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateObjectName(name) != nil {
			return
		}
		if !filepath.IsLocal(name) || path.Clean(name) != name || strings.Contains(name, "//") ||
			strings.Contains("/"+name+"/", "/../") || strings.ContainsAny(name, "\\\x00") {
			t.Fatalf("accepted unsafe name %q", name)
		}
	})
}
