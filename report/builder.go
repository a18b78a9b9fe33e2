package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
)

// Options say what a report covers. The zero value covers the whole log,
// up to now.
type Options struct {
	// Since (inclusive) and Until (exclusive) bound the period by entry
	// time; zero means unbounded.
	Since, Until time.Time
	// Now is the report's time (GeneratedAt, and Until when Until is zero);
	// zero means time.Now().
	Now time.Time
	// FullSealCheck makes Build also download every sealed object of the
	// period and check its ciphertext SHA-256; by default it checks the
	// seal's signature and that every object is present with its sealed size.
	FullSealCheck bool
	// Target names the offsite location in the report (no credentials).
	Target string
	// NotCovered names, by "<schedule>/<backup>", the volumes of a sealed
	// backup whose data is not sealed, as the cluster's OffsiteBackup
	// status lists them (the plaintext log holds counts only); nil when
	// the report is built without the cluster. NotCoveredFrom says where
	// they were read.
	NotCovered     map[string][]NamedVolume
	NotCoveredFrom string
}

// Builder accumulates a report from audit entries fed in sequence order,
// keeping only what the report shows (never the raw entries), so memory
// grows with the report's rows, not with the log's bytes.
type Builder struct {
	opts      Options
	rep       *Report
	schedules map[string]*scheduleAcc
	drills    map[string]*Drill
	// deleted holds "schedule/backup" of every retention deletion seen,
	// including after the period: a backup sealed in the period and
	// deleted later is not missing.
	deleted map[string]bool
	first   *time.Time
	last    *time.Time
}

type scheduleAcc struct {
	s      *Schedule
	taken  map[string]bool
	sealed map[string]bool
	failed map[string]bool
	recips map[string]*RecipientUse
}

// NewBuilder returns an empty Builder for opts.
func NewBuilder(opts Options) *Builder {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	opts.Now = opts.Now.UTC()
	rep := &Report{Format: FormatV1, GeneratedAt: opts.Now, Until: opts.Now, Target: opts.Target}
	if !opts.Since.IsZero() {
		s := opts.Since.UTC()
		rep.Since = &s
	}
	if !opts.Until.IsZero() {
		rep.Until = opts.Until.UTC()
	}
	rep.Integrity.Seals.Mode = "quick"
	if opts.FullSealCheck {
		rep.Integrity.Seals.Mode = "full"
	}
	return &Builder{
		opts: opts, rep: rep,
		schedules: map[string]*scheduleAcc{}, drills: map[string]*Drill{}, deleted: map[string]bool{},
	}
}

// FromEntries builds a report from entries alone: the chain and the seals
// are marked not checked. Entries may come in any order.
func FromEntries(entries []audit.Entry, opts Options) *Report {
	b := NewBuilder(opts)
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b audit.Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, e := range sorted {
		b.Add(e)
	}
	return b.Report()
}

// inPeriod reports whether t falls in [Since, Until).
func (b *Builder) inPeriod(t time.Time) bool {
	return (b.opts.Since.IsZero() || !t.Before(b.opts.Since)) && (b.opts.Until.IsZero() || t.Before(b.opts.Until))
}

// Add records one entry. Entries outside the period only mark retention
// deletions (see Builder.deleted).
func (b *Builder) Add(e audit.Entry) {
	if e.Kind == audit.KindRetentionDelete {
		var d audit.DeleteDetails
		if json.Unmarshal(e.Details, &d) == nil {
			b.deleted[d.Schedule+"/"+d.Backup] = true
		}
	}
	if !b.inPeriod(e.Time) {
		return
	}
	t := e.Time.UTC()
	if b.first == nil {
		b.first = &t
	}
	b.last = &t
	b.rep.Integrity.Chain.EntriesInPeriod++
	var err error
	switch e.Kind {
	case audit.KindSeal:
		err = b.addSeal(e, t)
	case audit.KindRetentionDelete:
		err = b.addDelete(e, t)
	case audit.KindDrill:
		err = b.addDrill(e, t)
	case audit.KindRestore:
		err = b.addRestore(e, t)
	case audit.KindTargetChange:
		err = b.addTarget(e, t)
	case audit.KindFailure:
		err = b.addFailure(e, t)
	case audit.KindRecover:
		err = b.addRecover(e, t)
	case audit.KindVolumeDelete:
		err = b.addVolumeDelete(e, t)
	default:
		err = fmt.Errorf("unknown kind %q", e.Kind)
	}
	if err != nil {
		b.rep.Unreadable = append(b.rep.Unreadable, Unreadable{
			Time: t, Seq: e.Seq, Actor: e.Actor, Kind: string(e.Kind), Subject: e.Subject, Problem: err.Error(),
		})
	}
}

