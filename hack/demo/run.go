package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/cli"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	appNamespace  = "phi-app"
	ctlNamespace  = "safekeep-system"
	veleroBucket  = "velero"
	offsiteBucket = "offsite"
	targetName    = "offsite"
	scheduleName  = "phi-app-every-minute"
	// firstSealTimeout covers the wait for the cron (a minute) and the run.
	firstSealTimeout = 3 * time.Minute
)

// run is the demo, step by step; each step prints what it did.
func run(r *runner, dir string) {
	start := time.Now()
	step("Starting the local test bed: VersityGW (S3), etcd + kube-apiserver, the Velero %s", "server")
	s3 := testbed.StartS3(r)
	s3.CreateBucket(r, veleroBucket, false)
	s3.CreateBucket(r, offsiteBucket, true)
	cp := testbed.StartControlPlane(r, testbed.WithCRDs(filepath.Join(testbed.RepoRoot(r), "deploy", "crd")))
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := testbed.WriteKubeconfig(cp.Config, kubeconfig); err != nil {
		r.Fatalf("kubeconfig: %v", err)
	}
	velero := testbed.StartVelero(r, cp, s3, veleroBucket)
	fmt.Printf("    S3 at %s: bucket %q for Velero, %q object-locked for Safekeep\n", s3.Endpoint, veleroBucket, offsiteBucket)
	files := writeFiles(r, dir, s3)
	setenv(r, map[string]string{"KUBECONFIG": kubeconfig, "AWS_ACCESS_KEY_ID": s3.AccessKey, "AWS_SECRET_ACCESS_KEY": s3.SecretKey})

	step("Starting safekeep-controller against it (namespace %s)", ctlNamespace)
	startController(r, dir, kubeconfig, ctlNamespace)

	step("Creating a PHI-like application in namespace %s", appNamespace)
	marker := "patient-db-password-" + randomHex(8)
	create(r, cp.Client, sample.PHIApp(appNamespace, marker)...)
	fmt.Println("    ConfigMap, Secret, Deployment, Service, PersistentVolumeClaim")

	step("Making keys: an age identity (kept off the cluster) and an ed25519 signing %s", "key")
	recipient := regexp.MustCompile(`age1[0-9a-z]+`).FindString(safekeep(r, "keygen", "-o", files.identity))
	safekeep(r, "keygen", "--signing", "-o", files.signingKey)
	signingPEM, err := os.ReadFile(files.signingKey)
	if err != nil {
		r.Fatalf("signing key: %v", err)
	}

	step("Creating an OffsiteTarget and a BackupSchedule that fires every %s", "minute")
	create(r, cp.Client, sample.Offsite{
		Namespace: ctlNamespace, Name: targetName, Endpoint: s3.Endpoint, Bucket: offsiteBucket, Prefix: "cluster-a",
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Recipients: []string{recipient}, SigningKeyPEM: signingPEM,
		ObjectLock: &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1},
	}.Objects()...)
	create(r, cp.Client, &v1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: scheduleName, Namespace: ctlNamespace},
		Spec: v1alpha1.BackupScheduleSpec{
			Schedule:         "* * * * *",
			Template:         v1alpha1.BackupTemplate{IncludedNamespaces: []string{appNamespace}},
			OffsiteTargetRef: corev1.LocalObjectReference{Name: targetName},
			Retention:        &v1alpha1.RetentionPolicy{KeepLast: 5},
		},
	})
	target := waitTargetReady(r, cp.Client)
	fmt.Printf("    OffsiteTarget %s: Ready (%s)\n", targetName, target)

	step("Waiting for the first run: Velero backs up %s, the controller seals it offsite", appNamespace)
	sealed := waitFirstSeal(r, cp.Client)
	fmt.Printf("    sealed %s\n", sealed)
	showOffsiteBackups(r, cp.Client)

	step("What a responder or auditor sees in the bucket (no cluster state %s)", "needed")
	safekeep(r, "backups", "--target", targetName, "-n", ctlNamespace)
	safekeep(r, "verify", "--target", targetName, "-n", ctlNamespace, "--backup", scheduleName+"/"+sealed, "--identity", files.identity)
	restored := filepath.Join(dir, "restored")
	safekeep(r, "restore", "--target", targetName, "-n", ctlNamespace, "--backup", scheduleName+"/"+sealed,
		"--identity", files.identity, "--to-dir", restored)

	step("Checking that the Secret's value never left in %s", "plaintext")
	if n := scanOffsite(r, s3, marker); n > 0 {
		r.Fatalf("%d offsite objects contain the Secret's value", n)
	}
	fmt.Println("    no offsite object contains it")

	step("Proving the copy restores: a RestoreDrill, run now with `safekeep drill %s`", "run")
	runDrill(r, cp.Client, s3, velero, files.identity)

	fmt.Printf("\nDone in %s: scheduled, backed up, sealed offsite, verified, restored, drilled.\n", time.Since(start).Round(time.Second))
	if r.keep {
		fmt.Printf("\nThe test bed and the controller stay up; a new backup is sealed every minute. Look around:\n")
		fmt.Printf("  export KUBECONFIG=%s\n", kubeconfig)
		fmt.Printf("  kubectl get backupschedules,offsitebackups,offsitetargets,restoredrills -n %s   # bin/kubectl\n", ctlNamespace)
		fmt.Printf("  set -a; . %s; set +a; unset AWS_CA_BUNDLE\n", files.credentials)
		fmt.Printf("  go run ./cmd/safekeep backups --target %s -n %s\n", targetName, ctlNamespace)
		fmt.Printf("  age -d -i %s FILE.age   # every sealed object is a standard age file\n", files.identity)
		fmt.Println("Stop it with Ctrl-C here or `make demo-down` elsewhere.")
	}
}

