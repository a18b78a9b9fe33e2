package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// result is what one in-process run of the CLI printed and returned.
type result struct {
	code     int
	out, err string
}

// bed is a VersityGW with a Velero bucket holding synthetic backups, an
// offsite bucket (object lock on), and the files the CLI reads.
type bed struct {
	s3  *testbed.S3Server
	dir string
	// outputs collects everything every run printed, to check for secrets.
	outputs strings.Builder
	// backups maps a Velero backup name to its objects (name -> bytes).
	backups map[string]map[string][]byte
	// pin, when set, is the spec.signingPublicKey of the targets
	// writeTarget writes; auditKeys their spec.auditKeys.
	pin       string
	auditKeys []string
}

const (
	veleroBucket  = "velero"
	veleroPrefix  = "cluster-a"
	offsiteBucket = "offsite"
	plainBucket   = "offsite-unlocked"
	// marker is a known plaintext placed in every backup; no offsite
	// object may contain it.
	marker = "PHI-MARKER-7f3c0e9a"
)

// newBed starts VersityGW and sets the process's AWS environment to its
// credentials, with no profile or shared file to fall back on.
func newBed(t *testing.T, opts ...testbed.S3Option) *bed {
	t.Helper()
	b := &bed{s3: testbed.StartS3(t, opts...), dir: t.TempDir(), backups: map[string]map[string][]byte{}}
	b.s3.CreateBucket(t, veleroBucket, false)
	b.s3.CreateBucket(t, offsiteBucket, true)
	b.s3.CreateBucket(t, plainBucket, false)
	b.setCredentials(t, b.s3.AccessKey, b.s3.SecretKey)
	t.Setenv(SigningKeyEnv, "")
	return b
}

// setCredentials points the AWS environment at the given keys only.
func (b *bed) setCredentials(t *testing.T, access, secret string) {
	t.Helper()
	none := filepath.Join(b.dir, "no-such-aws-file")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
}

// runCLI executes the CLI in-process with ctx and logs what it printed.
func runCLI(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(ctx, args, Streams{Out: &out, Err: &errb})
	r := result{code: code, out: out.String(), err: errb.String()}
	t.Logf("safekeep %s\nexit %d\n%s%s", strings.Join(args, " "), code, r.out, r.err)
	return r
}

// runCtx executes the CLI in-process with ctx.
func (b *bed) runCtx(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	r := runCLI(t, ctx, args...)
	b.outputs.WriteString(r.out)
	b.outputs.WriteString(r.err)
	return r
}

func (b *bed) run(t *testing.T, args ...string) result {
	t.Helper()
	return b.runCtx(t, t.Context(), args...)
}

