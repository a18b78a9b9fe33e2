package testbed

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// VeleroNamespace is the namespace the Velero server watches.
	VeleroNamespace = "velero"
	// DefaultLocation is the name of the BackupStorageLocation StartVelero makes.
	DefaultLocation = "default"
	// veleroMain is the main package tools/build.sh builds bin/velero from:
	// Velero's command with controller-runtime's metrics server (else on
	// :8080, every interface, no flag) off, so servers run side by side.
	veleroMain = ModulePath + "/tools/velero"
	// veleroCredentialsSecret holds the BSL credentials, key "cloud".
	veleroCredentialsSecret = "cloud-credentials"

	// locationTimeout bounds the wait for a BSL to turn Available.
	locationTimeout = 60 * time.Second
	// operationTimeout bounds the wait for a Backup or Restore to finish.
	operationTimeout = 3 * time.Minute
	// pollInterval is how often waits look at the API server.
	pollInterval = 200 * time.Millisecond
	// veleroStopTimeout bounds the wait after SIGTERM before the kill.
	veleroStopTimeout = 15 * time.Second
	// veleroLogTailBytes is how much of Velero's log a failed test prints.
	veleroLogTailBytes = 16 << 10
)

// Velero is a Velero server process running outside the cluster against a
// ControlPlane, with the AWS object-store plugin and one BackupStorageLocation
// (DefaultLocation) on an S3Server bucket.
type Velero struct {
	// Namespace is VeleroNamespace.
	Namespace string
	// Location is the default BSL's name, DefaultLocation.
	Location string
	// Bucket is the default BSL's bucket.
	Bucket string
	// LogPath is the file holding the server's (and its plugins') output.
	LogPath string

	cp *ControlPlane
	s3 *S3Server
	// credentials is the AWS shared-credentials file of s3's keys, which
	// the server, its node agents and the pods they start read.
	credentials string
	proc        *process // the server
}

// StartVelero prepares the cluster the way `velero install` would (Velero's
// CRDs from the velero module in the module cache, namespace, credentials
// Secret, a velero Deployment with 0 replicas, BSL DefaultLocation on bucket
// of s3, which must exist), then runs `velero server` from BinDir with the
// velero-plugin-for-aws plugin, waits (at most a minute) until the BSL is
// Available and stops the server when the test ends. When the test failed,
// the tail of the server's log is logged.
//
// The server binds no port but the loopback metrics address it is given
// (its profiler is off, and bin/velero, checked to be built from
// tools/velero, has controller-runtime's :8080 metrics server off), so
// several servers can run at once, in parallel test packages.
//
// Options change the server's flags (VeleroFeatures).
func StartVelero(tb TB, cp *ControlPlane, s3 *S3Server, bucket string, opts ...VeleroOption) *Velero {
	tb.Helper()
	var o veleroOptions
	for _, opt := range opts {
		opt(&o)
	}
	skipShort(tb)
	ctx := tb.Context()
	start := time.Now()
	work := tb.TempDir() // before the stop cleanup, so it is removed after
	v := &Velero{
		Namespace:   VeleroNamespace,
		Location:    DefaultLocation,
		Bucket:      bucket,
		LogPath:     filepath.Join(work, "velero.log"),
		cp:          cp,
		s3:          s3,
		credentials: filepath.Join(work, "aws-credentials"),
	}
	cp.InstallCRDs(tb, VeleroCRDPaths(tb)...)
	v.install(tb, ctx, o.serverFlags())

	pluginDir := filepath.Join(work, "plugins")
	credentials := v.credentials
	home := filepath.Join(work, "home")
	tmp := filepath.Join(work, "tmp")
	for _, dir := range []string{pluginDir, home, tmp} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			tb.Fatalf("testbed: %v", err)
		}
	}
	// Velero's plugin discovery reads the folder with Lstat and accepts a
	// symlink (its mode has the execute bits); go-plugin follows it.
	if err := os.Symlink(Bin(tb, "velero-plugin-for-aws"), filepath.Join(pluginDir, "velero-plugin-for-aws")); err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	if err := os.WriteFile(credentials, sharedCredentials(s3), 0o600); err != nil {
		tb.Fatalf("testbed: %v", err)
	}

	args := []string{
		"server",
		"--kubeconfig", cp.Kubeconfig,
		"--namespace", v.Namespace,
		"--plugin-dir", pluginDir,
		"--metrics-address", "127.0.0.1:" + strconv.Itoa(FreePort(tb)),
		"--profiler-address=", // off: it would bind localhost:6060
		"--default-backup-storage-location", v.Location,
		"--backup-sync-period", "5s", // staged copies show up quickly
		"--store-validation-frequency", "10s",
		"--client-qps", "500", // envtest takes it; restores are QPS-bound
		"--client-burst", "1000",
		"--log-format", "text",
	}
	args = append(args, o.serverFlags()...)
	env := ChildEnv(
		"AWS_SHARED_CREDENTIALS_FILE="+credentials,
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
		"HOME="+home,  // no user velero client config
		"TMPDIR="+tmp, // Velero's credential file store lives under it
	)
	v.start(tb, args, env)
	tb.Cleanup(func() {
		if err := v.proc.stop(); err != nil {
			tb.Errorf("testbed: stop velero: %v", err)
		}
		if tb.Failed() {
			tb.Logf("velero output (tail of %s):\n%s", v.LogPath, v.LogTail())
		}
	})
	v.WaitLocation(tb, ctx, v.Location)
	tb.Logf("testbed: velero up, location %s Available, in %s", v.Location, time.Since(start).Round(time.Millisecond))
	return v
}

