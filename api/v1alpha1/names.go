package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Labels and annotations the BackupSchedule reconciler puts on the Velero
// Backups it creates (in the Velero namespace) and on OffsiteBackups, and
// the annotation that asks for a run now.
const (
	// LabelSchedule names the BackupSchedule a Velero Backup or an
	// OffsiteBackup belongs to, as ScheduleLabelValue renders it. The
	// controller watches only Velero Backups that carry it.
	LabelSchedule = "safekeep.dev/schedule"
	// AnnotationScheduleNamespace and AnnotationScheduleName name the
	// BackupSchedule of a Velero Backup in full (label values are limited to
	// 63 characters; these are not).
	AnnotationScheduleNamespace = "safekeep.dev/schedule-namespace"
	AnnotationScheduleName      = "safekeep.dev/schedule-name"
	// AnnotationScheduledTime is the time (RFC 3339, UTC) a Velero Backup's
	// run was scheduled for, or requested at for a manual run.
	AnnotationScheduledTime = "safekeep.dev/scheduled-time"
	// AnnotationTrigger says what started the run: TriggerSchedule or
	// TriggerManual.
	AnnotationTrigger = "safekeep.dev/trigger"
	// AnnotationRunNow on a BackupSchedule asks for a run at once; its value
	// is the request time in RFC 3339 (what `safekeep backup now` writes),
	// which names the run's Velero Backup (ManualBackupName). The controller
	// removes the annotation when the run has started. A suspended
	// schedule refuses it (Event RunNowRefused); a run in flight delays it.
	AnnotationRunNow = "safekeep.dev/run-now"
)

// Values of AnnotationTrigger.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
)

// Name limits.
const (
	maxLabelValue = 63  // a label value
	maxObjectName = 253 // a DNS-1123 subdomain, as Velero Backup names are
	hashLen       = 10  // hex characters of SHA-256 that stand for a cut tail
	timeSuffix    = "20060102150405"
)

// ScheduleLabelValue is the LabelSchedule value of schedule namespace/name:
// "<namespace>.<name>", which is unique (namespaces hold no dots). When
// that is longer than a label value may be, it is cut and ends in a hash of
// the full name, so it stays unique.
func ScheduleLabelValue(namespace, name string) string {
	return fitName(namespace+"."+name, maxLabelValue)
}

// BackupName is the name of the Velero Backup that schedule namespace/name
// creates for the run scheduled at (or requested at) t:
// "<namespace>.<name>-<yyyymmddhhmmss>", t in UTC. The same schedule and
// time always give the same name, so a controller that restarts mid-run
// finds the Backup it made instead of making another; different schedules
// never share one (namespaces hold no dots, and the time part has a fixed
// length). Names longer than 253 characters are cut and hashed.
func BackupName(namespace, name string, t time.Time) string {
	return backupName(namespace, name, "-"+t.UTC().Format(timeSuffix))
}

// ManualBackupName is the name of the Velero Backup of a run asked for at t
// (AnnotationRunNow): BackupName's with "-manual" after the time, so that
// a run asked for at a scheduled time is a run of its own, and the two
// kinds of names never meet (scheduled ones end in a digit).
func ManualBackupName(namespace, name string, t time.Time) string {
	return backupName(namespace, name, "-"+t.UTC().Format(timeSuffix)+"-manual")
}

func backupName(namespace, name, suffix string) string {
	return fitName(namespace+"."+name, maxObjectName-len(suffix)) + suffix
}

// fitName returns s when it has at most limit characters, else a prefix of
// s, "-" and a hash of s, limit characters in all and ending in a letter or
// digit. s must be a valid name (lower-case letters, digits, '-' and '.').
func fitName(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	head := strings.TrimRight(s[:limit-hashLen-1], "-.")
	return head + "-" + hex.EncodeToString(sum[:])[:hashLen]
}
