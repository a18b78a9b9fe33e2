package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	// veleroBucket is the bucket of Velero's default BackupStorageLocation.
	veleroBucket = "velero"
	// cliTimeout bounds one run of the safekeep CLI.
	cliTimeout = 3 * time.Minute
)

// bed is the test bed every scenario shares: one VersityGW, one control
// plane, one Velero server. Scenarios use their own namespaces, backup
// names and offsite buckets.
type bed struct {
	s3     *testbed.S3Server
	cp     *testbed.ControlPlane
	velero *testbed.Velero
	// node runs Velero's node-agent and the pods it starts (bedSpec.node).
	node *testbed.Node

	// ctlDir holds safekeep-controller once built (controllerBinary).
	ctlDir string
	ctlMu  sync.Mutex
	ctlBin string
}

// controllerBinary builds safekeep-controller once for the bed's
// scenarios (the controller process, the volume reader's image) and
// returns its path.
func (b *bed) controllerBinary(t *testing.T) string {
	t.Helper()
	b.ctlMu.Lock()
	defer b.ctlMu.Unlock()
	if b.ctlBin == "" {
		b.ctlBin = buildController(t, b.ctlDir)
	}
	return b.ctlBin
}

// bedSpec says what a test bed holds besides Velero's own bucket.
type bedSpec struct {
	// buckets are offsite buckets to create, each with object lock or not.
	buckets map[string]bool
	// staging are Velero BackupStorageLocations to add, each on a bucket of
	// its own name.
	staging []string
	// crds installs Safekeep's CRDs (deploy/crd), for the controller.
	crds bool
	// crdPaths are more CRD files or folders to install before Velero
	// starts (so that its discovery sees them).
	crdPaths []string
	// versioned runs VersityGW keeping versions: object-locked buckets are
	// then versioned, as on AWS.
	versioned bool
	// node starts a Node with Velero's node-agent (file-system backups of
	// pod volumes); it needs root: the test is skipped, saying so, without.
	node bool
	// csi makes the Node a CSI node (Node.EnableCSI) and runs Velero with
	// the EnableCSI feature: CSI snapshots and their data mover. With node.
	csi bool
}

// startBed starts VersityGW, the control plane and the real Velero server
// with what spec asks for.
func startBed(t *testing.T, spec bedSpec) *bed {
	t.Helper()
	if spec.node {
		testbed.RequireRoot(t) // before anything starts
	}
	start := time.Now()
	var s3opts []testbed.S3Option
	if spec.versioned {
		s3opts = append(s3opts, testbed.S3Versioned())
	}
	s3 := testbed.StartS3(t, s3opts...)
	s3.CreateBucket(t, veleroBucket, false)
	for _, name := range slices.Sorted(maps.Keys(spec.buckets)) {
		s3.CreateBucket(t, name, spec.buckets[name])
	}
	for _, name := range spec.staging {
		s3.CreateBucket(t, name, false)
	}
	var opts []testbed.ControlPlaneOption
	if spec.crds {
		root, err := moduleRoot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, testbed.WithCRDs(root+"/deploy/crd"))
	}
	if len(spec.crdPaths) > 0 {
		opts = append(opts, testbed.WithCRDs(spec.crdPaths...))
	}
	if spec.csi {
		// Velero's discovery must know VolumeSnapshots, for backups that
		// keep them (no data movement).
		opts = append(opts, testbed.WithCRDs(testbed.SnapshotCRDPaths(t)...))
	}
	cp := testbed.StartControlPlane(t, opts...)
	var vopts []testbed.VeleroOption
	if spec.csi {
		vopts = append(vopts, testbed.VeleroFeatures("EnableCSI"))
	}
	v := testbed.StartVelero(t, cp, s3, veleroBucket, vopts...)
	for _, name := range spec.staging {
		v.AddLocation(t, t.Context(), name, name, "")
	}
	b := &bed{s3: s3, cp: cp, velero: v, ctlDir: t.TempDir()}
	if spec.node {
		b.node = testbed.StartNode(t, cp, v)
		if spec.csi {
			b.node.EnableCSI(t)
		}
	}
	t.Logf("test bed up in %s", time.Since(start).Round(time.Millisecond))
	return b
}