// VeleroOption is an option of StartVelero.
type VeleroOption func(*veleroOptions)

type veleroOptions struct {
	features []string
}

// serverFlags are the server flags the options set, in the form `velero
// install` writes them into the Deployment's args.
func (o veleroOptions) serverFlags() []string {
	if len(o.features) == 0 {
		return nil
	}
	return []string{"--features=" + strings.Join(o.features, ",")}
}

// VeleroFeatures turns on Velero server features (--features): EnableCSI
// for CSI snapshots and their data mover (with Node.EnableCSI).
func VeleroFeatures(features ...string) VeleroOption {
	return func(o *veleroOptions) { o.features = append(o.features, features...) }
}

// VeleroCRDPaths returns Velero's CRD folders in the module cache, as the
// product's go.mod pins the velero module.
func VeleroCRDPaths(tb TB) []string {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), "go", "list", "-m", "-f", "{{.Dir}}", "github.com/vmware-tanzu/velero")
	cmd.Dir = RepoRoot(tb)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		tb.Fatalf("testbed: find the velero module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		tb.Fatalf("testbed: the velero module is not in the module cache: run `go mod download` in %s", cmd.Dir)
	}
	return []string{
		filepath.Join(dir, "config", "crd", "v1", "bases"),
		filepath.Join(dir, "config", "crd", "v2alpha1", "bases"),
	}
}

// VeleroV1CRDPath is the first of VeleroCRDPaths: the folder of Velero's v1
// CRDs (Backup, Restore, BackupStorageLocation...), without the v2alpha1
// data mover ones.
func VeleroV1CRDPath(tb TB) string {
	tb.Helper()
	return VeleroCRDPaths(tb)[0]
}

// sharedCredentials renders s3's credentials in AWS shared-credentials format.
func sharedCredentials(s3 *S3Server) []byte {
	return fmt.Appendf(nil, "[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n", s3.AccessKey, s3.SecretKey)
}

