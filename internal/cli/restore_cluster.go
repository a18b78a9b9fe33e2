package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/drill/volumereader"
	"github.com/safekeep-dev/safekeep/location"
	"github.com/safekeep-dev/safekeep/storage"
)

// LabelIncidentRestore marks the staged Backup and the Restore of an
// incident restore (value: the staged name).
const LabelIncidentRestore = "safekeep.dev/incident-restore"

// runRestoreCluster stages the backup in the cluster of the current
// kubeconfig, restores it through Velero into the mapped namespaces, runs
// the drill checks, prints them and removes the staged copy.
func runRestoreCluster(cmd *cobra.Command, opts *options, f *restoreFlags, mapping map[string]string) error {
	ctx := cmd.Context()
	schedule, backup, _ := parseBackupRef("backup", f.backup)
	what := "restore " + schedule + "/" + backup
	vo, off, kt, err := f.open(ctx)
	if err != nil {
		return prefixed(what, err)
	}
	c, ns, err := kubeClient("", "", f.target.namespace)
	if err != nil {
		return prefixed(what, err)
	}
	if err := checkStaging(ctx, c, f.veleroNS, f.staging, ns, schedule); err != nil {
		return prefixed(what, err)
	}
	bsl, staging, err := stagingStore(ctx, c, f.veleroNS, f.staging)
	if err != nil {
		return prefixed(what, err)
	}
	staged, err := stagedName()
	if err != nil {
		return prefixed(what, err)
	}
	dopts := drill.Options{
		Offsite: off.store, TrustedKeys: kt.keys, TrustBucketKey: kt.bucket, Binding: off.binding(), Identities: vo.Identities,
		Schedule: schedule, Backup: backup,
		Client: c, VeleroNamespace: f.veleroNS,
		StagingLocation: bsl.Name, Staging: staging, StagedName: staged,
		NamespaceMapping: mapping,
		Labels:           map[string]string{LabelIncidentRestore: staged},
		RestoreTimeout:   f.timeout,
		Isolation:        f.isolation(),
		// Level 1 is a drill's proof; an incident restore wants its data
		// back, and its audit entry would name the failed volumes.
		SkipVolumes: true,
	}
	// Volumes are restored through Velero when the pods may run (not
	// with --isolated alone, which keeps them from running).
	dopts.RestoreVolumes = dopts.Isolation == nil || dopts.Isolation.Workloads == drill.WorkloadsIsolated
	if dopts.VolumeReader, err = f.volumeReader(c, dopts.Labels); err != nil {
		return prefixed(what, err)
	}
	out := &printer{w: opts.streams.Out}
	out.printf("restoring %s/%s from %s through Velero (staged as %s in location %s)\n", schedule, backup, off.where(), staged, bsl.Name)
	prog := newRestoreProgress(opts.streams.Err, schedule+"/"+backup)
	dopts.Progress = prog.step
	res, runErr := drill.Run(ctx, dopts)
	prog.clear()
	// The staged copy goes whatever happened; the Restore stays as the
	// record (its logs are in the staging location).
	co := drill.CleanupOptions{Client: c, VeleroNamespace: f.veleroNS, Staging: staging, StagedName: staged, Volumes: dopts.RestoreVolumes}
	if dopts.Isolation != nil {
		co.Modifiers = staged
	}
	cleanupErr := drill.Cleanup(context.WithoutCancel(ctx), co)
	if cleanupErr != nil { // stderr: the verdict below matters more
		_, _ = fmt.Fprintf(opts.streams.Err, "safekeep: warning: the staged copy %s was not fully removed: %s\n", staged, oneLine(cleanupErr))
	}
	if runErr != nil {
		return prefixed(what, runErr)
	}
	out.printf("seal signed by %s\n", kt.explain(res.KeyID))
	printResult(out, res)
	if out.err != nil {
		return out.err
	}
	recordRestore(ctx, opts, f, off, restoreRecord{
		schedule: schedule, backup: backup, destination: "cluster:" + kubeContextName(),
		mapping: res.Namespaces, staging: bsl.Name, passed: res.Passed, checks: res.Checks, volumes: res.RestoredVolumes,
	})
	if !res.Passed {
		var failed []string
		for _, ch := range res.Failed() {
			failed = append(failed, ch.Name)
		}
		return fmt.Errorf("%s: %d of %d checks failed: %s", what, len(failed), len(res.Checks), strings.Join(failed, ", "))
	}
	return nil
}