// details decodes an entry's details; unknown fields are allowed (a newer
// writer may add some).
func details(e audit.Entry, v any) error {
	if len(e.Details) == 0 {
		return fmt.Errorf("%s entry has no details", e.Kind)
	}
	if err := json.Unmarshal(e.Details, v); err != nil {
		return fmt.Errorf("%s details: %w", e.Kind, err)
	}
	return nil
}

func (b *Builder) schedule(namespace, name string) *scheduleAcc {
	acc := b.schedules[name]
	if acc == nil {
		acc = &scheduleAcc{
			s:     &Schedule{Name: name},
			taken: map[string]bool{}, sealed: map[string]bool{}, failed: map[string]bool{},
			recips: map[string]*RecipientUse{},
		}
		b.schedules[name] = acc
	}
	if namespace != "" {
		acc.s.Namespace = namespace
	}
	return acc
}

func (b *Builder) addSeal(e audit.Entry, t time.Time) error {
	var d audit.SealDetails
	if err := details(e, &d); err != nil {
		return err
	}
	if d.Schedule == "" || d.Backup == "" {
		return fmt.Errorf("seal details name no schedule or backup")
	}
	acc := b.schedule(d.Namespace, d.Schedule)
	bk := Backup{
		Time: t, Seq: e.Seq, Actor: e.Actor, Schedule: d.Schedule, Name: d.Backup, Objects: d.Objects,
		CiphertextBytes: d.CiphertextBytes, SealDigest: d.SealDigest, Recipients: d.Recipients,
		Offsite: OffsiteNotChecked,
	}
	if !d.RetainUntil.IsZero() {
		ru := d.RetainUntil.UTC()
		bk.RetainUntil = &ru
	}
	if v := d.Volumes; v != nil {
		bk.Volumes = &VolumeCoverage{Sealed: v.Sealed, Reasons: v.NotCovered}
		for _, n := range v.NotCovered {
			bk.Volumes.NotCovered += max(n, 0)
		}
		if bk.Volumes.NotCovered > 0 {
			acc.s.BackupsNotCovered++
			if named, ok := b.opts.NotCovered[d.Schedule+"/"+d.Backup]; ok {
				bk.Volumes.Named, bk.Volumes.NamedFrom = named, b.opts.NotCoveredFrom
			}
		}
	}
	acc.s.Backups = append(acc.s.Backups, bk)
	acc.taken[d.Backup], acc.sealed[d.Backup] = true, true
	acc.s.SealedBytes += d.CiphertextBytes
	for _, fp := range d.Recipients {
		u := acc.recips[fp]
		if u == nil {
			u = &RecipientUse{Fingerprint: fp, FirstUsed: t}
			acc.recips[fp] = u
		}
		u.Backups++
		u.LastUsed = t
	}
	return nil
}

func (b *Builder) addDelete(e audit.Entry, t time.Time) error {
	var d audit.DeleteDetails
	if err := details(e, &d); err != nil {
		return err
	}
	b.schedule(d.Namespace, d.Schedule).s.RetentionDeletions++
	b.rep.Deletions = append(b.rep.Deletions, Deletion{
		Time: t, Seq: e.Seq, Actor: e.Actor, Namespace: d.Namespace, Schedule: d.Schedule, Backup: d.Backup, Reason: d.Reason,
	})
	return nil
}

