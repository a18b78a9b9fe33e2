package drill

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/plural"
	"github.com/safekeep-dev/safekeep/scope"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// runner is one Run.
type runner struct {
	opts     Options
	now      func() time.Time
	progress *progress
	checks   map[string]*audit.CheckResult
	// volumes is what stageVolumes staged.
	volumes *volumeStage
	// opened is the backup once it verified and decrypted: its volumes
	// are checked whatever becomes of the Velero restore.
	opened *seal.Opened
	// restored is Level 2's result per staged volume.
	restored []RestoredVolume
}

func run(ctx context.Context, opts Options) (*Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{opts: opts, now: opts.Now, progress: &progress{fn: opts.Progress}, checks: map[string]*audit.CheckResult{}}
	for _, name := range CheckNames {
		r.checks[name] = &audit.CheckResult{Name: name, Message: "not run"}
	}
	if !opts.RestoreVolumes {
		r.pass(CheckVolumeFiles, "not requested")
	}
	res := &Result{Schedule: opts.Schedule, Backup: opts.Backup, StartedAt: r.now()}
	err = r.run(ctx, res)
	if err == nil {
		err = r.checkVolumes(ctx, res)
	}
	if err != nil {
		return nil, fmt.Errorf("drill %s/%s: %w", opts.Schedule, opts.Backup, err)
	}
	res.RestoredVolumes = r.restored
	res.FinishedAt = r.now()
	res.Passed = true
	for _, name := range CheckNames {
		c := r.checks[name]
		res.Checks = append(res.Checks, *c)
		res.Passed = res.Passed && c.Passed
	}
	return res, nil
}

// run fills res and r.checks; an error means no verdict.
func (r *runner) run(ctx context.Context, res *Result) error {
	o := r.opts
	r.progress.step(Step{Phase: PhaseVerify, Message: "checking the seal"})
	opened, err := seal.Open(ctx, o.Offsite, o.Schedule, o.Backup, seal.VerifyOptions{VerifyKey: o.VerifyKey, TrustedKeys: o.TrustedKeys, TrustBucketKey: o.TrustBucketKey, Binding: o.Binding, Identities: o.Identities})
	if err != nil {
		return r.openFailed(err)
	}
	res.SealDigest, res.KeyID = opened.Seal.Digest(), opened.KeyID
	r.progress.total = opened.Seal.CiphertextBytes()
	if err := r.checkPolicy(namespacesOf(opened.Manifest, &tarballFacts{namespaces: map[string]bool{}})); err != nil {
		return err // before any plaintext is staged
	}
	st, err := r.stage(ctx, opened)
	if err != nil {
		return err
	}
	if len(st.findings) > 0 {
		r.stageFailed(st.findings)
		return nil
	}
	res.Hidden, r.opened = opened.Hidden, opened
	r.pass(CheckSeal, fmt.Sprintf("signed by %s; %d objects, %d bytes of ciphertext match the seal%s", opened.KeyID, len(opened.Seal.Objects), opened.Seal.CiphertextBytes(), seal.HiddenNote(opened.Hidden)))
	r.pass(CheckDecrypt, plural.S(len(opened.Manifest.Objects), "object")+" decrypted; every plaintext matches the manifest")

	mapping, err := r.mapping(namespacesOf(opened.Manifest, st.tarball))
	if err != nil {
		return err
	}
	res.Namespaces = mapping
	if o.CreateNamespaces {
		// With Isolation, each is isolated here, before any Restore exists.
		if err := r.createNamespaces(ctx, slices.Sorted(maps.Values(mapping))); err != nil {
			return err
		}
	}
	if r.volumes, err = r.stageVolumes(ctx, opened); r.volumes == nil { // err, or a failed check
		return err
	}
	// velero-backup.json last: until it is there, Velero's sync cannot see
	// the staged copy.
	if _, err := storage.PutAgain(ctx, o.Staging, stagedKey(o.StagedName, o.Backup, seal.VeleroBackupJSON), st.backupJSON, storage.PutOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("upload velero-backup.json to the staging location: %w", err)
	}
	if err := r.createBackup(ctx, st.backupJSON); err != nil {
		return err
	}
	res.StagedBackup = o.StagedName
	modifiers := ""
	if iso := o.Isolation; iso != nil {
		if st.tarball.parseErr != nil {
			// Without the tarball's Services the restore cannot be made
			// inert: nothing is restored.
			r.fail(CheckRestore, fmt.Sprintf("not restored: the backup tarball could not be read, so its objects cannot be made inert: %v", oneLine(st.tarball.parseErr)), nil)
			r.notRun("nothing was restored", CheckPresence, CheckContent, CheckRTO, CheckJob)
			return nil
		}
		if modifiers, err = r.createModifiers(ctx, st.tarball); err != nil {
			return err
		}
		res.Changes = iso.changesOf(st.tarball)
	}
	rs, err := r.createRestore(ctx, mapping, modifiers)
	if err != nil {
		return err
	}
	res.Restore = rs.Name
	r.progress.step(Step{Phase: PhaseRestore, Message: "restore created"})
	timedOut, err := r.waitRestore(ctx, rs)
	if err != nil {
		return err
	}
	if !r.judgeRestore(ctx, rs, timedOut) {
		return nil
	}
	r.progress.step(Step{Phase: PhaseCheck, Message: "comparing restored objects with the backup"})
	if err := r.checkObjects(ctx, opened.Manifest, st.tarball, mapping, res.Changes); err != nil {
		return err
	}
	res.RTO = r.now().Sub(res.StartedAt)
	r.judgeRTO(res.RTO)
	ran, err := r.runJob(ctx, mapping)
	if ran && res.Changes != nil {
		res.Changes.Ran = append(res.Changes.Ran, KindCount{Kind: kindName("batch", KindJob), Count: 1, Change: "verification Job"})
	}
	return err
}

