package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

const (
	drillBenchNamespace = "bench-phi"
	drillBenchBackup    = "bench-b1"
	drillBenchItems     = 2000 // ConfigMaps and Secrets, half each
	// drillBenchTarget is the objective for drill RTO / plain restore.
	drillBenchTarget = 1.15
)

// BenchmarkDrillVsVeleroRestore: a namespace of 2,000 ConfigMaps and
// Secrets, backed up by the real Velero server and sealed. Each iteration
// measures side by side a plain Velero restore of the backup from the
// primary location into a new namespace (create to Completed, as seen by
// polling every 200 ms) and a drill of the sealed copy (drill.Run's RTO:
// verify, decrypt and stage, restore, presence and content checks). It
// prints both times and their ratio; target: at most 1.15. Run with
// -benchtime=1x.
func BenchmarkDrillVsVeleroRestore(b *testing.B) {
	ctx := b.Context()
	s3 := testbed.StartS3(b)
	for _, bucket := range []string{"velero", "staging", "offsite"} {
		s3.CreateBucket(b, bucket, false)
	}
	cp := testbed.StartControlPlane(b)
	v := testbed.StartVelero(b, cp, s3, "velero")
	v.AddLocation(b, ctx, "staging", "staging", "")
	c := fastClient(b, cp)
	createItems(b, ctx, c)
	bk := v.Backup(b, ctx, drillBenchBackup, velerov1.BackupSpec{IncludedNamespaces: []string{drillBenchNamespace}})
	if bk.Status.Phase != velerov1.BackupPhaseCompleted {
		b.Fatalf("backup phase %s", bk.Status.Phase)
	}
	rcpts, ids, _ := sealtest.NewKeys(b)
	offsite := sealtest.OpenStore(b, s3.Config("offsite", "bench/safekeep/v1"))
	signer := sealtest.NewSigner(b)
	sealer := &seal.Sealer{Source: sealtest.OpenStore(b, s3.Config("velero", "")), Offsite: offsite, Recipients: rcpts, Signer: signer}
	if _, err := sealer.Seal(ctx, "nightly", drillBenchBackup); err != nil {
		b.Fatal(err)
	}
	staging := sealtest.OpenStore(b, s3.Config("staging", ""))

	i := 0
	for b.Loop() {
		i++
		run := strconv.Itoa(i)
		start := time.Now()
		rs := v.Restore(b, ctx, "plain-"+run, velerov1.RestoreSpec{
			BackupName:             drillBenchBackup,
			IncludedNamespaces:     []string{drillBenchNamespace},
			NamespaceMapping:       map[string]string{drillBenchNamespace: "plain-" + run},
			ExistingResourcePolicy: velerov1.PolicyTypeNone,
		})
		plain := time.Since(start)
		if rs.Status.Phase != velerov1.RestorePhaseCompleted {
			b.Fatalf("plain restore %s", rs.Status.Phase)
		}
		opts := drill.Options{
			Offsite: offsite, Identities: ids, TrustedKeys: []crypto.VerifyKey{signer.Public()}, Schedule: "nightly", Backup: drillBenchBackup,
			Client: c, VeleroNamespace: testbed.VeleroNamespace,
			StagingLocation: "staging", Staging: staging, StagedName: "bench-drill-" + run,
			MapNamespace:     func(ns string) string { return drill.ScratchNamespace("dr-", "bench", run, ns) },
			CreateNamespaces: true,
			Labels:           map[string]string{"safekeep.dev/drill": "bench", "safekeep.dev/drill-run": run},
			RestoreTimeout:   5 * time.Minute,
		}
		res, err := drill.Run(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		if !res.Passed {
			b.Fatalf("drill failed: %+v", res.Failed())
		}
		if err := drill.Cleanup(ctx, drill.CleanupFor(opts)); err != nil {
			b.Fatal(err)
		}
		ratio := res.RTO.Seconds() / plain.Seconds()
		b.ReportMetric(plain.Seconds(), "plain-restore-s")
		b.ReportMetric(res.RTO.Seconds(), "drill-rto-s")
		b.ReportMetric(ratio, "ratio")
		verdict := "within"
		if ratio > drillBenchTarget {
			verdict = "OVER"
		}
		b.Logf("%d items: plain Velero restore %s, drill RTO %s (verify, decrypt, stage, restore, checks): ratio %.3f, %s the target of %.2f",
			drillBenchItems, plain.Round(time.Millisecond), res.RTO.Round(time.Millisecond), ratio, verdict, drillBenchTarget)
	}
}

// fastClient is a client of the control plane without client-side rate
// limits, to create the items quickly and to read them back as a drill's
// controller would (its own limits are its deployment's choice).
func fastClient(b *testing.B, cp *testbed.ControlPlane) client.Client {
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// createItems creates the namespace with drillBenchItems ConfigMaps and
// Secrets, each with a few hundred bytes of data.
func createItems(b *testing.B, ctx context.Context, c client.Client) {
	start := time.Now()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: drillBenchNamespace}}); err != nil {
		b.Fatal(err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for n := range drillBenchItems / 2 {
		g.Go(func() error {
			name := fmt.Sprintf("item-%04d", n)
			value := fmt.Sprintf("patient-%04d-%0200d", n, n)
			if err := c.Create(gctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: drillBenchNamespace}, Data: map[string]string{"record": value}}); err != nil {
				return err
			}
			return c.Create(gctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: drillBenchNamespace}, Data: map[string][]byte{"token": []byte(value)}})
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	b.Logf("created %d ConfigMaps and Secrets in %s", drillBenchItems, time.Since(start).Round(time.Millisecond))
}
