package backupschedule

import (
	"context"
	"errors"
	"fmt"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/retention"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/target"
	"github.com/safekeep-dev/safekeep/volume"
)

// jobSpec is what a job needs, copied out of the reconcile that submits it.
type jobSpec struct {
	kind string
	// schedule is the offsite <schedule> folder (the BackupSchedule's name).
	schedule string
	// backup is the Velero backup to seal (jobSeal) and location its
	// BackupStorageLocation ("" for the default).
	backup, location string
	// active is the backup in flight, whose incomplete folder retention
	// leaves alone.
	active string
	// namespace is the BackupSchedule's, where its OffsiteBackups are.
	namespace string
	target    *v1alpha1.OffsiteTarget
	policy    retention.Policy
}

// Kinds of jobs.
const (
	// jobSeal seals one Velero backup, then applies retention.
	jobSeal = "seal"
	// jobRetention applies retention only.
	jobRetention = "retention"
)

// jobResult is what a job did.
type jobResult struct {
	// err is why the job failed: the seal (jobSeal), or resolving the
	// target. Retention problems are in retention.Err.
	err error
	// seal is the backup's seal, new or found already written.
	seal *seal.Seal
	// copied is set when this job wrote objects (not a seal found whole).
	copied bool
	// plaintextBytes is the size of the Velero backup's objects.
	plaintextBytes int64
	duration       time.Duration
	// coverage is what the seal did with each volume of the backup; nil
	// when not known.
	coverage *v1alpha1.VolumeCoverage
	// notCovered counts the volumes not covered by reason.
	notCovered map[string]int
	retention  retentionOutcome
}

// failed reports whether the job failed (and is retried with backoff).
func (res *jobResult) failed() bool { return res.err != nil }

// job returns the job for spec, logging with the reconcile's logger.
func (r *Reconciler) job(reconcileCtx context.Context, spec jobSpec) kit.Job[*jobResult] {
	log := logf.FromContext(reconcileCtx).WithValues("job", spec.kind, "backup", spec.backup)
	return kit.Job[*jobResult]{Kind: spec.kind, ID: spec.backup, Slot: true, Run: func(ctx context.Context) *jobResult {
		start := time.Now()
		log.Info("job started")
		res := r.runJob(logf.IntoContext(ctx, log), spec)
		kv := []any{"took", time.Since(start).Round(time.Millisecond), "deleted", len(res.retention.Deleted), "waiting", len(res.retention.Waiting)}
		if res.seal != nil {
			kv = append(kv, "objects", len(res.seal.Objects), "bytes", res.seal.CiphertextBytes(), "copied", res.copied)
		}
		switch {
		case res.err != nil:
			log.Error(res.err, "job failed", kv...)
		case res.retention.Err != nil:
			log.Error(res.retention.Err, "retention failed", kv...)
		default:
			log.Info("job done", kv...)
		}
		return res
	}, Failed: func(err error) *jobResult { return &jobResult{err: err} }}
}

// runJob seals (jobSeal) and applies retention in the offsite bucket. It
// is what sealJobs runs; ctx ends when the manager stops, and a seal cut
// short is completed by the next job for the same backup.
func (r *Reconciler) runJob(ctx context.Context, spec jobSpec) *jobResult {
	res := &jobResult{}
	tgt, err := target.Resolve(ctx, r.APIReader, spec.target)
	if err != nil {
		res.err = fmt.Errorf("resolve OffsiteTarget %s: %w", spec.target.Name, err)
		return res
	}
	if spec.kind == jobSeal {
		if res.err = r.sealBackup(ctx, tgt, spec, res); res.err != nil {
			r.auditFailure(ctx, tgt, spec, "seal", v1alpha1.ReasonSealFailed, res.err)
			return res
		}
		r.auditSeal(ctx, tgt, spec, res)
	}
	trusted, err := tgt.TrustedKeys()
	if err != nil {
		res.err = err
		return res
	}
	bind := seal.Binding{Place: tgt.Place(), Cluster: r.ClusterID}
	recorded, err := r.recordedBackups(ctx, spec)
	if err != nil {
		res.err = err
		return res
	}
	record := func(backup string) { r.auditDelete(ctx, tgt, spec, backup) }
	res.retention = applyRetention(ctx, tgt.Store, trusted, bind, spec.schedule, spec.active, spec.policy, r.Clock.Now(), record, recorded)
	r.auditRetention(ctx, tgt, spec, res.retention)
	r.auditVolumeDelete(ctx, tgt, spec, res.retention.Volumes)
	return res
}

// sealBackup seals spec.backup into tgt and fills res.
func (r *Reconciler) sealBackup(ctx context.Context, tgt *target.Target, spec jobSpec, res *jobResult) error {
	src, err := r.sourceStore(ctx, spec.location)
	if err != nil {
		return err
	}
	sealer, err := tgt.Sealer(src)
	if err != nil {
		return err
	}
	sealer.ClusterID, sealer.Concurrency, sealer.Now = r.ClusterID, r.SealConcurrency, r.Clock.Now
	sealer.Volumes = &volume.Planner{Source: src, BSL: spec.location, Password: volume.PasswordFromSecret(r.APIReader, r.VeleroNamespace)}
	sealer.Progress = func(p seal.Progress) {
		res.copied, res.plaintextBytes = true, p.BytesTotal
	}
	start := r.Clock.Now()
	sl, err := sealer.Seal(ctx, spec.schedule, spec.backup)
	if err != nil {
		return err
	}
	res.seal, res.duration = sl, r.Clock.Since(start)
	if !res.copied {
		// Found sealed (a restart after the seal): size the plaintext from
		// the source, best effort; Velero's TTL may have removed it.
		res.plaintextBytes = sourceSize(ctx, src, spec.backup)
	}
	res.coverage, res.notCovered = readCoverage(ctx, src, spec.backup)
	return nil
}

// sourceSize sums the sizes of a Velero backup's objects, 0 when they
// cannot be listed.
func sourceSize(ctx context.Context, src storage.Store, backup string) int64 {
	var n int64
	for info, err := range src.List(ctx, seal.SourcePrefix(backup)) {
		if err != nil {
			return 0
		}
		n += info.Size
	}
	return n
}

// permanentSealError reports whether retrying a failed seal cannot help:
// what is offsite conflicts with the backup, and only a person can sort it
// out. Everything else (the endpoint down or answering errors, a Secret or
// location missing or wrong, a backup not yet fully written) is retried
// with backoff, the run staying active, so nothing is lost while it is
// fixed. A seal that panicked (on bucket contents it could not handle)
// would panic again: it ends the run too.
func permanentSealError(err error) bool {
	return errors.Is(err, seal.ErrSealConflict) || errors.Is(err, kit.ErrPanic)
}