// checkObjects runs the presence and content checks.
func (r *runner) checkObjects(ctx context.Context, m *seal.Manifest, facts *tarballFacts, mapping map[string]string, changes *Changes) error {
	if facts.parseErr != nil {
		r.fail(CheckContent, fmt.Sprintf("the backup tarball could not be read: %v", facts.parseErr), nil)
	}
	got, err := r.readContent(ctx, mapping)
	if err != nil {
		return err
	}
	if m.Resources == nil {
		r.fail(CheckPresence, "the backup has no resource list: presence cannot be checked", nil)
	} else {
		exp, err := expectedItems(m.Resources, facts.skipped, r.opts.Isolation.excludedKinds())
		if err != nil {
			r.fail(CheckPresence, err.Error(), nil)
		} else {
			c, err := r.checkPresence(ctx, exp, mapping, got)
			if err != nil {
				return err
			}
			*r.checks[CheckPresence] = c
		}
	}
	if facts.parseErr == nil {
		*r.checks[CheckContent] = checkContent(facts, mapping, got, changes)
	}
	return r.checkVolumeFiles(ctx, m, mapping)
}

// openFailed turns a seal.Open failure into failed checks, or returns it
// when it is no finding (the bucket could not be read).
func (r *runner) openFailed(err error) error {
	var verr *seal.VerifyError
	if errors.As(err, &verr) {
		var fs []finding
		for _, p := range verr.Problems {
			f, ok := classify(p.Object, p.Err)
			if !ok {
				f = finding{check: CheckSeal, object: p.Object, err: p.Err}
			}
			fs = append(fs, f)
		}
		r.stageFailed(fs)
		return nil
	}
	if f, ok := classify("seal.json", err); ok {
		r.stageFailed([]finding{f})
		return nil
	}
	return err
}

