package restoredrill

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/drill/volumereader"
	"github.com/safekeep-dev/safekeep/internal/plural"
	"github.com/safekeep-dev/safekeep/scope"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/target"
)

// maxRunMessage bounds a run's message in status (history holds many).
const maxRunMessage = 2048

// drillCleanupTimeout bounds the cleanup at the end of a run.
const drillCleanupTimeout = 2 * time.Minute

// DrillAuditor records finished drill runs in the audit log of the
// OffsiteTarget that holds the drilled backup.
type DrillAuditor interface {
	// RecordDrill appends rec to tgt's audit log and returns the entry's
	// sequence number and hash.
	RecordDrill(ctx context.Context, tgt *target.Target, rec audit.Record) (seq uint64, hash string, err error)
	// RecordDrillOnce is RecordDrill for a fact a restart may record
	// again: nothing is recorded when an entry of rec's run (a verdict or
	// a failure) is in the log no earlier than since, or kept to be
	// written (it is written then). It returns the run's entry, rec's or
	// the one found; seq 0 while it is kept.
	RecordDrillOnce(ctx context.Context, tgt *target.Target, rec audit.Record, since time.Time) (*auditlog.RunEntry, error)
}

// drillRunSpec is what a run job needs, copied out of the reconcile that
// starts it.
type drillRunSpec struct {
	key    types.NamespacedName
	drill  *v1alpha1.RestoreDrill
	active v1alpha1.ActiveDrillRun
	// schedule and backup name the sealed backup offsite; offsiteBackup
	// is its record.
	schedule, backup, offsiteBackup string
	target                          *v1alpha1.OffsiteTarget
}

// runSpec is the job spec of st's active run on ob.
func (r *Reconciler) runSpec(st *drillState, ob *v1alpha1.OffsiteBackup) drillRunSpec {
	return drillRunSpec{
		key: st.Key, drill: st.obj.DeepCopy(), active: *st.obj.Status.Active.DeepCopy(),
		schedule: ob.Spec.ScheduleName, backup: ob.Spec.VeleroBackupName, offsiteBackup: ob.Name,
		target: st.target.DeepCopy(),
	}
}

// runJob returns the job of a run, logging with the reconcile's logger.
func (r *Reconciler) runJob(reconcileCtx context.Context, spec drillRunSpec) kit.Job[*drillJobResult] {
	log := logf.FromContext(reconcileCtx).WithValues("run", spec.active.ID, "backup", spec.backup)
	return kit.Job[*drillJobResult]{Kind: drillJobRun, ID: spec.active.ID, Slot: true, Failed: r.noVerdict(spec), Run: func(ctx context.Context) *drillJobResult {
		log.Info("drill run started")
		carry := r.carryOut
		if r.carry != nil {
			carry = r.carry
		}
		res := carry(logf.IntoContext(ctx, log), spec)
		run := res.run
		kv := []any{"result", run.Result, "cleanup", run.Cleanup}
		if run.RTO != nil {
			kv = append(kv, "rto", run.RTO.Duration)
		}
		if run.Result == v1alpha1.DrillRunPassed {
			log.Info("drill run passed", kv...)
		} else {
			log.Info("drill run did not pass", append(kv, "message", run.Message)...)
		}
		return res
	}}
}

// carryOut runs the drill, records it in the audit log and cleans up per
// policy. ctx ends when the manager stops or the drill is deleted; then the
// run's leftovers are left to the next leader or the sweep.
func (r *Reconciler) carryOut(ctx context.Context, spec drillRunSpec) *drillJobResult {
	d := spec.drill
	res := newRunResult(spec)
	run := res.run
	timeout := DefaultDrillTimeout
	if t := d.Spec.Timeout; t != nil && t.Duration > 0 {
		timeout = t.Duration
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opts, tgt, err := r.drillOptions(rctx, spec, timeout)
	var result *drill.Result
	if err == nil {
		engine := drill.Run
		if r.engine != nil {
			engine = r.engine
		}
		result, err = engine(rctx, opts)
	}
	run.EndTime = &metav1.Time{Time: r.Clock.Now()}
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		run.Result, run.Message = v1alpha1.DrillRunError, kit.Truncate(fmt.Sprintf("the run did not reach a verdict within spec.timeout (%s): %v", timeout, err), maxRunMessage)
	case errors.Is(err, scope.ErrPolicy):
		// Not a verdict on the backup: the target no longer accepts what
		// it holds (sealed under an older, wider template).
		run.Result, run.Message = v1alpha1.DrillRunError, kit.Truncate("the run was refused: "+err.Error(), maxRunMessage)
		res.reason = v1alpha1.ReasonPolicyViolation
	case err != nil:
		run.Result, run.Message = v1alpha1.DrillRunError, kit.Truncate("the run did not reach a verdict: "+err.Error(), maxRunMessage)
	default:
		fillRun(run, result)
	}
	if ctx.Err() != nil {
		return res
	}
	if tgt != nil && r.Audit != nil {
		r.auditRun(ctx, tgt, d, run, cmp.Or(res.reason, runReason(run)))
	}
	if opts.Client != nil {
		r.cleanupRun(ctx, d, run, opts)
	}
	return res
}

