package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	slWorkload = "phi-leakcheck"
	slBucket   = "offsite-leakcheck" // object-locked
	slStaging  = "leakcheck-staging"
	slPrefix   = "cluster-l"
	slSchedule = "leakcheck-nightly"
	slDrill    = "leakcheck-weekly"
	// slConfigMap holds the ConfigMap marker in the workload.
	slConfigMap = "clinic-notes"
)

// TestSecretLeaks runs the whole flow on the real stack (envtest, VersityGW,
// the real Velero server, safekeep-controller as a process with the RBAC
// and admission policies of deploy/): a schedule's backup sealed, the seal
// verified, a restore by a responder, a drill, the audit reports. The
// secrets it uses are known (the S3 credentials, the age identities, the
// seal and audit signing keys, the responder's restore key, Velero's repository
// password when there is one), and every output is searched for them: the
// controller's log, Events, every Safekeep object (conditions, status),
// metrics, the CLI's output, every object in the offsite bucket (audit log
// included, every version) and the reports. A plaintext marker planted in a
// backed-up Secret and in a backed-up ConfigMap must not appear anywhere
// offsite, as is, base64-encoded or inside gzip; the control is that the
// scan finds both in Velero's own (plaintext) bucket.
func TestSecretLeaks(t *testing.T) {
	ctx := t.Context()
	b := startBed(t, bedSpec{buckets: map[string]bool{slBucket: true}, staging: []string{slStaging}, crds: true})
	s3, cp, c := b.s3, b.cp, b.cp.Client
	dir := t.TempDir()
	bin := buildController(t, dir)
	sk := newCLI(t, s3)
	var cliOut strings.Builder // every CLI output, scanned last
	run := func(args ...string) string {
		t.Helper()
		stdout, stderr, err := sk.run(t, args...)
		fmt.Fprintf(&cliOut, "$ safekeep %s\n%s%s", strings.Join(args, " "), stdout, stderr)
		if err != nil {
			t.Fatalf("safekeep %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout, stderr)
		}
		return stdout
	}

	ageKey := regexp.MustCompile(`age1[0-9a-z]+`)
	identity, breakGlass := dir+"/identity.txt", dir+"/break-glass.txt"
	recipient := ageKey.FindString(run("keygen", "-o", identity))
	breakGlassRecipient := ageKey.FindString(run("keygen", "-o", breakGlass))
	signingKey, auditKey, restoreKey := dir+"/signing.key", dir+"/audit.key", dir+"/restore.key"
	var auditKeys []string // public halves of the audit and restore keys
	for _, f := range []string{signingKey, auditKey, restoreKey} {
		run("keygen", "--signing", "-o", f)
		k, err := crypto.ParseSigningKey(readFile(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if f != signingKey {
			auditKeys = append(auditKeys, k.Public().String())
		}
	}

	secretMarker, configMarker := "PHI-SECRET-"+randomHex(t, 16), "PHI-CONFIG-"+randomHex(t, 16)
	createWorkload(t, c, slWorkload, secretMarker)
	notes := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: slConfigMap, Namespace: slWorkload},
		Data: map[string]string{"intake": "patient note " + configMarker}}
	if err := c.Create(ctx, notes); err != nil {
		t.Fatal(err)
	}
	objs := (sample.Offsite{
		Namespace: ctlNamespace, Name: "offsite", Endpoint: s3.Endpoint, Bucket: slBucket, Prefix: slPrefix,
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Recipients: []string{recipient, breakGlassRecipient},
		SigningKeyPEM: readFile(t, signingKey),
		ObjectLock:    &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1},
	}).Objects()
	tgt := objs[len(objs)-1].(*v1alpha1.OffsiteTarget) //nolint:forcetypeassert // Objects ends with the target
	tgt.Spec.AuditKeys = auditKeys
	tgt.Spec.AuditKeySecretRef = &corev1.LocalObjectReference{Name: "safekeep-audit"}
	tgt.Spec.Policy = &v1alpha1.TargetPolicy{Namespaces: []string{"phi-*"}}
	objs = append(objs,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "safekeep-audit", Namespace: ctlNamespace},
			Data: map[string][]byte{"audit.key": readFile(t, auditKey)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "drill-identity", Namespace: ctlNamespace},
			Data: map[string][]byte{"identity": readFile(t, identity)}},
		&v1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: slSchedule, Namespace: ctlNamespace},
			Spec: v1alpha1.BackupScheduleSpec{
				Schedule: "0 3 1 1 *", Template: v1alpha1.BackupTemplate{IncludedNamespaces: []string{slWorkload}},
				OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
			}},
		&v1alpha1.RestoreDrill{ObjectMeta: metav1.ObjectMeta{Name: slDrill, Namespace: ctlNamespace},
			Spec: v1alpha1.RestoreDrillSpec{
				Schedule: "0 3 1 1 *", BackupScheduleRef: corev1.LocalObjectReference{Name: slSchedule},
				IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "drill-identity"}, Staging: slStaging,
			}})
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	ctl := startController(t, bin, asServiceAccount(t, b))
	waitFor(t, "the schedule and the drill Ready", 2*time.Minute, func(ctx context.Context) (bool, error) {
		s, d := &v1alpha1.BackupSchedule{}, &v1alpha1.RestoreDrill{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: slSchedule}, s); err != nil {
			return false, err
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: slDrill}, d); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionReady) &&
			meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReady), nil
	})

	// The flow: backup, seal, verify, restore, drill, report.
	kube := []string{"-n", ctlNamespace, "--kubeconfig", cp.Kubeconfig}
	out := run(append([]string{"backup", "now", slSchedule, "--timeout", runTimeout.String()}, kube...)...)
	m := regexp.MustCompile(`sealed velero/(\S+):`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("backup now printed no sealed backup:\n%s", out)
	}
	ref := slSchedule + "/" + m[1]
	targetFile := targetManifest{endpoint: s3.Endpoint, bucket: slBucket, prefix: slPrefix, recipients: []string{recipient, breakGlassRecipient},
		signingPublicKey: tgt.Spec.SigningPublicKey, auditKeys: auditKeys}.write(t, dir)
	run("verify", "--target-file", targetFile, "--backup", ref, "--identity", breakGlass)
	run("restore", "--target-file", targetFile, "--backup", ref, "--identity", breakGlass,
		"--to-dir", filepath.Join(dir, "restored"), "--signing-key", restoreKey)
	out = run(append([]string{"drill", "run", slDrill, "--timeout", dcTimeout.String()}, kube...)...)
	if d := dcDrill(t, c, slDrill); d.Status.LastRun == nil || d.Status.LastRun.Result != v1alpha1.DrillRunPassed {
		t.Fatalf("the drill did not pass:\n%s", out)
	}
	run("audit", "verify", "--target-file", targetFile)
	reports := map[string][]byte{}
	for _, format := range []string{"json", "html", "csv", "md"} {
		path := filepath.Join(dir, "report."+format)
		run("audit", "report", "--target-file", targetFile, "--format", format, "-o", path)
		reports["report."+format] = readFile(t, path)
	}

	// What must never show.
	secrets := map[string]string{
		"S3 access key":           s3.AccessKey,
		"S3 secret key":           s3.SecretKey,
		"drill identity":          identityLine(t, identity),
		"break-glass identity":    identityLine(t, breakGlass),
		"seal signing key":        pemBody(t, signingKey),
		"audit signing key":       pemBody(t, auditKey),
		"restore signing key":     pemBody(t, restoreKey),
		"any age identity":        "AGE-SECRET-KEY-",
		"any private key PEM":     "PRIVATE KEY-----",
		"Velero repository pass.": repositoryPassword(t, c),
	}
	if secrets["Velero repository pass."] == "" {
		delete(secrets, "Velero repository pass.") // no kopia repository: no volume data in this flow
	}
	outputs := map[string][]byte{
		"controller log": []byte(ctl.log.String()),
		"metrics":        []byte(ctl.metrics(t)),
		"CLI output":     []byte(cliOut.String()),
	}
	maps.Copy(outputs, reports)
	maps.Copy(outputs, clusterOutputs(t, c))
	offsite := allVersions(t, s3.Minio(t), slBucket)
	if len(offsite) == 0 {
		t.Fatal("nothing offsite to scan")
	}
	audits := 0
	for key, body := range offsite {
		outputs["offsite "+key] = body
		if strings.Contains(key, "/audit/") {
			audits++
		}
	}
	t.Logf("scanning %d outputs (%d offsite objects, %d of them audit entries) for %d secrets and 2 markers",
		len(outputs), len(offsite), audits, len(secrets))
	if audits < 4 {
		t.Errorf("%d audit entries offsite, want the target's, the seal's, the restore's and the drill's", audits)
	}
	for _, leak := range scanLeaks(outputs, secrets) {
		t.Errorf("leak: %s", leak)
	}
	markers := map[string]string{"Secret marker": secretMarker, "ConfigMap marker": configMarker}
	for _, leak := range scanLeaks(offsiteOnly(outputs), markers) {
		t.Errorf("plaintext offsite: %s", leak)
	}
	// The control: Velero's own bucket is plaintext, so the scan must find
	// both markers there, or it could not find them offsite either.
	primary := allVersions(t, s3.Minio(t), veleroBucket)
	if found := scanLeaks(prefixed("primary ", primary), markers); len(found) < len(markers) {
		t.Errorf("the scan found %v in Velero's plaintext bucket, want both markers: it cannot see a leak", found)
	}
}

