package seal

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

func sampleDoc() Document {
	start := time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	done := start.Add(time.Minute)
	return Document{
		Format: FormatSealV1, Schedule: "nightly", Backup: "nightly-1", Cluster: "cluster-a",
		SealedAt: time.Date(2025, 3, 1, 2, 5, 0, 0, time.UTC),
		Velero:   &VeleroInfo{Phase: "Completed", StartTimestamp: &start, CompletionTimestamp: &done, TotalItems: 3, ItemsBackedUp: 3},
		Objects: []Object{
			{Name: "nightly-1.tar.gz", Size: 300, SHA256: strings.Repeat("a", 64)},
			{Name: "velero-backup.json", Size: 200, SHA256: strings.Repeat("b", 64)},
		},
		Manifest:   Blob{Size: 250, SHA256: strings.Repeat("c", 64)},
		Recipients: []string{"sha256:" + strings.Repeat("1", 32), "sha256:" + strings.Repeat("2", 32)},
		Lock:       &LockInfo{Mode: storage.LockGovernance, RetainUntil: time.Date(2025, 3, 31, 2, 5, 0, 0, time.UTC)},
	}
}

func signingKey(t testing.TB) crypto.SigningKey {
	t.Helper()
	k, err := crypto.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealRoundTrip(t *testing.T) {
	key := signingKey(t)
	raw, err := MarshalSeal(sampleDoc(), key)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := ParseSeal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := sl.VerifySignature(key.Public()); err != nil {
		t.Fatalf("VerifySignature: %v", err)
	}
	want, _ := json.Marshal(sampleDoc())
	got, _ := json.Marshal(sl.Document)
	if !bytes.Equal(got, want) {
		t.Errorf("round trip changed the document:\n got %s\nwant %s", got, want)
	}
	if sl.CiphertextBytes() != 500 || !strings.HasPrefix(sl.Digest(), "sha256:") {
		t.Errorf("CiphertextBytes %d, Digest %s", sl.CiphertextBytes(), sl.Digest())
	}
	// Deterministic: the same document and key give the same bytes.
	again, _ := MarshalSeal(sampleDoc(), key)
	if !bytes.Equal(raw, again) {
		t.Error("MarshalSeal is not deterministic")
	}
	if err := sl.VerifySignature(signingKey(t).Public()); !errors.Is(err, ErrBadSeal) {
		t.Errorf("another key: %v, want ErrBadSeal", err)
	}
}

// A seal re-encoded (white space, key order) still verifies: the signature
// covers the canonical form; any change of content does not.
func TestSealSignatureCoversContent(t *testing.T) {
	key := signingKey(t)
	raw, err := MarshalSeal(sampleDoc(), key)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(generic)
	if sl, err := ParseSeal(compact); err != nil || sl.VerifySignature(key.Public()) != nil {
		t.Fatalf("re-encoded seal does not verify: %v", err)
	}
	edits := map[string]func(m map[string]any){
		"backup":         func(m map[string]any) { m["backup"] = "nightly-2" },
		"object digest":  func(m map[string]any) { m["objects"].([]any)[0].(map[string]any)["sha256"] = strings.Repeat("d", 64) },
		"object size":    func(m map[string]any) { m["objects"].([]any)[1].(map[string]any)["size"] = 201 },
		"new field":      func(m map[string]any) { m["futureField"] = "x" },
		"drop lock":      func(m map[string]any) { delete(m, "lock") },
		"drop a cluster": func(m map[string]any) { delete(m, "cluster") },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			edit(m["seal"].(map[string]any))
			data, _ := json.Marshal(m)
			sl, err := ParseSeal(data)
			if err != nil {
				t.Fatalf("edited seal does not parse: %v", err)
			}
			if err := sl.VerifySignature(key.Public()); !errors.Is(err, ErrBadSeal) || !errors.Is(err, crypto.ErrBadSignature) {
				t.Errorf("edited seal: %v, want a bad signature", err)
			}
		})
	}
}