func (b *Builder) addDrill(e audit.Entry, t time.Time) error {
	var d audit.DrillDetails
	if err := details(e, &d); err != nil {
		return err
	}
	key := d.Namespace + "/" + d.Drill
	dr := b.drills[key]
	if dr == nil {
		dr = &Drill{Namespace: d.Namespace, Name: d.Drill}
		b.drills[key] = dr
	}
	at := t
	if !d.FinishedAt.IsZero() {
		at = d.FinishedAt.UTC()
	}
	run := DrillRun{
		Time: at, Seq: e.Seq, Actor: e.Actor, Run: d.Run, Schedule: d.Schedule, Backup: d.Backup, Passed: d.Passed,
		RTOSeconds: d.RTOSeconds, MaxRTOSeconds: d.MaxRTOSeconds, FailedChecks: failedChecks(d.Checks), Volumes: notVerified(&d),
	}
	dr.RunList = append(dr.RunList, run)
	return nil
}

// notVerified is d's volumes, each one Level 1 did not read marked so
// (audit.VolumeCheck.NotVerified): entries written before the mark was
// recorded say it in their "volumes" check ("not requested: ...").
func notVerified(d *audit.DrillDetails) []audit.VolumeCheck {
	skipped := slices.ContainsFunc(d.Checks, func(c audit.CheckResult) bool {
		return c.Name == "volumes" && c.Passed && strings.HasPrefix(c.Message, "not requested")
	})
	if !skipped {
		return d.Volumes
	}
	out := slices.Clone(d.Volumes)
	for i := range out {
		if out[i].NotVerified == "" && out[i].Files == 0 && out[i].Bytes == 0 {
			out[i].NotVerified = audit.VolumeNotVerifiedSkipped
		}
	}
	return out
}

// failedChecks keeps the checks that failed.
func failedChecks(cs []audit.CheckResult) []audit.CheckResult {
	var out []audit.CheckResult
	for _, c := range cs {
		if !c.Passed {
			out = append(out, c)
		}
	}
	return out
}

func (b *Builder) addRestore(e audit.Entry, t time.Time) error {
	var d audit.RestoreDetails
	if err := details(e, &d); err != nil {
		return err
	}
	b.rep.Restores = append(b.rep.Restores, Restore{
		Time: t, Seq: e.Seq, Actor: e.Actor, User: d.User, Host: d.Host, Schedule: d.Schedule, Backup: d.Backup,
		Destination: d.Destination, NamespaceMapping: d.NamespaceMapping, StagingLocation: d.StagingLocation,
		Passed: d.Passed, FailedChecks: failedChecks(d.Checks), Volumes: d.Volumes,
	})
	return nil
}

func (b *Builder) addTarget(e audit.Entry, t time.Time) error {
	var d audit.TargetDetails
	if err := details(e, &d); err != nil {
		return err
	}
	b.rep.TargetChanges = append(b.rep.TargetChanges, TargetChange{
		Time: t, Seq: e.Seq, Actor: e.Actor, Namespace: d.Namespace, Target: d.Target, Change: d.Change, Fields: d.Fields,
		Endpoint: d.Endpoint, Bucket: d.Bucket, Recipients: d.Recipients, SigningKey: d.SigningKey,
		LockMode: d.LockMode, LockDays: d.LockDays, ChangedBy: d.ChangedBy, UsedBy: d.UsedBy,
	})
	return nil
}

func (b *Builder) addFailure(e audit.Entry, t time.Time) error {
	var d audit.FailureDetails
	if err := details(e, &d); err != nil {
		return err
	}
	b.rep.Failures = append(b.rep.Failures, Failure{
		Time: t, Seq: e.Seq, Actor: e.Actor, Namespace: d.Namespace, Operation: d.Operation,
		Schedule: d.Schedule, Backup: d.Backup, Reason: d.Reason, Message: d.Message,
	})
	if d.Schedule != "" && (d.Operation == "backup" || d.Operation == "seal") {
		acc := b.schedule(d.Namespace, d.Schedule)
		acc.s.FailedAttempts++
		if d.Backup != "" {
			acc.taken[d.Backup], acc.failed[d.Backup] = true, true
		}
	}
	return nil
}