// scanLeaks returns "<what> in <output>" for each secret found in an
// output, as is, base64-encoded or inside gzip (sample.ContainsMarker).
func scanLeaks(outputs map[string][]byte, secrets map[string]string) []string {
	var leaks []string
	for _, name := range slices.Sorted(maps.Keys(outputs)) {
		for _, what := range slices.Sorted(maps.Keys(secrets)) {
			if containsMarker(outputs[name], secrets[what], 3) {
				leaks = append(leaks, what+" in "+name)
			}
		}
	}
	return leaks
}

// offsiteOnly keeps the outputs read from the offsite bucket.
func offsiteOnly(outputs map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range outputs {
		if strings.HasPrefix(k, "offsite ") {
			out[k] = v
		}
	}
	return out
}

// prefixed returns m with prefix before each key.
func prefixed(prefix string, m map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[prefix+k] = v
	}
	return out
}

// allVersions reads every version of every object in bucket (delete
// markers have no body), keyed "<key>@<version>".
func allVersions(t *testing.T, mc *minio.Client, bucket string) map[string][]byte {
	t.Helper()
	ctx := t.Context()
	out := map[string][]byte{}
	for info := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if info.Err != nil {
			t.Fatalf("list %s: %v", bucket, info.Err)
		}
		if info.IsDeleteMarker {
			continue
		}
		opts := minio.GetObjectOptions{VersionID: info.VersionID}
		if info.VersionID == "null" { // a bucket without versioning
			opts.VersionID = ""
		}
		obj, err := mc.GetObject(ctx, bucket, info.Key, opts)
		if err != nil {
			t.Fatalf("get %s/%s: %v", bucket, info.Key, err)
		}
		body, err := io.ReadAll(obj)
		_ = obj.Close() // read-only, fully read
		if err != nil {
			t.Fatalf("read %s/%s: %v", bucket, info.Key, err)
		}
		out[info.Key+"@"+info.VersionID] = body
	}
	return out
}

