package location

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// recipient is a real age public key for test files.
func recipient(t testing.TB) string {
	t.Helper()
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String()
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodTarget = `apiVersion: safekeep.dev/v1alpha1
kind: OffsiteTarget
metadata: {name: offsite}
spec:
  s3: {endpoint: "http://127.0.0.1:7070", bucket: offsite, prefix: /cluster-a/, region: eu-west-1,
       credentialsSecretRef: {name: offsite-credentials}}
  recipients: ["RCPT"]
  objectLock: {mode: Governance, retainDays: 30}
  signingKeySecretRef: {name: safekeep-signing}
`

const goodBSL = `apiVersion: velero.io/v1
kind: BackupStorageLocation
metadata: {name: default, namespace: velero}
spec:
  provider: aws
  objectStorage: {bucket: velero, prefix: cluster-a}
  config:
    region: us-east-1
    s3ForcePathStyle: "true"
    s3Url: http://127.0.0.1:9000
    profile: primary
`

func TestLoadOffsiteTarget(t *testing.T) {
	rcpt := recipient(t)
	p := writeFile(t, "target.yaml", strings.ReplaceAll(goodTarget, "RCPT", rcpt))
	tgt, err := LoadOffsiteTarget(p)
	if err != nil {
		t.Fatal(err)
	}
	if tgt.Name != "offsite" || tgt.Spec.S3.Bucket != "offsite" || tgt.Spec.Recipients[0] != rcpt {
		t.Fatalf("loaded %+v", tgt.Spec)
	}
	creds := storage.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
	cfg := OffsiteConfig(tgt, creds)
	want := storage.Config{Endpoint: "http://127.0.0.1:7070", Bucket: "offsite", Prefix: "cluster-a/safekeep/v1",
		Region: "eu-west-1", PathStyle: true, Credentials: creds}
	if cfg.Endpoint != want.Endpoint || cfg.Bucket != want.Bucket || cfg.Prefix != want.Prefix ||
		cfg.Region != want.Region || cfg.PathStyle != want.PathStyle || cfg.Credentials != creds {
		t.Fatalf("OffsiteConfig = %+v, want %+v", cfg, want)
	}

	// No prefix and no region: root layout, default region.
	tgt.Spec.S3.Prefix, tgt.Spec.S3.Region = "", ""
	tgt.Spec.S3.Endpoint = "https://s3.eu-west-1.amazonaws.com"
	cfg = OffsiteConfig(tgt, creds)
	if cfg.Prefix != "safekeep/v1" || cfg.Region != DefaultRegion || cfg.PathStyle {
		t.Fatalf("OffsiteConfig without prefix = %+v", cfg)
	}
}

func TestLoadBSL(t *testing.T) {
	p := writeFile(t, "bsl.yaml", goodBSL)
	b, err := LoadBSL(p)
	if err != nil {
		t.Fatal(err)
	}
	creds := storage.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
	cfg := BSLConfig(b, creds)
	if cfg.Endpoint != "http://127.0.0.1:9000" || cfg.Bucket != "velero" || cfg.Prefix != "cluster-a" ||
		cfg.Region != "us-east-1" || !cfg.PathStyle || cfg.InsecureSkipTLSVerify || cfg.Credentials != creds {
		t.Fatalf("BSLConfig = %+v", cfg)
	}

	// Amazon S3 itself: endpoint from the region, provider in its long form.
	aws := strings.NewReplacer("provider: aws", "provider: velero.io/aws",
		"    s3Url: http://127.0.0.1:9000\n", "", `s3ForcePathStyle: "true"`, `insecureSkipTLSVerify: "false"`,
		"region: us-east-1", "region: eu-central-1").Replace(goodBSL)
	b, err = ParseBSL([]byte(aws))
	if err != nil {
		t.Fatal(err)
	}
	cfg = BSLConfig(b, creds)
	if cfg.Endpoint != "https://s3.eu-central-1.amazonaws.com" || cfg.PathStyle {
		t.Fatalf("BSLConfig for AWS = %+v", cfg)
	}
}

func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "envkey")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
	tgt, err := ParseOffsiteTarget([]byte(strings.ReplaceAll(goodTarget, "RCPT", recipient(t))))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := OffsiteConfigFromEnv(t.Context(), tgt)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Credentials.AccessKeyID != "envkey" || cfg.Credentials.SecretAccessKey != "envsecret" {
		t.Fatalf("offsite credentials not taken from the environment")
	}

	// A BSL naming a profile reads it from the shared-credentials file.
	credFile := filepath.Join(dir, "credentials")
	if err := os.WriteFile(credFile, []byte("[primary]\naws_access_key_id = filekey\naws_secret_access_key = filesecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	b, err := ParseBSL([]byte(goodBSL))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = BSLConfigFromEnv(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Credentials.AccessKeyID != "filekey" || cfg.Credentials.SecretAccessKey != "filesecret" {
		t.Fatalf("BSL credentials not taken from profile primary")
	}
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.yaml")
	for _, load := range []func(string) error{
		func(p string) error { _, err := LoadOffsiteTarget(p); return err },
		func(p string) error { _, err := LoadBSL(p); return err },
	} {
		err := load(p)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p) {
			t.Errorf("error %v: want fs.ErrNotExist naming %s", err, p)
		}
		if errors.Is(err, ErrInvalid) {
			t.Errorf("a missing file is not ErrInvalid")
		}
	}
}