// install creates the namespace, the credentials Secret, the velero
// Deployment (0 replicas; restores look it up; its args name the server's
// flags, such as --features, as `velero install` writes them, which is
// where Safekeep reads what the server runs with) and the default BSL.
func (v *Velero) install(tb TB, ctx context.Context, flags []string) {
	tb.Helper()
	labels := map[string]string{"component": "velero", "deploy": "velero"}
	replicas := int32(0)
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: v.Namespace}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: veleroCredentialsSecret, Namespace: v.Namespace},
			Data:       map[string][]byte{"cloud": sharedCredentials(v.s3)},
		},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "velero", Namespace: v.Namespace, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name:    "velero",
						Image:   "velero/velero:v1.18.3",
						Command: []string{"/velero"},
						Args:    append([]string{"server"}, flags...),
						// Repository maintenance Jobs inherit it (a Node's
						// kubelet runs them): the server's own environment.
						Env: v.podEnv(),
					}}},
				},
			},
		},
	}
	for _, obj := range objs {
		if err := v.cp.Client.Create(ctx, obj); err != nil {
			tb.Fatalf("testbed: create %T %s: %v", obj, obj.GetName(), err)
		}
	}
	v.createLocation(tb, ctx, v.Location, v.Bucket, "", true)
}

// podEnv is the environment of the Velero pods the test bed describes (the
// velero Deployment, the node-agent DaemonSet), which the pods Velero starts
// from them inherit: what StartVelero gives the server process, less what
// each process gets of its own (HOME, TMPDIR, the kubeconfig).
func (v *Velero) podEnv() []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "VELERO_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "AWS_SHARED_CREDENTIALS_FILE", Value: v.credentials},
		{Name: "AWS_CONFIG_FILE", Value: os.DevNull},
		{Name: "AWS_EC2_METADATA_DISABLED", Value: "true"},
	}
}

// AddLocation creates another BSL on bucket (and prefix) of the same S3
// server, with a 5 s backup sync period, and waits until it is Available.
func (v *Velero) AddLocation(tb TB, ctx context.Context, name, bucket, prefix string) *velerov1.BackupStorageLocation {
	tb.Helper()
	v.createLocation(tb, ctx, name, bucket, prefix, false)
	return v.WaitLocation(tb, ctx, name)
}

func (v *Velero) createLocation(tb TB, ctx context.Context, name, bucket, prefix string, isDefault bool) {
	tb.Helper()
	bsl := &velerov1.BackupStorageLocation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v.Namespace},
		Spec: velerov1.BackupStorageLocationSpec{
			Provider: "aws",
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{
				Bucket: bucket,
				Prefix: prefix,
			}},
			Config: map[string]string{
				"region":           s3Region,
				"s3ForcePathStyle": "true",
				"s3Url":            v.s3.Endpoint,
			},
			Default:          isDefault,
			BackupSyncPeriod: &metav1.Duration{Duration: 5 * time.Second},
		},
	}
	if err := v.cp.Client.Create(ctx, bsl); err != nil {
		tb.Fatalf("testbed: create BackupStorageLocation %s: %v", name, err)
	}
}

// WaitLocation waits (at most a minute) until BSL name is Available.
func (v *Velero) WaitLocation(tb TB, ctx context.Context, name string) *velerov1.BackupStorageLocation {
	tb.Helper()
	bsl := &velerov1.BackupStorageLocation{}
	key := client.ObjectKey{Namespace: v.Namespace, Name: name}
	err := v.poll(ctx, locationTimeout, func(ctx context.Context) (bool, error) {
		if err := v.cp.Client.Get(ctx, key, bsl); err != nil {
			return false, err
		}
		return bsl.Status.Phase == velerov1.BackupStorageLocationPhaseAvailable, nil
	})
	if err != nil {
		tb.Fatalf("testbed: BackupStorageLocation %s is %q, not Available (%s): %v\nvelero output:\n%s",
			name, bsl.Status.Phase, bsl.Status.Message, err, v.LogTail())
	}
	return bsl
}

