package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"

	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// waitTimeout bounds each wait for the running controller.
const waitTimeout = 60 * time.Second

// TestRun runs the controller outside a cluster against envtest, given the
// kubeconfig through KUBECONFIG, and checks its probes, metrics, Lease and
// a reconcile, then stops it as SIGTERM would.
func TestRun(t *testing.T) {
	root := testbed.RepoRoot(t)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(root, "deploy", "crd")))
	cp.InstallCRDs(t, testbed.VeleroCRDPaths(t)...)
	ctx := t.Context()
	const ns = "safekeep-system"
	for _, name := range []string{ns, "velero"} {
		if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KUBECONFIG", cp.Kubeconfig)
	t.Setenv("POD_NAMESPACE", ns)
	metricsAddr := "127.0.0.1:" + strconv.Itoa(testbed.FreePort(t))
	probeAddr := "127.0.0.1:" + strconv.Itoa(testbed.FreePort(t))

	runCtx, stop := context.WithCancel(ctx)
	logs := &testbed.SyncBuffer{}
	code := make(chan int, 1)
	start := time.Now()
	go func() {
		code <- run(runCtx, []string{"--leader-elect", "--metrics-bind-address", metricsAddr,
			"--health-probe-bind-address", probeAddr, "--target-retry-interval", "1s"}, logs)
	}()
	defer func() {
		stop()
		select {
		case c := <-code:
			if c != exitOK {
				t.Errorf("exit code %d after cancel, want 0", c)
			}
		case <-time.After(waitTimeout):
			t.Error("run did not return after its context was canceled")
		}
		if t.Failed() {
			t.Logf("controller logs:\n%s", logs.String())
		}
	}()

	for _, path := range []string{"/healthz", "/readyz"} {
		body := waitHTTP(t, "http://"+probeAddr+path, func(string) bool { return true })
		t.Logf("%s: %q after %s", path, body, time.Since(start).Round(time.Millisecond))
	}

	lease := &coordinationv1.Lease{}
	waitFor(t, "the leader-election Lease", func() bool {
		err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: leaderElectionID}, lease)
		return err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != ""
	})
	t.Logf("lease %s/%s held by %s after %s", ns, leaderElectionID, *lease.Spec.HolderIdentity, time.Since(start).Round(time.Millisecond))

	// A target whose recipient does not parse: Ready False at once, exported.
	tgt := &v1alpha1.OffsiteTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "offsite"},
		Spec: v1alpha1.OffsiteTargetSpec{
			S3:                  v1alpha1.S3Location{Endpoint: "http://127.0.0.1:1", Bucket: "offsite"},
			Recipients:          []string{"age1bogus"},
			SigningKeySecretRef: corev1.LocalObjectReference{Name: "signing"},
		},
	}
	if err := cp.Client.Create(ctx, tgt); err != nil {
		t.Fatal(err)
	}
	want := `safekeep_offsite_target_ready{name="offsite",namespace="safekeep-system"} 0`
	waitHTTP(t, "http://"+metricsAddr+"/metrics", func(body string) bool { return strings.Contains(body, want) })

	stop()
	select {
	case c := <-code:
		code <- c // for the deferred check
	case <-time.After(waitTimeout):
		t.Fatal("run did not return after its context was canceled")
	}
	// Released on cancel: a successor need not wait for the lease to expire.
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: leaderElectionID}, lease); err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("lease still held by %s after a clean stop", *h)
	}
	for line := range strings.Lines(logs.String()) {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("log line is not JSON: %q", line)
			break
		}
	}
}

// TestDeploymentArgs parses the command line of deploy/deployment.yaml.
func TestDeploymentArgs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testbed.RepoRoot(t), "deploy", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(data, &d); err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	t.Setenv("POD_NAMESPACE", "from-downward-api")
	f, err := parseFlags(append(c.Command, c.Args...), io.Discard)
	if err != nil {
		t.Fatalf("deployment args %q: %v", c.Args, err)
	}
	if !f.leaderElect || f.namespace != "from-downward-api" || f.probeAddr != ":8081" || f.metricsAddr != ":8080" {
		t.Errorf("parsed %+v", f)
	}
	for _, p := range c.Ports {
		if addr := ":" + strconv.Itoa(int(p.ContainerPort)); addr != f.metricsAddr && addr != f.probeAddr {
			t.Errorf("container port %s (%d) is not a port the controller listens on", p.Name, p.ContainerPort)
		}
	}
	hasEnv := false
	for _, e := range c.Env {
		hasEnv = hasEnv || (e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil)
	}
	if !hasEnv {
		t.Error("the Deployment does not pass POD_NAMESPACE from the downward API")
	}
}