func TestParseSealErrors(t *testing.T) {
	key := signingKey(t)
	good, err := MarshalSeal(sampleDoc(), key)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(top, seal map[string]any)) string {
		var top map[string]any
		_ = json.Unmarshal(good, &top)
		f(top, top["seal"].(map[string]any))
		data, _ := json.Marshal(top)
		return string(data)
	}
	for _, tc := range []struct{ name, data, want string }{
		{"empty", ``, "not valid JSON"},
		{"array", `[]`, "not valid JSON"},
		{"trailing", string(good) + "{}", "after the value"},
		{"unsigned field", edit(func(top, _ map[string]any) { top["note"] = "x" }), "unknown field"},
		{"no signature", edit(func(top, _ map[string]any) { delete(top, "signature") }), `missing "signature"`},
		{"no seal", edit(func(top, _ map[string]any) { delete(top, "seal") }), `missing "seal"`},
		{"other alg", edit(func(top, _ map[string]any) { top["signature"].(map[string]any)["alg"] = "rsa" }), "unknown algorithm"},
		{"short sig", edit(func(top, _ map[string]any) { top["signature"].(map[string]any)["value"] = "AAAA" }), "want 64"},
		{"future format", edit(func(_, s map[string]any) { s["format"] = "safekeep.dev/seal/v2" }), `unknown format "safekeep.dev/seal/v2"`},
		{"no format", edit(func(_, s map[string]any) { delete(s, "format") }), `missing "format"`},
		{"no objects", edit(func(_, s map[string]any) { delete(s, "objects") }), `missing "objects"`},
		{"no recipients", edit(func(_, s map[string]any) { s["recipients"] = []any{} }), `missing "recipients"`},
		{"no sealedAt", edit(func(_, s map[string]any) { delete(s, "sealedAt") }), `missing "sealedAt"`},
		{"bad schedule", edit(func(_, s map[string]any) { s["schedule"] = "../x" }), `invalid schedule name "../x"`},
		{"bad object", edit(func(_, s map[string]any) { s["objects"].([]any)[0].(map[string]any)["name"] = "../x" }), `invalid object name "../x"`},
		{"bad digest", edit(func(_, s map[string]any) { s["objects"].([]any)[0].(map[string]any)["sha256"] = "XY" }), "bad sha256"},
		{"unsorted", edit(func(_, s map[string]any) {
			o := s["objects"].([]any)
			o[0], o[1] = o[1], o[0]
		}), "not sorted"},
		{"bad lock", edit(func(_, s map[string]any) { s["lock"].(map[string]any)["mode"] = "forever" }), "unknown mode"},
		{"no manifest", edit(func(_, s map[string]any) { delete(s, "manifest") }), "manifest: bad sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSeal([]byte(tc.data))
			if !errors.Is(err, ErrBadSeal) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseSeal: %v, want ErrBadSeal mentioning %q", err, tc.want)
			}
		})
	}
}

func TestMarshalSealRefusesInvalid(t *testing.T) {
	doc := sampleDoc()
	doc.Objects = nil
	if _, err := MarshalSeal(doc, signingKey(t)); err == nil {
		t.Error("MarshalSeal accepted a seal without objects")
	}
}

func sampleManifest() *Manifest {
	return &Manifest{
		Format: FormatManifestV1, Schedule: "nightly", Backup: "nightly-1",
		Objects: []Object{
			{Name: "nightly-1.tar.gz", Size: 100, SHA256: strings.Repeat("e", 64)},
			{Name: "velero-backup.json", Size: 0, SHA256: strings.Repeat("f", 64)},
		},
		Resources: map[string][]string{"v1/Secret": {"app/db"}, "v1/ConfigMap": {"app/cfg", "app/cfg2"}, "v1/Namespace": {"app"}},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	data, err := sampleManifest().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // map order must not leak into the bytes
		again, _ := sampleManifest().Marshal()
		if !bytes.Equal(data, again) {
			t.Fatal("Manifest.Marshal is not deterministic")
		}
	}
	m, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := m.Marshal()
	if !bytes.Equal(data, again) {
		t.Errorf("round trip changed the manifest:\n%s\n%s", data, again)
	}
	if o, ok := m.Object("velero-backup.json"); !ok || o.Size != 0 {
		t.Errorf("Object = %v, %v", o, ok)
	}
}

func TestParseManifestErrors(t *testing.T) {
	good, _ := sampleManifest().Marshal()
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		_ = json.Unmarshal(good, &m)
		f(m)
		data, _ := json.Marshal(m)
		return string(data)
	}
	for _, tc := range []struct{ name, data, want string }{
		{"empty", ``, "not JSON"},
		{"future", edit(func(m map[string]any) { m["format"] = "safekeep.dev/manifest/v9" }), "unknown format"},
		{"no format", edit(func(m map[string]any) { delete(m, "format") }), `missing "format"`},
		{"no objects", edit(func(m map[string]any) { delete(m, "objects") }), `missing "objects"`},
		{"no backup", edit(func(m map[string]any) { delete(m, "backup") }), "invalid backup name"},
		{"negative", edit(func(m map[string]any) { m["objects"].([]any)[0].(map[string]any)["size"] = -1 }), "negative size"},
		{"null items", edit(func(m map[string]any) { m["resources"].(map[string]any)["v1/Secret"] = nil }), "null item list"},
		{"wrong type", edit(func(m map[string]any) { m["resources"] = "x" }), "manifest:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tc.data))
			if !errors.Is(err, ErrBadManifest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseManifest: %v, want ErrBadManifest mentioning %q", err, tc.want)
			}
		})
	}
	// Unknown fields are allowed (a newer writer may add some).
	if _, err := ParseManifest([]byte(edit(func(m map[string]any) { m["extra"] = 1 }))); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