func step(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}

func create(r *runner, c client.Client, objs ...client.Object) {
	for _, obj := range objs {
		if err := c.Create(r.Context(), obj); err != nil {
			r.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}
}

// setenv sets what the in-process CLI reads: the kubeconfig and the S3
// credentials of file mode. AWS_CA_BUNDLE would break plain-HTTP S3.
func setenv(r *runner, env map[string]string) {
	for k, v := range env {
		if err := os.Setenv(k, v); err != nil {
			r.Fatalf("setenv: %v", err)
		}
	}
	for _, k := range []string{"AWS_CA_BUNDLE", "AWS_PROFILE"} {
		if err := os.Unsetenv(k); err != nil {
			r.Fatalf("unsetenv: %v", err)
		}
	}
}

func waitTargetReady(r *runner, c client.Client) string {
	var reason string
	poll(r, "the OffsiteTarget to be Ready", time.Minute, func(ctx context.Context) (bool, error) {
		t := &v1alpha1.OffsiteTarget{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: targetName}, t); err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionReady)
		if cond == nil {
			return false, nil
		}
		reason = cond.Reason
		return cond.Status == metav1.ConditionTrue, nil
	})
	return reason
}

func waitFirstSeal(r *runner, c client.Client) string {
	var sealed string
	poll(r, "the first sealed backup", firstSealTimeout, func(ctx context.Context) (bool, error) {
		s := &v1alpha1.BackupSchedule{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: scheduleName}, s); err != nil {
			return false, err
		}
		sealed = s.Status.LastSealedBackup
		return sealed != "", nil
	})
	return sealed
}

func showOffsiteBackups(r *runner, c client.Client) {
	var list v1alpha1.OffsiteBackupList
	if err := c.List(r.Context(), &list, client.InNamespace(ctlNamespace)); err != nil {
		r.Fatalf("list OffsiteBackups: %v", err)
	}
	for _, ob := range list.Items {
		fmt.Printf("    OffsiteBackup %s: %d objects, %d bytes plaintext, %d bytes ciphertext, seal %s\n",
			ob.Name, ob.Status.Objects, ob.Status.PlaintextBytes, ob.Status.CiphertextBytes, ob.Status.SealDigest)
	}
}

// poll checks cond every half second until it holds or timeout passes.
func poll(r *runner, what string, timeout time.Duration, cond func(context.Context) (bool, error)) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond(r.Context())
		if ok {
			return
		}
		lastErr = err
		select {
		case <-r.Context().Done():
			r.Fatalf("interrupted while waiting for %s", what)
		case <-time.After(500 * time.Millisecond):
		}
	}
	r.Fatalf("no %s within %s (last error: %v); see controller.log", what, timeout, lastErr)
}

// safekeep runs the CLI in-process, showing the command and its output.
func safekeep(r *runner, args ...string) string {
	fmt.Printf("    $ safekeep %s\n", strings.Join(shorten(args), " "))
	var out, errOut strings.Builder
	code := cli.Run(r.Context(), args, cli.Streams{Out: &out, Err: &errOut})
	for line := range strings.Lines(out.String()) {
		if !strings.Contains(line, "AGE-SECRET-KEY") {
			fmt.Print("      " + line)
		}
	}
	if code != 0 {
		r.Fatalf("safekeep %s: exit %d: %s", args[0], code, strings.TrimSpace(errOut.String()))
	}
	return out.String()
}

// shorten prints file arguments by base name so the commands stay readable.
func shorten(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if filepath.IsAbs(a) {
			out[i] = filepath.Base(a)
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