func TestRunBadCommandLine(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"unknown flag", []string{"--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{"argument", []string{"extra"}, exitUsage, `unexpected argument "extra"`},
		{"bad duration", []string{"--target-check-interval", "soon"}, exitUsage, "target-check-interval"},
		{"missing kubeconfig", []string{"--kubeconfig", missing}, exitFailure, missing},
		{"help", []string{"--help"}, exitOK, "-leader-elect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := run(t.Context(), tt.args, &out); got != tt.code {
				t.Errorf("exit code %d, want %d; output:\n%s", got, tt.code, out.String())
			}
			if !strings.Contains(out.String(), tt.says) {
				t.Errorf("output does not say %q:\n%s", tt.says, out.String())
			}
		})
	}
}

// waitHTTP polls url until it answers 200 with a body ok accepts.
func waitHTTP(t *testing.T, url string, ok func(string) bool) string {
	t.Helper()
	var last string
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(waitTimeout)
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close() // read-only body, fully read
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
			if resp.StatusCode == http.StatusOK && ok(string(b)) {
				return strings.TrimSpace(string(b))
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			if len(last) > 2000 {
				last = last[:2000]
			}
			t.Fatalf("%s: no good answer within %s; last: %s", url, waitTimeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, waitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Every controller.Options field but the test hooks is a flag, documented
// in docs/controller.md, and the flags' defaults are Options' defaults.
func TestEveryOptionIsAFlag(t *testing.T) {
	flagOf := map[string]string{
		"Namespace": "namespace", "VeleroNamespace": "velero-namespace", "VeleroCredentialsSecret": "velero-credentials-secret",
		"ClusterID": "cluster-id", "TargetCheckInterval": "target-check-interval", "TargetRetryInterval": "target-retry-interval",
		"TargetProbeTimeout": "target-probe-timeout", "MaxConcurrentSeals": "max-concurrent-seals", "SealConcurrency": "seal-concurrency", "BackupDeadline": "backup-deadline",
		"MaxConcurrentDrills": "max-concurrent-drills", "DrillSweepInterval": "drill-sweep-interval", "AuditActor": "audit-actor",
		"VolumeReaderImage": "volume-reader-image",
	}
	hooks := map[string]bool{"Clock": true, "SkipNameValidation": true}
	doc, err := os.ReadFile(filepath.Join(testbed.RepoRoot(t), "docs", "controller.md"))
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	bindOptions(fs, &controller.Options{})
	for field := range reflect.TypeFor[controller.Options]().Fields() {
		if hooks[field.Name] {
			continue
		}
		name, ok := flagOf[field.Name]
		switch {
		case !ok:
			t.Errorf("controller.Options.%s has no flag", field.Name)
		case name != "namespace" && fs.Lookup(name) == nil:
			t.Errorf("controller.Options.%s: no flag --%s", field.Name, name)
		case !strings.Contains(string(doc), "`--"+name+"`"):
			t.Errorf("docs/controller.md does not document --%s", name)
		}
	}

	t.Setenv("POD_NAMESPACE", "safekeep-system")
	t.Setenv("SERVICE_ACCOUNT_NAME", "")
	f, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d := f.opts.WithDefaults(); d.Clock == nil || func() bool { d.Clock = nil; return d != f.opts }() {
		t.Errorf("flag defaults %+v differ from Options' defaults %+v", f.opts, d)
	}
	f, err = parseFlags([]string{"--velero-namespace=v", "--velero-credentials-secret=creds", "--cluster-id=prod-eu-1",
		"--target-check-interval=1m", "--target-retry-interval=2s", "--target-probe-timeout=3s", "--max-concurrent-seals=5",
		"--seal-concurrency=6", "--backup-deadline=9h", "--max-concurrent-drills=7", "--drill-sweep-interval=8m", "--audit-actor=ops"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := controller.Options{
		Namespace: "safekeep-system", VeleroNamespace: "v", VeleroCredentialsSecret: "creds", ClusterID: "prod-eu-1",
		TargetCheckInterval: time.Minute, TargetRetryInterval: 2 * time.Second, TargetProbeTimeout: 3 * time.Second,
		MaxConcurrentSeals: 5, SealConcurrency: 6, BackupDeadline: 9 * time.Hour, MaxConcurrentDrills: 7, DrillSweepInterval: 8 * time.Minute, AuditActor: "ops",
	}
	if f.opts != want {
		t.Errorf("parsed %+v, want %+v", f.opts, want)
	}
}