// newRunResult is the result of spec's run before it has one: its
// leftovers pending cleanup.
func newRunResult(spec drillRunSpec) *drillJobResult {
	a := spec.active
	run := &v1alpha1.DrillRun{
		ID: a.ID, Trigger: a.Trigger, Schedule: spec.schedule, Backup: spec.backup, StagedName: a.StagedName,
		StartTime: a.StartTime, Cleanup: v1alpha1.DrillCleanupPending,
	}
	return &drillJobResult{run: run, offsiteBackup: spec.offsiteBackup}
}

// noVerdict is the result of a run that ended without one (it panicked,
// or was canceled before it started): Error, its leftovers pending
// cleanup (the drill's next cleanup job deletes them).
func (r *Reconciler) noVerdict(spec drillRunSpec) func(error) *drillJobResult {
	return func(err error) *drillJobResult {
		res := newRunResult(spec)
		res.run.EndTime = &metav1.Time{Time: r.Clock.Now()}
		res.run.Result, res.run.Message = v1alpha1.DrillRunError, kit.Truncate("the run did not reach a verdict: "+err.Error(), maxRunMessage)
		return res
	}
}

// drillOptions resolves what the engine needs for spec: the offsite store
// and signing key of the target, the identity, the staging store.
func (r *Reconciler) drillOptions(ctx context.Context, spec drillRunSpec, timeout time.Duration) (drill.Options, *target.Target, error) {
	d, a := spec.drill, spec.active
	tgt, err := target.Resolve(ctx, r.APIReader, spec.target)
	if err != nil {
		return drill.Options{}, nil, fmt.Errorf("resolve OffsiteTarget %s: %w", spec.target.Name, err)
	}
	ids, err := r.identity(ctx, d)
	if err != nil {
		return drill.Options{}, tgt, err
	}
	staging, _, err := r.locations().Store(ctx, d.Spec.Staging)
	if err != nil {
		return drill.Options{}, tgt, fmt.Errorf("staging location: %w", err)
	}
	trusted, err := tgt.TrustedKeys()
	if err != nil {
		return drill.Options{}, tgt, err
	}
	prefix := cmp.Or(d.Spec.ScratchNamespacePrefix, DefaultScratchPrefix)
	opts := drill.Options{
		Offsite:         tgt.Store,
		TrustedKeys:     trusted,
		Binding:         seal.Binding{Place: tgt.Place()},
		Identities:      ids,
		Schedule:        spec.schedule,
		Backup:          spec.backup,
		Client:          r.scratchClient(),
		Reader:          r.direct(),
		VeleroNamespace: r.VeleroNamespace,
		StagingLocation: d.Spec.Staging,
		Staging:         staging,
		StagedName:      a.StagedName,
		MapNamespace: func(source string) string {
			return drill.ScratchNamespace(prefix, d.Name, a.ID, source)
		},
		CreateNamespaces: true,
		Labels:           runLabels(d, a.ID),
		RestorePVs:       d.Spec.Checks.RestorePVs,
		Warnings:         drill.WarningsPolicy(cmp.Or(d.Spec.Checks.Warnings, v1alpha1.DrillWarningsAllow)),
		RestoreTimeout:   timeout,
		Isolation:        drill.IsolationFor(d.Spec.Workloads),
		Policy:           new(kit.TargetPolicy(spec.target)),
		SkipVolumes:      d.Spec.Checks.Volumes == v1alpha1.DrillVolumesSkip,
		RestoreVolumes:   d.Spec.Checks.VolumeFiles == v1alpha1.DrillVolumeFilesCompare,
		Now:              r.Clock.Now,
	}
	if opts.RestoreVolumes {
		rd := &volumereader.Reader{Client: opts.Client, Logs: r.Logs, Image: r.VolumeReaderImage, Labels: opts.Labels}
		opts.VolumeReader = rd.Read
	}
	if m := d.Spec.Checks.MaxRTO; m != nil {
		opts.MaxRTO = m.Duration
	}
	if j := d.Spec.Checks.Job; j != nil {
		opts.Job = &drill.JobSpec{Image: j.Image, Command: append(slices.Clone(j.Command), j.Args...)}
		if j.Timeout != nil {
			opts.Job.Timeout = j.Timeout.Duration
		}
	}
	return opts, tgt, nil
}

