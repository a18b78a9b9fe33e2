package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/wait"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	benchSchedules = 500
	benchNamespace = "safekeep-system" // the controller's: targets, Secrets, schedules
	// Targets (issue 3).
	targetLatency = 5 * time.Second
	targetRSSMiB  = 150.0
)

// BenchmarkSchedulesDueTogether: 500 BackupSchedules in one namespace, all
// due at the same minute, against safekeep-controller running as a
// process on an envtest control plane (no Velero server: the Backups only
// need to be created). Each iteration creates a fresh set due at the next
// usable minute and measures, from the Velero Backups' creationTimestamps
// (1 s resolution) and from a watch (ms resolution), how late after the
// due time the last one was created; after the loop, the controller's peak
// RSS (the kernel's VmHWM of its memory). Targets: every Backup within 5 s of the due
// time, peak RSS under 150 MiB. Run with -benchtime=1x (each iteration
// waits for a minute boundary).
func BenchmarkSchedulesDueTogether(b *testing.B) {
	ctx := b.Context()
	logf.SetLogger(logr.Discard()) // the benchmark's own Backup watch
	root := testbed.RepoRoot(b)
	s3 := testbed.StartS3(b)
	s3.CreateBucket(b, "offsite", false)
	cp := testbed.StartControlPlane(b, testbed.WithCRDs(filepath.Join(root, "deploy", "crd")))
	cp.InstallCRDs(b, testbed.VeleroCRDPaths(b)...)
	c := cp.Client
	benchTarget(b, c, s3)

	bin := buildController(b, b.TempDir())
	ctl := startControllerProcess(b, bin, cp.Kubeconfig)
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		t := &v1alpha1.OffsiteTarget{}
		err := c.Get(ctx, client.ObjectKey{Namespace: benchNamespace, Name: "offsite"}, t)
		return err == nil && meta.IsStatusConditionTrue(t.Status.Conditions, v1alpha1.ConditionReady), nil
	})
	if err != nil {
		b.Fatalf("OffsiteTarget not Ready: %v\n%s", err, ctl.out.Tail(8<<10))
	}
	seen := watchBackups(b, cp)

	var worstCreate, worstSeen time.Duration
	for round := 0; b.Loop(); round++ {
		r := runRound(b, c, seen, round)
		b.Logf("round %d: %d schedules due at %s; Backups created: last at +%s by creationTimestamp (1 s resolution), "+
			"seen by a watch at p50 +%s, max +%s; schedules reconciled before the due time: %d",
			round, benchSchedules, r.due.Format(time.TimeOnly), r.maxCreate, r.p50Seen.Round(time.Millisecond),
			r.maxSeen.Round(time.Millisecond), r.readyBefore)
		worstCreate, worstSeen = max(worstCreate, r.maxCreate), max(worstSeen, r.maxSeen)
	}
	// Peak RSS from the kernel's own high-water mark of the controller's
	// memory (VmHWM), read before it stops. Its rusage ru_maxrss is only an
	// upper bound: Go starts children with vfork, and Linux folds the test
	// binary's RSS at exec into the child's ru_maxrss.
	hwm := ctl.highWater(b)
	maxrss, cpu := ctl.stop(b)
	b.ReportMetric(worstCreate.Seconds(), "s-last-created")
	b.ReportMetric(worstSeen.Seconds(), "s-last-seen")
	b.ReportMetric(hwm, "MiB-peak-RSS")
	b.Logf("safekeep-controller, %d BackupSchedules due together, %d rounds:\n  %s\n  %s\n  (rusage ru_maxrss %.1f MiB, an upper bound); CPU %.1f s in all",
		benchSchedules, b.N,
		verdict("last Backup created after due (s)", worstCreate.Seconds(), targetLatency.Seconds()),
		verdict("peak RSS, VmHWM (MiB)", hwm, targetRSSMiB), maxrss, cpu.Seconds())
}

// roundResult is what one round measured.
type roundResult struct {
	due                         time.Time
	maxCreate, maxSeen, p50Seen time.Duration
	readyBefore                 int
}