// printResult prints one line per check, the objects of failed ones, and
// the verdict.
func printResult(out *printer, res *drill.Result) {
	for src, dst := range res.Namespaces {
		out.printf("namespace %s -> %s\n", src, dst)
	}
	if res.Changes != nil {
		out.printf("isolation: %s\n", res.Changes.Summary())
	}
	width := 0 // the longest check name, so the verdicts line up
	for _, ch := range res.Checks {
		width = max(width, len(ch.Name))
	}
	for _, ch := range res.Checks {
		status := "ok"
		if !ch.Passed {
			status = "FAIL"
		}
		out.printf("%-*s %-5s %s\n", width, ch.Name, status, ch.Message)
		if !ch.Passed {
			for _, o := range ch.Objects {
				out.printf("  %s\n", o)
			}
		}
	}
	if res.Passed {
		out.printf("restored and verified: %s/%s in %s (Restore %s)\n", res.Schedule, res.Backup, res.RTO.Round(time.Millisecond), res.Restore)
	}
}

// checkStaging refuses a staging location where primary backups go, by
// the drills' rule (location.CheckStaging): Velero's default location, and
// the location of the backup's BackupSchedule when it is in the cluster
// (namespace ns).
func checkStaging(ctx context.Context, c client.Client, veleroNS, staging, ns, schedule string) error {
	bsl, err := location.Velero{Reader: c, Namespace: veleroNS}.Location(ctx, staging)
	if err != nil {
		return fmt.Errorf("--staging-location: %w", err)
	}
	var list velerov1.BackupStorageLocationList
	if err := c.List(ctx, &list, client.InNamespace(veleroNS)); err != nil {
		return fmt.Errorf("list BackupStorageLocations in %s: %w", veleroNS, err)
	}
	scheduleLocation := ""
	var bs v1alpha1.BackupSchedule
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: schedule}, &bs); err == nil {
		scheduleLocation = bs.Spec.Template.StorageLocation
	}
	var primaries []*velerov1.BackupStorageLocation
	for i := range list.Items {
		if l := &list.Items[i]; l.Spec.Default || l.Name == scheduleLocation {
			primaries = append(primaries, l)
		}
	}
	if err := location.CheckStaging(bsl, primaries...); err != nil {
		return fmt.Errorf("--staging-location: %w", err)
	}
	return nil
}

// stagingStore reads the staging BackupStorageLocation ns/name and opens its
// bucket with the credentials Velero uses for it when its Secret is
// readable, else those of the environment (location.Velero).
func stagingStore(ctx context.Context, c client.Client, ns, name string) (*velerov1.BackupStorageLocation, storage.Store, error) {
	cfg, bsl, err := location.Velero{Reader: c, Namespace: ns, EnvFallback: true}.Config(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("--staging-location: %w", err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("BackupStorageLocation %s/%s: %w", ns, bsl.Name, err)
	}
	return bsl, st, nil
}

// stagedName is a fresh Velero backup name for an incident restore's staged
// copy: unique, so two responders never share one.
func stagedName() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random name: %w", err)
	}
	return "safekeep-restore-" + time.Now().UTC().Format("20060102150405") + "-" + hex.EncodeToString(b[:]), nil
}

// kubeContextName names the cluster restored into, for the audit log: the
// current kubeconfig context, else its server.
func kubeContextName() string {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	raw, err := rules.Load()
	if err != nil || raw == nil {
		return "unknown"
	}
	if raw.CurrentContext != "" {
		return raw.CurrentContext
	}
	for _, cl := range raw.Clusters {
		return cl.Server
	}
	return "unknown"
}

// restoreProgress shows the drill's steps on a terminal: bytes while
// staging, items while Velero restores.
type restoreProgress struct {
	label string
	w     io.Writer

	mu    sync.Mutex
	phase drill.Phase
	line  *progressLine
}

func newRestoreProgress(w io.Writer, label string) *restoreProgress {
	return &restoreProgress{label: label, w: w}
}

// step is drill.Options.Progress: it starts a new line on each phase.
func (p *restoreProgress) step(s drill.Step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.Phase != p.phase || p.line == nil {
		p.line.Clear()
		p.phase = s.Phase
		p.line = newProgress(p.w, string(s.Phase)+" "+p.label)
	}
	p.line.Set(s.Done, s.Total)
}

// clear erases the line before the result prints.
func (p *restoreProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line.Clear()
}

// volumeReader reads the restored volumes with the Job of
// --volume-reader-image (drill/volumereader, as a Level 2 drill), its
// pods labelled labels; nil without the flag (Velero's PodVolumeRestores
// and DataDownloads are then checked, not the files).
func (f *restoreFlags) volumeReader(c client.Client, labels map[string]string) (drill.VolumeReader, error) {
	if f.readerImage == "" {
		return nil, nil
	}
	cfg, _, err := kubeConfig("", "", f.target.namespace)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	rd := &volumereader.Reader{Client: c, Logs: volumereader.ClientsetLogs(cs), Image: f.readerImage, Labels: labels}
	return rd.Read, nil
}

// isolation is the drill.Isolation --isolated asks for; nil without it.
func (f *restoreFlags) isolation() *drill.Isolation {
	if !f.isolated {
		return nil
	}
	iso := &drill.Isolation{Run: f.run, AllowDNS: f.allowDNS}
	if len(f.run) > 0 {
		iso.Workloads = drill.WorkloadsIsolated
	}
	return iso
}