func TestParseVeleroBackup(t *testing.T) {
	doc := func(name, phase string) []byte {
		return []byte(`{"apiVersion":"velero.io/v1","kind":"Backup","metadata":{"name":"` + name + `","namespace":"velero"},
		"spec":{"includedNamespaces":["phi-app"]},
		"status":{"phase":"` + phase + `","startTimestamp":"2025-03-01T02:00:00Z","completionTimestamp":"2025-03-01T02:01:00Z",
		"progress":{"totalItems":7,"itemsBackedUp":7},"warnings":1,"formatVersion":"1.1.0"}}`)
	}
	info, err := parseVeleroBackup(doc("b1", "Completed"), "b1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Phase != "Completed" || info.TotalItems != 7 || info.Warnings != 1 || info.CompletionTimestamp == nil ||
		!info.CompletionTimestamp.Equal(time.Date(2025, 3, 1, 2, 1, 0, 0, time.UTC)) {
		t.Errorf("info = %+v", info)
	}
	out, _ := json.Marshal(info)
	if strings.Contains(string(out), "phi-app") {
		t.Errorf("seal info leaks a namespace: %s", out)
	}
	for _, tc := range []struct {
		data   []byte
		want   error
		substr string
	}{
		{doc("b1", "PartiallyFailed"), ErrNotCompleted, "phase PartiallyFailed"},
		{doc("b1", "InProgress"), ErrNotCompleted, "phase InProgress"},
		{doc("b1", ""), ErrNotCompleted, "phase unset"},
		{doc("b2", "Completed"), ErrNotVeleroBackup, `names backup "b2"`},
		{[]byte(`{`), ErrNotVeleroBackup, VeleroBackupJSON},
		{[]byte(`{"kind":"Restore"}`), ErrNotVeleroBackup, `"Restore"`},
	} {
		_, err := parseVeleroBackup(tc.data, "b1")
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("parseVeleroBackup: %v, want %v mentioning %q", err, tc.want, tc.substr)
		}
	}
}

// TestSealDigestCanonical: the digest is taken over the seal's canonical
// bytes, so seal.json re-encoded (white space, key order, escapes) keeps
// its digest, and a change of content, even one that still parses, does
// not.
func TestSealDigestCanonical(t *testing.T) {
	key := signingKey(t)
	raw, err := MarshalSeal(sampleDoc(), key)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := ParseSeal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	compact, err := json.Marshal(generic) // keys sorted, no white space
	if err != nil {
		t.Fatal(err)
	}
	// Keys in reverse order, other white space, an escaped letter.
	reordered := strings.Replace(string(compact), `{"seal":`, "{ \"signature\" : "+mustJSON(t, generic["signature"])+" ,\n\t\"seal\":", 1)
	reordered = strings.Replace(reordered, `,"signature":`+mustJSON(t, generic["signature"]), "", 1)
	reordered = strings.Replace(reordered, `"nightly"`, `"night\u006cy"`, 1)
	for name, data := range map[string][]byte{"compact": compact, "reordered": []byte(reordered)} {
		sl, err := ParseSeal(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if bytes.Equal(data, raw) {
			t.Fatalf("%s: not re-encoded", name)
		}
		if sl.Digest() != orig.Digest() {
			t.Errorf("%s: digest %s, want %s (the same seal)", name, sl.Digest(), orig.Digest())
		}
		if sl.StoredDigest() == orig.StoredDigest() {
			t.Errorf("%s: stored digest unchanged by re-encoding", name)
		}
	}
	changed := sampleDoc()
	changed.Objects[0].Size++
	raw2, err := MarshalSeal(changed, key)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ParseSeal(raw2)
	if err != nil {
		t.Fatal(err)
	}
	if other.Digest() == orig.Digest() {
		t.Errorf("changed content, same digest %s", other.Digest())
	}
	// Another signature over the same document is another seal.
	resigned, err := MarshalSeal(sampleDoc(), signingKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if sl, err := ParseSeal(resigned); err != nil || sl.Digest() == orig.Digest() {
		t.Errorf("another key's seal: digest %v, err %v", sl, err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
