package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"

	"github.com/safekeep-dev/safekeep/internal/cli"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	namespace     = "phi-app"
	veleroBucket  = "velero"
	offsiteBucket = "offsite"
)

// run is the demo, step by step; each step prints what it did.
func run(r *runner, dir string) {
	start := time.Now()
	step("Starting the local test bed: VersityGW (S3), etcd + kube-apiserver, Velero %s", "server")
	s3 := testbed.StartS3(r)
	s3.CreateBucket(r, veleroBucket, false)
	s3.CreateBucket(r, offsiteBucket, true)
	cp := testbed.StartControlPlane(r)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := testbed.WriteKubeconfig(cp.Config, kubeconfig); err != nil {
		r.Fatalf("kubeconfig: %v", err)
	}
	velero := testbed.StartVelero(r, cp, s3, veleroBucket)
	fmt.Printf("    S3 at %s (buckets %q for Velero, %q object-locked for Safekeep)\n", s3.Endpoint, veleroBucket, offsiteBucket)
	fmt.Printf("    cluster: kubectl --kubeconfig %s get ns\n", kubeconfig)

	step("Creating a PHI-like application in namespace %s", namespace)
	marker := "patient-db-password-" + randomHex(8)
	for _, obj := range sample.PHIApp(namespace, marker) {
		if err := cp.Client.Create(r.Context(), obj); err != nil {
			r.Fatalf("create %s: %v", obj.GetName(), err)
		}
	}
	fmt.Println("    ConfigMap, Secret, Deployment, Service, PersistentVolumeClaim")

	backupName := "phi-app-" + time.Now().UTC().Format("20060102-150405")
	step("Backing it up with Velero: Backup %s", backupName)
	b := velero.Backup(r, r.Context(), backupName, velerov1.BackupSpec{IncludedNamespaces: []string{namespace}})
	fmt.Printf("    phase %s, %d items\n", b.Status.Phase, itemsBackedUp(b))
	if b.Status.Phase != velerov1.BackupPhaseCompleted {
		r.Fatalf("Velero backup ended %s", b.Status.Phase)
	}

	files := writeFiles(r, dir, s3)
	env := map[string]string{"AWS_ACCESS_KEY_ID": s3.AccessKey, "AWS_SECRET_ACCESS_KEY": s3.SecretKey}
	for k, v := range env {
		if err := os.Setenv(k, v); err != nil {
			r.Fatalf("setenv: %v", err)
		}
	}
	os.Unsetenv("AWS_CA_BUNDLE")
	os.Unsetenv("AWS_PROFILE")

	step("Making keys: an age identity (kept off the cluster) and an ed25519 signing %s", "key")
	out := safekeep(r, "keygen", "-o", files.identity)
	recipient := regexp.MustCompile(`age1[0-9a-z]+`).FindString(out)
	safekeep(r, "keygen", "--signing", "-o", files.signingKey)
	writeTarget(r, files.target, s3.Endpoint, recipient)

	step("Sealing the backup offsite: encrypt every object with age, object-lock it, sign the %s", "seal")
	safekeep(r, "seal", "--source", files.bsl, "--backup", backupName, "--target-file", files.target,
		"--schedule", "demo", "--signing-key", files.signingKey)

	step("Listing sealed backups from the bucket alone (no cluster, no %s)", "key")
	safekeep(r, "backups", "--target-file", files.target)

	step("Verifying without a key (what an auditor can do), then with the %s", "identity")
	safekeep(r, "verify", "--target-file", files.target, "--backup", "demo/"+backupName)
	safekeep(r, "verify", "--target-file", files.target, "--backup", "demo/"+backupName, "--identity", files.identity)

	restored := filepath.Join(dir, "restored")
	step("Restoring it to %s, as a responder with only a laptop would", restored)
	safekeep(r, "restore", "--target-file", files.target, "--backup", "demo/"+backupName,
		"--identity", files.identity, "--to-dir", restored)

	step("Checking that the Secret's value never left in %s", "plaintext")
	if n := scanOffsite(r, s3, marker); n > 0 {
		r.Fatalf("%d offsite objects contain the Secret's value", n)
	}
	fmt.Println("    no offsite object contains it")

	fmt.Printf("\nDone in %s: backed up, sealed offsite, verified, restored.\n", time.Since(start).Round(time.Second))
	if r.keep {
		fmt.Printf("\nThe test bed stays up; try it yourself (files in %s):\n", dir)
		fmt.Printf("  set -a; . %s; set +a; unset AWS_CA_BUNDLE\n", files.credentials)
		fmt.Printf("  go run ./cmd/safekeep backups --target-file %s\n", files.target)
		fmt.Printf("  kubectl --kubeconfig %s -n velero get backups\n", kubeconfig)
		fmt.Printf("  age -d -i %s FILE.age   # every sealed object is a standard age file\n", files.identity)
		fmt.Println("Press Ctrl-C to stop it.")
	}
}

func step(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
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

func itemsBackedUp(b *velerov1.Backup) int {
	if b.Status.Progress == nil {
		return 0
	}
	return b.Status.Progress.ItemsBackedUp
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
