package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/report"
)

const (
	evWorkload = "phi-evidence"
	evBucket   = "offsite-evidence" // object-locked
	evStaging  = "evidence-staging" // bucket and BackupStorageLocation
	evPrefix   = "cluster-e"
	evSchedule = "evidence-nightly"
	evDrill    = "evidence-weekly"
	evMaxRTO   = 10 * time.Minute
)

// TestEvidence runs the evidence chain on the real stack (envtest,
// VersityGW, the real Velero server, safekeep-controller as a process):
// an OffsiteTarget on an object-locked bucket, a backup asked for with
// `safekeep backup now` and sealed, a RestoreDrill run with `safekeep drill
// run` that passes. Then the real CLI, reading only the bucket, finds the
// audit log intact with exactly those three entries, and every report
// format shows them with exact numbers: the seal's ciphertext bytes and
// recipients, the drill's run and RTO as its status has them, a verified
// chain and seal. Last, the store's own credentials cannot overwrite or
// delete an audit entry: object lock refuses it.
func TestEvidence(t *testing.T) {
	ctx := t.Context()
	b := startBed(t, bedSpec{buckets: map[string]bool{evBucket: true}, staging: []string{evStaging}, crds: true})
	s3, cp, c := b.s3, b.cp, b.cp.Client

	dir := t.TempDir()
	bin := buildController(t, dir)
	sk := newCLI(t, s3)
	identity := dir + "/identity.txt"
	ageKey := regexp.MustCompile(`age1[0-9a-z]+`)
	recipient := ageKey.FindString(sk.ok(t, "keygen", "-o", identity))
	breakGlass := ageKey.FindString(sk.ok(t, "keygen", "-o", dir+"/break-glass.txt"))
	signingKey := dir + "/signing.key"
	sk.ok(t, "keygen", "--signing", "-o", signingKey)
	sign, err := crypto.ParseSigningKey(readFile(t, signingKey))
	if err != nil {
		t.Fatal(err)
	}
	verifyKey := sign.Public()
	wantFingerprints := []string{crypto.Fingerprint(recipient), crypto.Fingerprint(breakGlass)}
	slices.Sort(wantFingerprints)

	createWorkload(t, c, evWorkload, "PHI-MARKER-"+randomHex(t, 16))
	objs := (sample.Offsite{
		Namespace: ctlNamespace, Name: "offsite", Endpoint: s3.Endpoint, Bucket: evBucket, Prefix: evPrefix,
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Recipients: []string{recipient, breakGlass},
		SigningKeyPEM: readFile(t, signingKey),
		ObjectLock:    &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1},
	}).Objects()
	for _, o := range append(objs, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "drill-identity", Namespace: ctlNamespace},
		Data:       map[string][]byte{"identity": readFile(t, identity)},
	}) {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	ctl := startController(t, bin, cp.Kubeconfig)
	tgt := &v1alpha1.OffsiteTarget{}
	waitFor(t, "the OffsiteTarget Ready and audited", time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: "offsite"}, tgt)
		return err == nil && meta.IsStatusConditionTrue(tgt.Status.Conditions, v1alpha1.ConditionReady) &&
			tgt.Status.Audited != nil && tgt.Status.Audited.Entry > 0, err
	})
	if got := tgt.Status.Audited.Entry; got != 1 {
		t.Errorf("the target's creation is audit entry %d, want 1", got)
	}

	sched := &v1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: evSchedule, Namespace: ctlNamespace},
		Spec: v1alpha1.BackupScheduleSpec{
			Schedule:         "0 3 1 1 *", // never during the test: runs are asked for
			Template:         v1alpha1.BackupTemplate{IncludedNamespaces: []string{evWorkload}},
			OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
		},
	}
	drill := &v1alpha1.RestoreDrill{
		ObjectMeta: metav1.ObjectMeta{Name: evDrill, Namespace: ctlNamespace},
		Spec: v1alpha1.RestoreDrillSpec{
			Schedule:          "0 3 1 1 *",
			BackupScheduleRef: corev1.LocalObjectReference{Name: evSchedule},
			IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "drill-identity"},
			Staging:           evStaging,
			Checks:            v1alpha1.DrillChecks{MaxRTO: &v1alpha1.Duration{Duration: evMaxRTO}},
		},
	}
	for _, o := range []client.Object{sched, drill} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	waitFor(t, "the schedule and the drill Ready", time.Minute, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(sched), sched); err != nil {
			return false, err
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(drill), drill); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(sched.Status.Conditions, v1alpha1.ConditionReady) &&
			meta.IsStatusConditionTrue(drill.Status.Conditions, v1alpha1.ConditionReady), nil
	})

	kube := []string{"-n", ctlNamespace, "--kubeconfig", cp.Kubeconfig}
	out := sk.ok(t, append([]string{"backup", "now", evSchedule, "--timeout", runTimeout.String()}, kube...)...)
	m := regexp.MustCompile(`sealed velero/(\S+):`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("backup now printed no sealed backup:\n%s", out)
	}
	backup := m[1]
	out = sk.ok(t, append([]string{"drill", "run", evDrill, "--timeout", dcTimeout.String()}, kube...)...)
	t.Logf("drill run %s:\n%s", evDrill, out)
	drill = dcDrill(t, c, evDrill)
	run := drill.Status.LastRun
	if run == nil || run.Result != v1alpha1.DrillRunPassed || run.Backup != backup || run.RTO == nil || run.AuditEntry == nil {
		t.Fatalf("drill last run %+v, want Passed on %s with an RTO and an audit entry", run, backup)
	}
	rto := run.RTO.Seconds()

	// What the bucket holds, read with the public seal API.
	offsite := openOffsite(t, c, tgt)
	sealed := evSeal(t, offsite, backup)
	ciphertext := sealed.CiphertextBytes()
	t.Logf("sealed %s: %d objects, %d ciphertext bytes; drill RTO %s", backup, len(sealed.Objects), ciphertext, run.RTO.Duration)
	if !slices.Equal(sealed.Recipients, wantFingerprints) {
		t.Errorf("seal recipients %v, want %v", sealed.Recipients, wantFingerprints)
	}

	// The CLI reads the OffsiteTarget and its Secrets from the cluster.
	skc := *sk
	skc.env = append(slices.Clone(sk.env), "KUBECONFIG="+cp.Kubeconfig)
	byName := []string{"--target", "offsite", "-n", ctlNamespace}
	pin := []string{"--verify-key", verifyKey.String()}
	targetFile := targetManifest{endpoint: s3.Endpoint, bucket: evBucket, prefix: evPrefix, recipients: []string{recipient, breakGlass},
		locked: true, signingPublicKey: verifyKey.String()}.write(t, dir)

	var head audit.Report
	t.Run("audit verify passes with the three entries", func(t *testing.T) {
		out := skc.ok(t, slices.Concat([]string{"audit", "verify", "-o", "json"}, byName, pin)...)
		if err := json.Unmarshal([]byte(out), &head); err != nil {
			t.Fatalf("audit verify -o json: %v\n%s", err, out)
		}
		if head.Entries != 3 || head.Pending != 0 || head.ProblemCount != 0 || head.HeadSeq != 3 || !head.PinnedKeys ||
			!slices.Equal(head.KeyIDs, []string{verifyKey.KeyID()}) {
			t.Errorf("audit verify: %+v, want 3 entries, head 3, no problem, signed by %s (pinned)", head, verifyKey.KeyID())
		}
		if head.HeadHash != run.AuditEntry.Hash || uint64(run.AuditEntry.Seq) != head.HeadSeq { //nolint:gosec // small
			t.Errorf("head %d %s, want the drill's entry %d %s", head.HeadSeq, head.HeadHash, run.AuditEntry.Seq, run.AuditEntry.Hash)
		}
		// File mode (credentials from the AWS environment), keys the file names.
		out = sk.ok(t, "audit", "verify", "--target-file", targetFile)
		if !strings.Contains(out, "intact: 3 entries, chain and signatures verified\n") {
			t.Errorf("audit verify --target-file printed:\n%s", out)
		}
	})

	reportFile := func(t *testing.T, format string) []byte {
		t.Helper()
		path := filepath.Join(dir, "report."+format)
		skc.ok(t, slices.Concat([]string{"audit", "report", "--format", format, "-o", path}, byName)...)
		return readFile(t, path)
	}

	t.Run("json report numbers", func(t *testing.T) {
		var rep report.Report
		if err := json.Unmarshal(reportFile(t, "json"), &rep); err != nil {
			t.Fatal(err)
		}
		evCheckSchedules(t, rep.Schedules, backup, sealed, wantFingerprints)
		evCheckDrills(t, rep.Drills, backup, rto)
		if n := len(rep.Restores) + len(rep.Deletions) + len(rep.Failures) + len(rep.Unreadable); n != 0 {
			t.Errorf("%d restores, deletions, failures or unreadable entries, want none: %+v %+v %+v %+v",
				n, rep.Restores, rep.Deletions, rep.Failures, rep.Unreadable)
		}
		if len(rep.TargetChanges) != 1 {
			t.Fatalf("target changes %+v, want 1", rep.TargetChanges)
		}
		tc := rep.TargetChanges[0]
		if tc.Seq != 1 || tc.Change != "created" || tc.Target != "offsite" || tc.Bucket != evBucket || tc.SigningKey != verifyKey.KeyID() ||
			!slices.Equal(slices.Sorted(slices.Values(tc.Recipients)), wantFingerprints) || tc.LockMode != "Governance" || tc.LockDays != 1 {
			t.Errorf("target change %+v", tc)
		}
		ch := rep.Integrity.Chain
		if !ch.Checked || !ch.Verified || ch.Entries != 3 || ch.EntriesInPeriod != 3 || ch.HeadSeq != 3 || ch.HeadHash != head.HeadHash || ch.Problem != "" {
			t.Errorf("integrity chain %+v, want verified, 3 entries, head 3 %s", ch, head.HeadHash)
		}
		se := rep.Integrity.Seals
		if !se.Checked || se.Logged != 1 || se.Verified != 1 || se.Deleted+se.Missing+se.Mismatch+se.Failed+se.Unlogged != 0 || len(se.Problems) != 0 {
			t.Errorf("integrity seals %+v, want 1 logged and verified", se)
		}
		if len(rep.HIPAA) != 7 {
			t.Errorf("%d HIPAA rows, want 7", len(rep.HIPAA))
		}
		for _, h := range rep.HIPAA {
			if h.Status != "evidence" {
				t.Errorf("HIPAA %s: %s (%s), want evidence", h.Citation, h.Status, h.Evidence)
			}
		}
	})

	t.Run("html report is self-contained with the drill's charts", func(t *testing.T) {
		evCheckHTML(t, string(reportFile(t, "html")), backup, ciphertext, rto)
	})

	t.Run("csv has one row per audit entry", func(t *testing.T) {
		rows, err := csv.NewReader(bytes.NewReader(reportFile(t, "csv"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		// The subject column is the report's (schedule/backup for a seal,
		// namespace/drill for a drill), not the entry's own subject field.
		want := [][4]string{
			{"target-change", ctlNamespace + "/offsite", "created", "bucket=" + evBucket},
			{"seal", evSchedule + "/" + backup, "sealed", "ciphertextBytes=" + strconv.FormatInt(ciphertext, 10) + ";"},
			{"drill", ctlNamespace + "/" + evDrill, "passed", "run=" + run.ID + "; backup=" + evSchedule + "/" + backup + ";"},
		}
		if len(rows) != 1+len(want) || !slices.Equal(rows[0], []string{"time", "seq", "kind", "subject", "actor", "result", "details"}) {
			t.Fatalf("csv rows %q, want a header and %d entries", rows, len(want))
		}
		for i, w := range want {
			r := rows[i+1]
			if r[1] != strconv.Itoa(i+1) || r[2] != w[0] || r[3] != w[1] || r[5] != w[2] || !strings.Contains(r[6], w[3]) {
				t.Errorf("csv row %d: %q, want seq %d %v", i+1, r, i+1, w)
			}
		}
		m := regexp.MustCompile(`(?:^|; )rtoSeconds=([0-9.e+-]+)`).FindStringSubmatch(rows[3][6])
		if m == nil {
			t.Fatalf("the drill row's details %q hold no rtoSeconds", rows[3][6])
		}
		if got, err := strconv.ParseFloat(m[1], 64); err != nil || math.Abs(got-rto) > 0.0005 {
			t.Errorf("csv rtoSeconds=%s, want %.3f", m[1], rto)
		}
	})

	t.Run("markdown renders", func(t *testing.T) {
		md := string(reportFile(t, "md"))
		for _, want := range []string{
			"# Safekeep evidence report\n",
			"| 1 | 0 | 1 | 1 | 0 | 0 | 0 | 1 | 0 |\n", // sealed, failed, runs, passed, failed, restores, deletions, changes, failures
			"| " + ctlNamespace + " | " + evSchedule + " | 1 | 1 | 0 | 0 |",
			"| " + ctlNamespace + " | " + evDrill + " | 1 | 1 | 0 | 100% |",
			"3 entries, head #3 " + head.HeadHash,
			"## HIPAA mapping\n",
		} {
			if !strings.Contains(md, want) {
				t.Errorf("the Markdown report lacks %q", want)
			}
		}
	})

	t.Run("object lock refuses to rewrite the log with the store's credentials", func(t *testing.T) {
		evCheckLocked(t, offsite, uint64(run.AuditEntry.Seq), run.AuditEntry.Hash) //nolint:gosec // small
		out := skc.ok(t, slices.Concat([]string{"audit", "verify", "-o", "json"}, byName, pin)...)
		var after audit.Report
		if err := json.Unmarshal([]byte(out), &after); err != nil {
			t.Fatal(err)
		}
		if after.Entries != 3 || after.ProblemCount != 0 || after.HeadHash != head.HeadHash {
			t.Errorf("after the refused writes: %+v, want the same 3 intact entries", after)
		}
	})

	if strings.Contains(ctl.log.String(), s3.SecretKey) || strings.Contains(ctl.log.String(), "AGE-SECRET-KEY") {
		t.Errorf("the controller logged the S3 secret key or an identity")
	}
}