// stageFailed records verification findings: the checks they fail, and
// the later checks as not run.
func (r *runner) stageFailed(fs []finding) {
	by := map[string][]finding{}
	for _, f := range fs {
		by[f.check] = append(by[f.check], f)
	}
	for _, check := range []string{CheckSeal, CheckDecrypt} {
		list := by[check]
		if len(list) == 0 {
			continue
		}
		slices.SortFunc(list, func(a, b finding) int { return strings.Compare(a.object, b.object) })
		var objs []string
		for _, f := range list {
			objs = append(objs, f.object)
		}
		r.fail(check, fmt.Sprintf("%d object(s) failed; first: %s", len(list), oneLine(list[0].err)), firstObjects(objs))
	}
	if len(by[CheckSeal]) > 0 && len(by[CheckDecrypt]) == 0 {
		r.checks[CheckDecrypt].Message = "not run: the seal check failed"
	}
	if len(by[CheckSeal]) == 0 {
		r.pass(CheckSeal, "signature, listing and ciphertext sizes match the seal")
	}
	r.notRun("the backup did not verify", CheckRestore, CheckPresence, CheckContent, CheckRTO, CheckJob, CheckVolumes)
}

// judgeRestore records the restore check and reports whether the restored
// objects are worth checking.
func (r *runner) judgeRestore(ctx context.Context, rs *velerov1.Restore, timedOut bool) bool {
	st := rs.Status
	if timedOut {
		done := ""
		if p := st.Progress; p != nil {
			done = fmt.Sprintf(", %d of %d items restored", p.ItemsRestored, p.TotalItems)
		}
		r.fail(CheckRestore, fmt.Sprintf("Restore %s did not finish within %s (phase %q%s)", rs.Name, r.opts.RestoreTimeout, st.Phase, done), nil)
		r.notRun("the restore did not finish", CheckPresence, CheckContent, CheckRTO, CheckJob)
		return false
	}
	results, rerr := readResults(ctx, r.opts.Staging, rs.Name)
	var msgs []string
	if results != nil {
		msgs = append(results.Errors.messages(), results.Warnings.messages()...)
	}
	items := ""
	if p := st.Progress; p != nil {
		items = ", " + plural.S(p.ItemsRestored, "item") + " restored"
	}
	msg := fmt.Sprintf("Restore %s %s%s, %s, %s", rs.Name, st.Phase, items, plural.S(st.Errors, "error"), plural.S(st.Warnings, "warning"))
	if st.FailureReason != "" {
		msg += ": " + st.FailureReason
	}
	if len(st.ValidationErrors) > 0 {
		msg += ": " + strings.Join(st.ValidationErrors, "; ")
	}
	if rerr != nil && (st.Errors > 0 || st.Warnings > 0) {
		msg += " (results file unreadable: " + oneLine(rerr) + ")"
	}
	ok := st.Phase == velerov1.RestorePhaseCompleted && st.Errors == 0 && (st.Warnings == 0 || r.opts.Warnings != WarningsFail)
	if ok {
		r.pass(CheckRestore, msg)
		r.checks[CheckRestore].Objects = firstObjects(msgs)
	} else {
		r.fail(CheckRestore, msg, firstObjects(msgs))
	}
	switch st.Phase {
	case velerov1.RestorePhaseCompleted, velerov1.RestorePhasePartiallyFailed:
		if !ok {
			r.notRun("the restore failed", CheckRTO)
		}
		return true
	}
	r.notRun("the restore failed", CheckPresence, CheckContent, CheckRTO, CheckJob)
	return false
}

// judgeRTO records the RTO check, unless an earlier check failed (then
// nothing was verified in that time).
func (r *runner) judgeRTO(rto time.Duration) {
	for _, name := range []string{CheckRestore, CheckPresence, CheckContent, CheckVolumeFiles} {
		if !r.checks[name].Passed {
			r.fail(CheckRTO, fmt.Sprintf("not verified: the %s check failed (restore took %s)", name, rto.Round(time.Millisecond)), nil)
			return
		}
	}
	switch max := r.opts.MaxRTO; {
	case max == 0:
		r.pass(CheckRTO, fmt.Sprintf("RTO %s (no objective set)", rto.Round(time.Millisecond)))
	case rto <= max:
		r.pass(CheckRTO, fmt.Sprintf("RTO %s within the objective of %s", rto.Round(time.Millisecond), max))
	default:
		r.fail(CheckRTO, fmt.Sprintf("RTO %s exceeds the objective of %s", rto.Round(time.Millisecond), max), nil)
	}
}