// runRound creates benchSchedules schedules due at the next usable minute
// and waits until each has its Velero Backup.
func runRound(b *testing.B, c client.Client, seen *seenBackups, round int) roundResult {
	ctx := b.Context()
	now := time.Now().UTC()
	due := now.Truncate(time.Minute).Add(time.Minute)
	if due.Sub(now) < 40*time.Second { // time to create and reconcile them all
		due = due.Add(time.Minute)
	}
	cron := fmt.Sprintf("%d %d %d %d *", due.Minute(), due.Hour(), due.Day(), int(due.Month()))
	names := make([]string, benchSchedules)
	for i := range names {
		names[i] = fmt.Sprintf("r%d-s%03d", round, i)
	}
	createAll(b, c, names, cron)

	// Before the due time: how many has the controller looked at?
	time.Sleep(time.Until(due.Add(-2 * time.Second)))
	var list v1alpha1.BackupScheduleList
	if err := c.List(ctx, &list, client.InNamespace(benchNamespace)); err != nil {
		b.Fatal(err)
	}
	ready := 0
	for _, s := range list.Items {
		if n := s.Status.NextScheduleTime; n != nil && n.Time.Equal(due) {
			ready++
		}
	}

	want := map[string]bool{}
	for _, n := range names {
		want[v1alpha1.BackupName(benchNamespace, n, due)] = true
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Until(due.Add(2*time.Minute)), false, func(ctx context.Context) (bool, error) {
		return seen.count(want) == len(want), nil
	})
	if err != nil {
		b.Fatalf("only %d of %d Velero backups created within 2 minutes of the due time", seen.count(want), len(want))
	}
	var backups velerov1.BackupList
	if err := c.List(ctx, &backups, client.InNamespace(testbed.VeleroNamespace)); err != nil {
		b.Fatal(err)
	}
	res := roundResult{due: due, readyBefore: ready}
	for _, bk := range backups.Items {
		if want[bk.Name] {
			res.maxCreate = max(res.maxCreate, bk.CreationTimestamp.Sub(due))
		}
	}
	lat := seen.latencies(want, due)
	res.maxSeen, res.p50Seen = lat[len(lat)-1], lat[len(lat)/2]
	return res
}

// createAll creates the schedules, a few at a time.
func createAll(b *testing.B, c client.Client, names []string, cron string) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	sem := make(chan struct{}, 16)
	for _, n := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			s := &v1alpha1.BackupSchedule{
				ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: benchNamespace},
				Spec: v1alpha1.BackupScheduleSpec{
					Schedule:         cron,
					Template:         v1alpha1.BackupTemplate{IncludedNamespaces: []string{"*"}}, // named ones must exist
					OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
				},
			}
			if err := c.Create(b.Context(), s); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("create schedule: %v", err)
	}
	b.Logf("created %d schedules in %s", len(names), time.Since(start).Round(time.Millisecond))
}

