package location

import (
	"errors"
	"github.com/safekeep-dev/safekeep/storage"
	"strings"
	"testing"
)

func TestBadOffsiteTargets(t *testing.T) {
	rcpt := recipient(t)
	good := strings.ReplaceAll(goodTarget, "RCPT", rcpt)
	tests := []struct {
		name    string
		content string
		want    string // the field (or reason) the error must name
	}{
		{"empty", "", "empty document"},
		{"comments only", "# nothing\n---\n", "empty document"},
		{"bad yaml", "apiVersion: [\n", "not valid YAML"},
		{"not a map", "- a\n- b\n", "not a mapping"},
		{"kind not a string", strings.Replace(good, "kind: OffsiteTarget", "kind: [OffsiteTarget]", 1), "kind is [OffsiteTarget]"},
		{"two documents", good + "---\n" + good, "2 YAML documents"},
		{"no apiVersion", strings.Replace(good, "apiVersion: safekeep.dev/v1alpha1\n", "", 1), "apiVersion is required"},
		{"wrong apiVersion", strings.Replace(good, "safekeep.dev/v1alpha1", "safekeep.dev/v1", 1), `apiVersion is "safekeep.dev/v1"`},
		{"wrong kind", strings.Replace(good, "kind: OffsiteTarget", "kind: BackupStorageLocation", 1), `kind is "BackupStorageLocation"`},
		{"unknown field", strings.Replace(good, "bucket: offsite", "bucket: offsite, buckett: x", 1), `unknown field "spec.s3.buckett"`},
		{"unknown top field", good + "extra: 1\n", `unknown field "extra"`},
		{"duplicate field", strings.Replace(good, "bucket: offsite", "bucket: offsite, bucket: other", 1), "bucket"},
		{"wrong type", strings.Replace(good, "retainDays: 30", "retainDays: thirty", 1), "spec.objectLock.retainDays"},
		{"no endpoint", strings.Replace(good, `endpoint: "http://127.0.0.1:7070", `, "", 1), "spec.s3.endpoint is required"},
		{"bad endpoint", strings.Replace(good, "http://127.0.0.1:7070", "127.0.0.1:7070", 1), "spec.s3.endpoint"},
		{"endpoint with password", strings.Replace(good, "http://127.0.0.1:7070", "http://user:hunter2@127.0.0.1:7070", 1), "spec.s3.endpoint must not hold credentials"},
		{"no bucket", strings.Replace(good, "bucket: offsite, ", "", 1), "spec.s3.bucket is required"},
		{"bad bucket", strings.Replace(good, "bucket: offsite", "bucket: Off_Site", 1), "spec.s3.bucket"},
		{"no recipients", strings.Replace(good, `recipients: ["`+rcpt+`"]`, "recipients: []", 1), "spec.recipients is required"},
		{"bad recipient", strings.Replace(good, rcpt, "age1notakey", 1), "spec.recipients[0]"},
		{"secret as recipient", strings.Replace(good, rcpt, "AGE-SECRET-KEY-1QQQQ", 1), "spec.recipients[0]"},
		{"bad lock mode", strings.Replace(good, "mode: Governance", "mode: Legal", 1), "spec.objectLock.mode"},
		{"no lock mode", strings.Replace(good, "mode: Governance, ", "", 1), "spec.objectLock.mode is required"},
		{"zero retain days", strings.Replace(good, "retainDays: 30", "retainDays: 0", 1), "spec.objectLock.retainDays"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "target.yaml", tt.content)
			_, err := LoadOffsiteTarget(p)
			checkBad(t, err, p, tt.want)
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "AGE-SECRET-KEY") {
				t.Errorf("error reveals a secret: %v", err)
			}
		})
	}
	t.Logf("bad target files: %d inputs, each refused with one error naming the file and the field", len(tests))
}

func TestBadBSLs(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"empty", "\n", "empty document"},
		{"bad yaml", "spec: {\n", "not valid YAML"},
		{"wrong apiVersion", strings.Replace(goodBSL, "velero.io/v1", "velero.io/v2", 1), `apiVersion is "velero.io/v2"`},
		{"wrong kind", strings.Replace(goodBSL, "kind: BackupStorageLocation", "kind: Backup", 1), `kind is "Backup"`},
		{"unknown field", strings.Replace(goodBSL, "provider: aws", "provider: aws\n  providr: aws", 1), `unknown field "spec.providr"`},
		{"no provider", strings.Replace(goodBSL, "  provider: aws\n", "", 1), "spec.provider is required"},
		{"gcp", strings.Replace(goodBSL, "provider: aws", "provider: gcp", 1), `spec.provider is "gcp"`},
		{"no objectStorage", strings.Replace(goodBSL, "  objectStorage: {bucket: velero, prefix: cluster-a}\n", "", 1), "spec.objectStorage is required"},
		{"no bucket", strings.Replace(goodBSL, "bucket: velero, ", "", 1), "spec.objectStorage.bucket is required"},
		{"caCertRef", strings.Replace(goodBSL, "prefix: cluster-a}", "prefix: cluster-a, caCertRef: {name: ca, key: ca.crt}}", 1), "spec.objectStorage.caCertRef"},
		{"bad path style", strings.Replace(goodBSL, `s3ForcePathStyle: "true"`, `s3ForcePathStyle: "yes"`, 1), "spec.config.s3ForcePathStyle"},
		{"bad s3Url", strings.Replace(goodBSL, "http://127.0.0.1:9000", "ftp://127.0.0.1", 1), "spec.config.s3Url"},
		{"unknown config key", strings.Replace(goodBSL, "profile: primary", "profil: primary", 1), `spec.config: unknown key "profil"`},
		{"credentialsFile", strings.Replace(goodBSL, "profile: primary", "credentialsFile: /creds", 1), "spec.config.credentialsFile"},
		{"no region or url", strings.NewReplacer("    region: us-east-1\n", "", "    s3Url: http://127.0.0.1:9000\n", "").Replace(goodBSL), "spec.config.region is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "bsl.yaml", tt.content)
			_, err := LoadBSL(p)
			checkBad(t, err, p, tt.want)
		})
	}
	t.Logf("bad BSL files: %d inputs, each refused with one error naming the file and the field", len(tests))
}

// checkBad wants one line naming the file and the field, wrapping ErrInvalid.
func checkBad(t *testing.T, err error, path, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %q", want)
	}
	msg := err.Error()
	t.Log(msg)
	if !strings.HasPrefix(msg, path+": ") {
		t.Errorf("error %q does not start with the file name", msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not name %q", msg, want)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q spans lines", msg)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %q does not wrap ErrInvalid", msg)
	}
}

func FuzzParseOffsiteTarget(f *testing.F) {
	f.Add([]byte(strings.ReplaceAll(goodTarget, "RCPT", recipient(f))))
	f.Add([]byte("apiVersion: safekeep.dev/v1alpha1\nkind: OffsiteTarget\nspec: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tgt, err := ParseOffsiteTarget(data)
		if err == nil {
			if ValidateOffsiteTarget(tgt) != nil {
				t.Fatal("parsed target does not validate")
			}
			_ = OffsiteConfig(tgt, storageCredsForFuzz)
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
	})
}

func FuzzParseBSL(f *testing.F) {
	f.Add([]byte(goodBSL))
	f.Add([]byte("apiVersion: velero.io/v1\nkind: BackupStorageLocation\nspec: {provider: aws}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBSL(data)
		if err == nil {
			_ = BSLConfig(b, storageCredsForFuzz)
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
	})
}

var storageCredsForFuzz = storage.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