func (r *runner) pass(name, msg string) {
	*r.checks[name] = audit.CheckResult{Name: name, Passed: true, Message: msg}
}

func (r *runner) fail(name, msg string, objs []string) {
	*r.checks[name] = audit.CheckResult{Name: name, Message: msg, Objects: objs}
}

func (r *runner) notRun(why string, names ...string) {
	for _, n := range names {
		if c := r.checks[n]; !c.Passed && c.Message == "not run" {
			c.Message = "not run: " + why
		}
	}
}

// namespacesOf lists the backup's namespaces: those of its resource list
// and of its tarball, less Velero's namespace of the DataUploads.
func namespacesOf(m *seal.Manifest, facts *tarballFacts) []string {
	set := maps.Clone(facts.namespaces)
	for key, items := range m.Resources {
		if gvk, err := parseGVK(key); err == nil && gvk.Group+"/"+gvk.Kind == dataUploadKind {
			continue
		}
		for _, it := range items {
			if ns, _, ok := strings.Cut(it, "/"); ok {
				set[ns] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// checkPolicy refuses a backup holding namespaces (sources) the target's
// current policy does not accept: the schedule's template may have been
// wider when it was sealed. The error wraps scope.ErrPolicy and names them.
func (r *runner) checkPolicy(sources []string) error {
	p := r.opts.Policy
	if p == nil {
		return nil
	}
	if refused := p.Refused(sources); len(refused) > 0 {
		return fmt.Errorf("the backup holds namespace(s) %s, which the target's policy (spec.policy.namespaces: %s) does not accept; nothing of it is restored: %w",
			strings.Join(refused, ", "), strings.Join(p.Namespaces, ", "), scope.ErrPolicy)
	}
	return nil
}

// mapping maps each of the backup's namespaces to its destination, once
// the target's policy accepts them all (checkPolicy), and checks the
// result: every destination a valid namespace name, no two
// alike, none a source namespace when Run creates them, and no mapping for
// a namespace the backup lacks.
func (r *runner) mapping(sources []string) (map[string]string, error) {
	if err := r.checkPolicy(sources); err != nil {
		return nil, err // the tarball may hold more than the manifest lists
	}
	out := make(map[string]string, len(sources))
	isSource := map[string]bool{}
	for _, s := range sources {
		isSource[s] = true
	}
	for src := range r.opts.NamespaceMapping {
		if !isSource[src] {
			return nil, fmt.Errorf("%w: the namespace mapping names %s, which the backup does not hold (it holds %s)", ErrInvalidOptions, src, strings.Join(sources, ", "))
		}
	}
	taken := map[string]string{}
	for _, src := range sources {
		dst, ok := r.opts.NamespaceMapping[src]
		if !ok && r.opts.MapNamespace != nil {
			dst, ok = r.opts.MapNamespace(src), true
		}
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: the backup holds namespace %s, which the namespace mapping does not map", ErrInvalidOptions, src)
		case len(validation.IsDNS1123Label(dst)) > 0:
			return nil, fmt.Errorf("%w: namespace %s maps to %q, not a valid namespace name", ErrInvalidOptions, src, dst)
		case taken[dst] != "":
			return nil, fmt.Errorf("%w: namespaces %s and %s both map to %s", ErrInvalidOptions, taken[dst], src, dst)
		case r.opts.CreateNamespaces && isSource[dst]:
			return nil, fmt.Errorf("%w: namespace %s maps to %s, a namespace of the backup: a drill restores only into new namespaces", ErrInvalidOptions, src, dst)
		}
		taken[dst] = src
		out[src] = dst
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the backup holds no namespaced item", errNotVelero)
	}
	return out, nil
}

// oneLine folds an error onto one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