// Backup creates Backup name with spec in the Velero namespace and waits (at
// most 3 minutes) until it reaches a terminal phase: Completed,
// PartiallyFailed, Failed or FailedValidation. It returns the Backup in that
// phase; the caller judges the phase.
func (v *Velero) Backup(tb TB, ctx context.Context, name string, spec velerov1.BackupSpec) *velerov1.Backup {
	tb.Helper()
	b := &velerov1.Backup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v.Namespace}, Spec: spec}
	if err := v.cp.Client.Create(ctx, b); err != nil {
		tb.Fatalf("testbed: create Backup %s: %v", name, err)
	}
	start := time.Now()
	err := v.poll(ctx, operationTimeout, func(ctx context.Context) (bool, error) {
		if err := v.cp.Client.Get(ctx, client.ObjectKeyFromObject(b), b); err != nil {
			return false, err
		}
		switch b.Status.Phase {
		case velerov1.BackupPhaseCompleted, velerov1.BackupPhasePartiallyFailed,
			velerov1.BackupPhaseFailed, velerov1.BackupPhaseFailedValidation:
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		tb.Fatalf("testbed: Backup %s is %q after %s: %v\nvelero output:\n%s",
			name, b.Status.Phase, time.Since(start).Round(time.Millisecond), err, v.LogTail())
	}
	tb.Logf("testbed: Backup %s %s in %s", name, b.Status.Phase, time.Since(start).Round(time.Millisecond))
	return b
}

// Restore creates Restore name with spec in the Velero namespace and waits
// (at most 3 minutes) until it reaches a terminal phase: Completed,
// PartiallyFailed, Failed or FailedValidation. It returns the Restore in that
// phase; the caller judges the phase.
func (v *Velero) Restore(tb TB, ctx context.Context, name string, spec velerov1.RestoreSpec) *velerov1.Restore {
	tb.Helper()
	r := &velerov1.Restore{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v.Namespace}, Spec: spec}
	if err := v.cp.Client.Create(ctx, r); err != nil {
		tb.Fatalf("testbed: create Restore %s: %v", name, err)
	}
	start := time.Now()
	err := v.poll(ctx, operationTimeout, func(ctx context.Context) (bool, error) {
		if err := v.cp.Client.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			return false, err
		}
		switch r.Status.Phase {
		case velerov1.RestorePhaseCompleted, velerov1.RestorePhasePartiallyFailed,
			velerov1.RestorePhaseFailed, velerov1.RestorePhaseFailedValidation:
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		tb.Fatalf("testbed: Restore %s is %q after %s: %v\nvelero output:\n%s",
			name, r.Status.Phase, time.Since(start).Round(time.Millisecond), err, v.LogTail())
	}
	tb.Logf("testbed: Restore %s %s in %s", name, r.Status.Phase, time.Since(start).Round(time.Millisecond))
	return r
}

// poll calls cond every pollInterval until it reports true, timeout passes,
// ctx ends or the server exits. A cond error ends the wait.
func (v *Velero) poll(ctx context.Context, timeout time.Duration, cond func(context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		if err := v.proc.exited(); err != nil {
			return false, err
		}
		return cond(ctx)
	})
}

// start runs the server in its own process group (so stop ends its plugin
// processes too), output to LogPath.
func (v *Velero) start(tb TB, args, env []string) {
	tb.Helper()
	p, err := startProcess("velero server", veleroBin(tb), args, env, v.LogPath)
	if err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	v.proc = p
}

// veleroBin returns bin/velero after checking it was built from veleroMain,
// not from Velero's own main, which binds :8080 on every interface.
func veleroBin(tb TB) string {
	tb.Helper()
	bin := Bin(tb, "velero")
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		tb.Fatalf("testbed: read build info of %s: %v", bin, err)
	}
	if info.Path != veleroMain {
		tb.Fatalf("testbed: %s was built from %s, not %s (which keeps it off :8080): delete it and run tools/build.sh velero",
			bin, info.Path, veleroMain)
	}
	return bin
}

// LogTail returns the last 16 KiB of the server's output.
func (v *Velero) LogTail() string { return tailBytes(v.LogPath, veleroLogTailBytes) }

// containsAll reports whether b contains every one of subs.
func containsAll(b []byte, subs ...string) bool {
	for _, s := range subs {
		if !bytes.Contains(b, []byte(s)) {
			return false
		}
	}
	return true
}