// benchTarget creates the namespaces, the OffsiteTarget and its Secrets.
func benchTarget(b *testing.B, c client.Client, s3 *testbed.S3Server) {
	id, err := crypto.GenerateIdentity()
	if err != nil {
		b.Fatal(err)
	}
	signer, err := crypto.GenerateSigningKey()
	if err != nil {
		b.Fatal(err)
	}
	pem, err := signer.MarshalPEM()
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testbed.VeleroNamespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}},
		// A schedule whose location does not exist is not Ready.
		&velerov1.BackupStorageLocation{
			ObjectMeta: metav1.ObjectMeta{Namespace: testbed.VeleroNamespace, Name: "default"},
			Spec: velerov1.BackupStorageLocationSpec{Provider: "aws", Default: true,
				StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: "velero"}}},
		},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "offsite-credentials", Namespace: benchNamespace},
			Data: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte(s3.AccessKey), "AWS_SECRET_ACCESS_KEY": []byte(s3.SecretKey)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "signing", Namespace: benchNamespace}, Data: map[string][]byte{"signing.key": pem}},
		&v1alpha1.OffsiteTarget{
			ObjectMeta: metav1.ObjectMeta{Name: "offsite", Namespace: benchNamespace},
			Spec: v1alpha1.OffsiteTargetSpec{
				S3: v1alpha1.S3Location{Endpoint: s3.Endpoint, Bucket: "offsite", Region: "us-east-1",
					CredentialsSecretRef: &corev1.LocalObjectReference{Name: "offsite-credentials"}},
				Recipients:          []string{id.Recipient().String()},
				SigningKeySecretRef: corev1.LocalObjectReference{Name: "signing"},
			},
		},
	} {
		if err := c.Create(b.Context(), o); err != nil {
			b.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// seenBackups records when a watch first saw each Velero Backup.
type seenBackups struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (s *seenBackups) count(want map[string]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for name := range want {
		if _, ok := s.at[name]; ok {
			n++
		}
	}
	return n
}

// latencies returns, sorted, how long after due each wanted Backup was seen.
func (s *seenBackups) latencies(want map[string]bool, due time.Time) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for name := range want {
		out = append(out, s.at[name].Sub(due))
	}
	slices.Sort(out)
	return out
}

// watchBackups starts an informer on the controller's Velero Backups.
func watchBackups(b *testing.B, cp *testbed.ControlPlane) *seenBackups {
	owned, err := labels.NewRequirement(v1alpha1.LabelSchedule, selection.Exists, nil)
	if err != nil {
		b.Fatal(err)
	}
	ca, err := cache.New(cp.Config, cache.Options{
		Scheme:               cp.Scheme,
		DefaultNamespaces:    map[string]cache.Config{testbed.VeleroNamespace: {}},
		DefaultLabelSelector: labels.NewSelector().Add(*owned),
	})
	if err != nil {
		b.Fatal(err)
	}
	inf, err := ca.GetInformer(b.Context(), &velerov1.Backup{})
	if err != nil {
		b.Fatal(err)
	}
	seen := &seenBackups{at: map[string]time.Time{}}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		now := time.Now()
		if o, ok := obj.(client.Object); ok {
			seen.mu.Lock()
			if _, dup := seen.at[o.GetName()]; !dup {
				seen.at[o.GetName()] = now
			}
			seen.mu.Unlock()
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = ca.Start(b.Context()) }()
	if !ca.WaitForCacheSync(b.Context()) {
		b.Fatal("the Backup watch did not sync")
	}
	return seen
}

// controllerProc is safekeep-controller running as a child process.
type controllerProc struct {
	cmd  *exec.Cmd
	out  *testbed.SyncBuffer
	done chan struct{}
}

func buildController(b *testing.B, dir string) string {
	out := filepath.Join(dir, "safekeep-controller")
	cmd := exec.CommandContext(b.Context(), "go", "build", "-o", out, "./cmd/safekeep-controller")
	cmd.Dir = testbed.RepoRoot(b)
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build safekeep-controller: %v\n%s", err, o)
	}
	return out
}

func startControllerProcess(b *testing.B, bin, kubeconfig string) *controllerProc {
	probe := "127.0.0.1:" + strconv.Itoa(testbed.FreePort(b))
	p := &controllerProc{out: &testbed.SyncBuffer{}, done: make(chan struct{})}
	// Not CommandContext: stop ends it with SIGTERM, to read its rusage.
	p.cmd = exec.Command(bin, "--kubeconfig", kubeconfig, "--namespace", benchNamespace, //nolint:noctx // see above
		"--velero-namespace", testbed.VeleroNamespace, "--metrics-bind-address", "0", "--health-probe-bind-address", probe)
	p.cmd.Env = testbed.ChildEnv("HOME=" + b.TempDir())
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	b.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	err := wait.PollUntilContextTimeout(b.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case <-p.done:
			return false, fmt.Errorf("exited")
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+probe+"/readyz", nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		b.Fatalf("safekeep-controller not ready: %v\n%s", err, p.out.Tail(8<<10))
	}
	return p
}

// highWater reads the process's peak RSS so far (VmHWM), in MiB: the
// high-water mark of its own memory since exec.
func (p *controllerProc) highWater(b *testing.B) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("peak RSS: %v", err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatalf("peak RSS: VmHWM %q: %v", rest, err)
			}
			return kb / 1024
		}
	}
	b.Fatal("peak RSS: no VmHWM in /proc/PID/status")
	return 0
}

// stop ends the process (SIGTERM) and returns its ru_maxrss in MiB (an
// upper bound of its peak RSS, see highWater's caller) and its CPU time,
// from the kernel's rusage.
func (p *controllerProc) stop(b *testing.B) (float64, time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage")
	}
	return float64(ru.Maxrss) / 1024, p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
}