// runLabels identify a run's namespaces and Velero objects.
func runLabels(d *v1alpha1.RestoreDrill, run string) map[string]string {
	return map[string]string{v1alpha1.LabelDrill: v1alpha1.DrillLabelValue(d.Namespace, d.Name), v1alpha1.LabelDrillRun: run}
}

// fillRun records the engine's verdict in run.
func fillRun(run *v1alpha1.DrillRun, res *drill.Result) {
	run.StartTime = metav1.Time{Time: res.StartedAt}
	run.EndTime = &metav1.Time{Time: res.FinishedAt}
	if res.RTO > 0 {
		run.RTO = &v1alpha1.Duration{Duration: res.RTO.Round(time.Millisecond)}
	}
	run.ScratchNamespaces = nil
	for _, ns := range res.Namespaces {
		run.ScratchNamespaces = append(run.ScratchNamespaces, ns)
	}
	slices.Sort(run.ScratchNamespaces)
	run.Checks = checkResults(res.Checks)
	run.Workloads = res.Changes.Status()
	run.Volumes = drill.VolumesStatus(res.Volumes, res.RestoredVolumes)
	if res.Passed {
		run.Result = v1alpha1.DrillRunPassed
		run.Message = "every check passed: " + plural.S(len(res.Namespaces), "namespace") + " restored and verified"
		if run.RTO != nil {
			run.Message += ", RTO " + run.RTO.String()
		}
		return
	}
	run.Result = v1alpha1.DrillRunFailed
	var parts []string
	failed := res.Failed()
	for _, c := range failed {
		if strings.HasPrefix(c.Message, "not run") && len(parts) > 0 {
			continue // follows from an earlier failure
		}
		p := "check " + c.Name + " failed: " + c.Message
		if len(c.Objects) > 0 {
			p += " (objects: " + strings.Join(c.Objects[:min(len(c.Objects), 3)], ", ")
			if len(c.Objects) > 3 {
				p += ", ..."
			}
			p += ")"
		}
		parts = append(parts, p)
	}
	if skipped := len(failed) - len(parts); skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d later checks not run", skipped))
	}
	run.Message = kit.Truncate(strings.Join(parts, "; "), maxRunMessage)
}

// checkResults converts the engine's checks, bounded for status.
func checkResults(in []audit.CheckResult) []v1alpha1.DrillCheckResult {
	out := make([]v1alpha1.DrillCheckResult, 0, min(len(in), 16))
	for _, c := range in[:min(len(in), 16)] {
		out = append(out, v1alpha1.DrillCheckResult{
			Name: c.Name, Passed: c.Passed, Message: kit.Truncate(c.Message, 1024),
			FailedObjects: slices.Clone(c.Objects[:min(len(c.Objects), drill.MaxObjectsNamed)]),
		})
	}
	return out
}

// auditRun records run, which ended with LastDrillPassed reason, in the
// target's audit log: a KindDrill entry for a verdict, a KindFailure one
// when no verdict was reached. A failure to record is logged and leaves
// run.AuditEntry unset.
func (r *Reconciler) auditRun(ctx context.Context, tgt *target.Target, d *v1alpha1.RestoreDrill, run *v1alpha1.DrillRun, reason string) {
	seq, hash, err := r.Audit.RecordDrill(ctx, tgt, runRecord(d, run, reason))
	if err != nil {
		logf.FromContext(ctx).Error(err, "record the drill run in the audit log")
		return
	}
	run.AuditEntry = &v1alpha1.DrillAuditEntry{Seq: int64(seq), Hash: hash} //nolint:gosec // sequence numbers stay far below 2^63
}