// TestE2E starts the test bed once and runs every scenario on it, in order.
func TestE2E(t *testing.T) {
	b := startBed(t, bedSpec{})
	t.Run("Seal", func(t *testing.T) { testSeal(t, b) })
}

// cli runs the safekeep binary with a clean environment holding only the S3
// server's credentials, and checks that no output ever shows the secret key.
type cli struct {
	bin    string
	env    []string
	secret string
}

func newCLI(t *testing.T, s3 *testbed.S3Server) *cli {
	t.Helper()
	home := t.TempDir() // no user AWS files or config
	return &cli{
		bin: safekeepBin(t),
		env: testbed.ChildEnv(
			"AWS_ACCESS_KEY_ID="+s3.AccessKey,
			"AWS_SECRET_ACCESS_KEY="+s3.SecretKey,
			"HOME="+home,
			// A -race binary otherwise sleeps a second at exit.
			"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
		),
		secret: s3.SecretKey,
	}
}

// run runs safekeep with args and returns its stdout and stderr, and the
// error of a non-zero exit.
func (c *cli) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cliTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err = cmd.Run()
	t.Logf("safekeep %s: %s, exit %d", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), cmd.ProcessState.ExitCode())
	if strings.Contains(out.String(), c.secret) || strings.Contains(errOut.String(), c.secret) {
		t.Errorf("safekeep %s printed the S3 secret key", args[0])
	}
	if strings.Contains(errOut.String(), "WARNING: DATA RACE") {
		t.Errorf("safekeep %s: the race detector reported:\n%s", args[0], errOut.String())
	}
	return out.String(), errOut.String(), err
}

// ok runs safekeep with args, fails the test unless it exits 0, and returns
// its stdout.
func (c *cli) ok(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, err := c.run(t, args...)
	if err != nil {
		t.Fatalf("safekeep %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}

// readObjects returns every object under prefix in bucket, by key.
func readObjects(t *testing.T, mc *minio.Client, bucket, prefix string) map[string][]byte {
	t.Helper()
	ctx := t.Context()
	objs := map[string][]byte{}
	for info := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if info.Err != nil {
			t.Fatalf("list %s/%s: %v", bucket, prefix, info.Err)
		}
		obj, err := mc.GetObject(ctx, bucket, info.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatalf("get %s/%s: %v", bucket, info.Key, err)
		}
		body, err := io.ReadAll(obj)
		_ = obj.Close() // read-only, fully read
		if err != nil {
			t.Fatalf("read %s/%s: %v", bucket, info.Key, err)
		}
		objs[info.Key] = body
	}
	return objs
}

// listETags returns key -> ETag of every object under prefix in bucket.
func listETags(t *testing.T, mc *minio.Client, bucket, prefix string) map[string]string {
	t.Helper()
	etags := map[string]string{}
	for info := range mc.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if info.Err != nil {
			t.Fatalf("list %s/%s: %v", bucket, prefix, info.Err)
		}
		etags[info.Key] = info.ETag
	}
	return etags
}

// ageDecrypt decrypts ciphertext with the real age CLI and identity file.
func ageDecrypt(t *testing.T, identity string, ciphertext []byte) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath("age")
	if err != nil {
		t.Fatalf("the age CLI is needed (Debian package age): %v", err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "-d", "-i", identity)
	cmd.Env = testbed.ChildEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(ciphertext), &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, errors.Join(err, errors.New(strings.TrimSpace(errOut.String())))
	}
	return out.Bytes(), nil
}

// writeFile writes content to name under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// createWorkload creates namespace ns with sample.PHIApp: a ConfigMap, a
// Secret holding marker, a Deployment, a Service and a PVC.
func createWorkload(t *testing.T, c client.Client, ns, marker string) {
	t.Helper()
	for _, obj := range sample.PHIApp(ns, marker) {
		if err := c.Create(t.Context(), obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}
}

// containsMarker is sample.ContainsMarker: whether b shows marker as is,
// base64-encoded or inside gzip streams nested up to depth.
var containsMarker = sample.ContainsMarker
