package seal

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"nightly", true},
		{"nightly-20250101020304", true},
		{"a.b-c", true},
		{"manual", true},
		{"", false},
		{"Nightly", false},
		{"a/b", false},
		{"..", false},
		{"a..b", false},
		{"-a", false},
		{"a_b", false},
		{strings.Repeat("a", 254), false},
	} {
		err := ValidateName("backup", tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "backup") {
			t.Errorf("error %q does not say what was named", err)
		}
	}
}

func TestValidateObjectName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"velero-backup.json", true},
		{"b-resource-list.json.gz", true},
		{"sub/dir/file", true},
		{"", false},
		{"/abs", false},
		{"a//b", false},
		{"a/", false},
		{"..", false},
		{"../x", false},
		{"a/../b", false},
		{"./a", false},
		{"a\\b", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"\xff", false},
		{strings.Repeat("a", 600), false},
	} {
		if err := ValidateObjectName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateObjectName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{ObjectKey("s", "b", "b.tar.gz"), "backups/s/b/objects/b.tar.gz.age"},
		{ManifestKey("s", "b"), "backups/s/b/manifest.json.age"},
		{SealKey("s", "b"), "backups/s/b/seal.json"},
		{SigningKeyKey, "keys/signing.pub"},
		{SigningKeyArchiveKey("sha256:00ff"), "keys/signing/00ff.pub"},
		{SourcePrefix("b"), "backups/b/"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	name, ok := objectNameFromKey(ObjectsPrefix("s", "b"), ObjectKey("s", "b", "x.age"))
	if !ok || name != "x.age" {
		t.Errorf("objectNameFromKey = %q, %v", name, ok)
	}
	if _, ok := objectNameFromKey(ObjectsPrefix("s", "b"), ObjectsPrefix("s", "b")+"stray"); ok {
		t.Error("a key without .age was taken for an object")
	}
}