// runRecord is the audit record of run of d, which ended with
// LastDrillPassed reason: the reason is recorded (a code, never a name)
// so that a controller resuming the run after a restart ends it with the
// same one.
func runRecord(d *v1alpha1.RestoreDrill, run *v1alpha1.DrillRun, reason string) audit.Record {
	rec := audit.Record{Kind: audit.KindDrill, Subject: d.Namespace + "/" + d.Name + "/" + run.ID}
	if run.Result == v1alpha1.DrillRunError {
		rec.Kind = audit.KindFailure
		rec.Details = audit.FailureDetails{
			Namespace: d.Namespace, Operation: "drill", Schedule: run.Schedule, Backup: run.Backup,
			Reason: cmp.Or(reason, v1alpha1.ReasonDrillError), Message: run.Message,
		}
	} else {
		det := audit.DrillDetails{
			Namespace: d.Namespace, Drill: d.Name, Run: run.ID, Schedule: run.Schedule, Backup: run.Backup,
			Passed: run.Result == v1alpha1.DrillRunPassed, StartedAt: run.StartTime.UTC(),
		}
		if !det.Passed {
			det.Reason = reason
		}
		if run.EndTime != nil {
			det.FinishedAt = run.EndTime.UTC()
		}
		if run.RTO != nil {
			det.RTOSeconds = auditlog.Seconds(run.RTO.Duration)
		}
		if m := d.Spec.Checks.MaxRTO; m != nil {
			det.MaxRTOSeconds = auditlog.Seconds(m.Duration)
		}
		for _, c := range run.Checks {
			// Names stay in the cluster: the log gets counts and digests.
			det.Checks = append(det.Checks, drill.ForLog(audit.CheckResult{Name: c.Name, Passed: c.Passed, Message: c.Message, Objects: c.FailedObjects}))
		}
		det.Workloads = drill.AuditOf(run.Workloads)
		det.Volumes = drill.AuditVolumes(run.Volumes)
		rec.Details = det
	}
	return rec
}

// keepsNamespaces says whether a finished run's scratch namespaces are
// kept, and until when (nil: until the drill is deleted).
func keepsNamespaces(c v1alpha1.DrillCleanup, passed bool, end time.Time) (bool, *metav1.Time) {
	policy := cmp.Or(c.Policy, v1alpha1.DrillCleanupAlways)
	var until *metav1.Time
	if c.KeepFailedFor != nil && c.KeepFailedFor.Duration > 0 {
		// Capped for objects stored before admission bounded it.
		until = &metav1.Time{Time: end.Add(min(c.KeepFailedFor.Duration, v1alpha1.MaxKeepFailedFor))}
	}
	switch {
	case policy == v1alpha1.DrillCleanupNever:
		return true, nil
	case passed:
		return false, nil
	case policy == v1alpha1.DrillCleanupOnSuccess:
		return true, until
	}
	return until != nil, until // Always: kept only for keepFailedFor
}

// cleanupRun deletes what the run left, per policy: the staged backup and
// the Restore always, the scratch namespaces unless kept. A failure leaves
// run.Cleanup Pending (or Kept), and the drill's next sweep retries.
func (r *Reconciler) cleanupRun(ctx context.Context, d *v1alpha1.RestoreDrill, run *v1alpha1.DrillRun, opts drill.Options) {
	keep, until := keepsNamespaces(d.Spec.Cleanup, run.Result == v1alpha1.DrillRunPassed, run.EndTime.Time)
	co := drill.CleanupFor(opts)
	co.Labels = opts.Labels // the run's namespaces, whether Run got to create them or not
	if keep {
		co.Labels = nil
	}
	cctx, cancel := context.WithTimeout(ctx, drillCleanupTimeout)
	defer cancel()
	err := drill.Cleanup(cctx, co)
	switch {
	case keep:
		run.Cleanup, run.KeepUntil = v1alpha1.DrillCleanupKept, until
	case err == nil:
		run.Cleanup = v1alpha1.DrillCleanupDeleted
	}
	if err != nil {
		logf.FromContext(ctx).Error(err, "clean up after the drill run; retried")
		if keep {
			r.jobs.unsweep(types.NamespacedName{Namespace: d.Namespace, Name: d.Name})
		}
	}
}