// Report finishes and returns the report; call it once, after the last
// Add and any MatchSeals or SetChain.
func (b *Builder) Report() *Report {
	rep := b.rep
	c := &rep.Integrity.Chain
	if !c.Checked {
		c.FirstTime, c.LastTime = b.first, b.last
	}
	keys := slices.Sorted(maps.Keys(b.schedules))
	rep.Schedules = make([]Schedule, 0, len(keys))
	for _, k := range keys {
		rep.Schedules = append(rep.Schedules, b.schedules[k].finish())
	}
	rep.Drills = make([]Drill, 0, len(b.drills))
	for _, k := range slices.Sorted(maps.Keys(b.drills)) {
		rep.Drills = append(rep.Drills, finishDrill(b.drills[k]))
	}
	rep.Restores = nonNil(rep.Restores)
	rep.Recoveries = nonNil(rep.Recoveries)
	rep.Deletions = nonNil(rep.Deletions)
	rep.TargetChanges = nonNil(rep.TargetChanges)
	rep.Failures = nonNil(rep.Failures)
	rep.HIPAA = hipaaRows(rep)
	return rep
}

func (a *scheduleAcc) finish() Schedule {
	s := *a.s
	s.BackupsTaken, s.BackupsSealed = len(a.taken), len(a.sealed)
	for bk := range a.failed {
		if !a.sealed[bk] {
			s.BackupsFailed++
		}
	}
	slices.SortStableFunc(s.Backups, func(x, y Backup) int { return cmp.Compare(x.Seq, y.Seq) })
	if n := len(s.Backups); n > 0 {
		last := s.Backups[n-1]
		s.LastSealed = &last
	}
	if s.Backups == nil {
		s.Backups = []Backup{}
	}
	s.Recipients = make([]RecipientUse, 0, len(a.recips))
	for _, fp := range slices.Sorted(maps.Keys(a.recips)) {
		s.Recipients = append(s.Recipients, *a.recips[fp])
	}
	return s
}

func finishDrill(d *Drill) Drill {
	out := *d
	slices.SortStableFunc(out.RunList, func(x, y DrillRun) int {
		return cmp.Or(x.Time.Compare(y.Time), cmp.Compare(x.Seq, y.Seq))
	})
	days := map[string]*Day{}
	var order []string
	for i := range out.RunList {
		r := &out.RunList[i]
		out.Runs++
		date := r.Time.Format(time.DateOnly)
		day := days[date]
		if day == nil {
			day = &Day{Date: date}
			days[date] = day
			order = append(order, date)
		}
		t := r.Time
		out.LastRun = &t
		out.MaxRTOSeconds = r.MaxRTOSeconds
		if r.Passed {
			out.Passed++
			day.Passed++
			out.LastPass = &t
		} else {
			out.Failed++
			day.Failed++
		}
		if r.MaxRTOSeconds > 0 && r.RTOSeconds > r.MaxRTOSeconds {
			out.OverObjective++
		}
	}
	if out.Runs > 0 {
		out.PassRate = float64(out.Passed) / float64(out.Runs)
	}
	slices.Sort(order)
	out.Days = make([]Day, 0, len(order))
	for _, date := range order {
		out.Days = append(out.Days, *days[date])
	}
	if out.RunList == nil {
		out.RunList = []DrillRun{}
	}
	return out
}

// nonNil returns s, or an empty slice for nil, so JSON has [] rather
// than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// subject names a backup for messages.
func subject(schedule, backup string) string {
	return strings.TrimSuffix(schedule+"/"+backup, "/")
}

func (b *Builder) addRecover(e audit.Entry, t time.Time) error {
	var d audit.RecoverDetails
	if err := details(e, &d); err != nil {
		return err
	}
	for _, o := range d.Objects {
		b.rep.Recoveries = append(b.rep.Recoveries, Recovery{
			Time: t, Seq: e.Seq, Actor: e.Actor, Schedule: d.Schedule, Backup: d.Backup, Key: o.Key,
			MarkerTime: o.MarkerTime.UTC(), Version: o.Version, Action: o.Action, Error: o.Error,
		})
	}
	return nil
}

func (b *Builder) addVolumeDelete(e audit.Entry, t time.Time) error {
	var d audit.VolumeDeleteDetails
	if err := details(e, &d); err != nil {
		return err
	}
	b.rep.VolumeDeletions = append(b.rep.VolumeDeletions, VolumeDeletion{
		Time: t, Seq: e.Seq, Actor: e.Actor, Namespace: d.Namespace, Schedule: d.Schedule, Target: d.Target,
		Blobs: d.Blobs, Bytes: d.Bytes, Receipts: d.Receipts,
	})
	return nil
}