// clusterOutputs are what the cluster shows of Safekeep: every Event, and
// every Safekeep object whole (spec, status, conditions), as JSON.
func clusterOutputs(t *testing.T, c client.Client) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, list := range map[string]client.ObjectList{
		"Events (events.k8s.io)": &eventsv1.EventList{},
		"Events (core)":          &corev1.EventList{},
		"OffsiteTargets":         &v1alpha1.OffsiteTargetList{},
		"BackupSchedules":        &v1alpha1.BackupScheduleList{},
		"RestoreDrills":          &v1alpha1.RestoreDrillList{},
		"OffsiteBackups":         &v1alpha1.OffsiteBackupList{},
	} {
		if err := c.List(t.Context(), list); err != nil {
			t.Fatalf("list %s: %v", name, err)
		}
		if n := meta.LenList(list); n == 0 && name != "Events (core)" {
			t.Errorf("no %s to scan", name)
		}
		b, err := json.Marshal(list)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// identityLine is the AGE-SECRET-KEY- line of an identity file.
func identityLine(t *testing.T, path string) string {
	t.Helper()
	for line := range strings.Lines(string(readFile(t, path))) {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			return line
		}
	}
	t.Fatalf("%s holds no age identity", path)
	return ""
}

// pemBody is the base64 body of a PEM file, on one line.
func pemBody(t *testing.T, path string) string {
	t.Helper()
	var body strings.Builder
	for line := range strings.Lines(string(readFile(t, path))) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "-----") {
			body.WriteString(line)
		}
	}
	if body.Len() < 40 {
		t.Fatalf("%s holds no PEM body", path)
	}
	return body.String()
}

// repositoryPassword is Velero's kopia repository password, or "" when
// Velero has not made one.
func repositoryPassword(t *testing.T, c client.Client) string {
	t.Helper()
	s := &corev1.Secret{}
	err := c.Get(t.Context(), client.ObjectKey{Namespace: testbed.VeleroNamespace, Name: "velero-repo-credentials"}, s)
	if err != nil {
		t.Logf("no Velero repository password to look for: %v", err)
		return ""
	}
	return string(s.Data["repository-password"])
}