// ok runs the CLI and fails the test unless it exits 0 with nothing on stderr.
func (b *bed) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := b.run(t, args...)
	if r.code != 0 || withoutAuditNotice(r.err) != "" {
		t.Fatalf("safekeep %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// path returns the path of a file in the bed's folder.
func (b *bed) path(name string) string { return filepath.Join(b.dir, name) }

// write writes a file in the bed's folder and returns its path.
func (b *bed) write(t *testing.T, name, content string) string {
	t.Helper()
	p := b.path(name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeBSL writes the Velero BackupStorageLocation of the bed's Velero bucket.
func (b *bed) writeBSL(t *testing.T) string {
	t.Helper()
	return b.write(t, "bsl.yaml", `apiVersion: velero.io/v1
kind: BackupStorageLocation
metadata: {name: default, namespace: velero}
spec:
  provider: aws
  objectStorage: {bucket: `+veleroBucket+`, prefix: `+veleroPrefix+`}
  config:
    region: us-east-1
    s3ForcePathStyle: "true"
    s3Url: `+b.s3.Endpoint+`
`)
}

// writeTarget writes an OffsiteTarget for bucket with the recipients given;
// lock adds a Governance retention of one day.
func (b *bed) writeTarget(t *testing.T, name, bucket string, lock bool, recipients ...string) string {
	t.Helper()
	quoted := make([]string, len(recipients))
	for i, r := range recipients {
		quoted[i] = `"` + r + `"`
	}
	doc := `apiVersion: safekeep.dev/v1alpha1
kind: OffsiteTarget
metadata: {name: offsite}
spec:
  s3: {endpoint: "` + b.s3.Endpoint + `", bucket: ` + bucket + `, prefix: cluster-a, region: us-east-1}
  recipients: [` + strings.Join(quoted, ", ") + `]
  signingKeySecretRef: {name: safekeep-signing}
`
	if b.pin != "" {
		doc += "  signingPublicKey: \"" + b.pin + "\"\n"
	}
	if len(b.auditKeys) > 0 {
		doc += "  auditKeys: [\"" + strings.Join(b.auditKeys, `", "`) + "\"]\n"
	}
	if lock {
		doc += "  objectLock: {mode: Governance, retainDays: 1}\n"
	}
	return b.write(t, name, doc)
}

// putBackup writes a synthetic Velero backup into the Velero bucket, laid
// out as Velero writes it, and remembers its objects. phase is the Backup's
// status.phase.
func (b *bed) putBackup(t *testing.T, name, phase string) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	backup := map[string]any{
		"kind": "Backup", "apiVersion": "velero.io/v1",
		"metadata": map[string]any{"name": name, "namespace": "velero",
			"labels": map[string]string{"velero.io/storage-location": "default"}},
		"spec": map[string]any{"includedNamespaces": []string{"phi-app"}, "storageLocation": "default", "ttl": "720h0m0s"},
		"status": map[string]any{"phase": phase, "version": 1, "formatVersion": "1.1.0",
			"startTimestamp": now.Add(-time.Minute), "completionTimestamp": now,
			"progress": map[string]int{"totalItems": 3, "itemsBackedUp": 3}},
	}
	meta, err := json.Marshal(backup)
	if err != nil {
		t.Fatal(err)
	}
	resources, _ := json.Marshal(map[string][]string{
		"v1/ConfigMap": {"phi-app/settings"}, "v1/Secret": {"phi-app/db"}, "v1/Namespace": {"phi-app"},
	})
	objs := map[string][]byte{
		"velero-backup.json":                   meta,
		name + ".tar.gz":                       tarball(t, name),
		name + "-logs.gz":                      gz(t, []byte("time=now level=info msg=\"Backup completed\"\n")),
		name + "-resource-list.json.gz":        gz(t, resources),
		name + "-results.gz":                   gz(t, []byte(`{"errors":{},"warnings":{}}`)),
		name + "-volumesnapshots.json.gz":      gz(t, []byte("null")),
		name + "-itemoperations.json.gz":       gz(t, []byte("null")),
		name + "-podvolumebackups.json.gz":     gz(t, []byte("null")),
		name + "-csi-volumesnapshots.json.gz":  {}, // an empty object, too
		name + "-volumeinfo.json.gz":           gz(t, []byte("[]")),
		name + "-csi-volumesnapshotclasses.gz": gz(t, []byte("null")),
	}
	mc := b.s3.Minio(t)
	for obj, data := range objs {
		key := veleroPrefix + "/backups/" + name + "/" + obj
		_, err := mc.PutObject(t.Context(), veleroBucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	b.backups[name] = objs
}

// tarball is a Velero-style backup tarball holding the marker in a Secret
// and enough random bytes to span several age chunks.
func tarball(t *testing.T, name string) []byte {
	t.Helper()
	noise := make([]byte, 300<<10)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"metadata/version": []byte("1\n"),
		"resources/secrets/namespaces/phi-app/db.json":              []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"phi-app"},"stringData":{"password":"` + marker + `"}}`),
		"resources/configmaps/namespaces/phi-app/noise.bin":         noise,
		"resources/configmaps/namespaces/phi-app/" + name + ".json": []byte(`{"kind":"ConfigMap"}`),
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for n, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// offsiteObjects returns every object in bucket (key -> bytes).
func (b *bed) offsiteObjects(t *testing.T, bucket string) map[string][]byte {
	t.Helper()
	mc := b.s3.Minio(t)
	out := map[string][]byte{}
	for info := range mc.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if info.Err != nil {
			t.Fatalf("list %s: %v", bucket, info.Err)
		}
		o, err := mc.GetObject(t.Context(), bucket, info.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(o); err != nil {
			t.Fatalf("get %s: %v", info.Key, err)
		}
		_ = o.Close() // read-only, fully read
		out[info.Key] = buf.Bytes()
	}
	return out
}

// checkOneLine wants a failure's stderr to be exactly one "safekeep: " line
// holding want.
func checkOneLine(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d (stderr %q)", r.code, code, r.err)
	}
	if !strings.HasPrefix(r.err, "safekeep: ") || strings.Count(r.err, "\n") != 1 || !strings.HasSuffix(r.err, "\n") {
		t.Errorf("stderr is not one 'safekeep: ' line: %q", r.err)
	}
	if !strings.Contains(r.err, want) {
		t.Errorf("stderr %q does not say %q", r.err, want)
	}
	for _, bad := range []string{"goroutine ", "panic", ".go:"} {
		if strings.Contains(r.err, bad) {
			t.Errorf("stderr looks like a stack trace: %q", r.err)
		}
	}
}

func readFileBytes(path string) ([]byte, error) { return os.ReadFile(path) }
