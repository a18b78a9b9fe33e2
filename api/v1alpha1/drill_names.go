package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Labels the RestoreDrill reconciler puts on what a run creates (scratch
// namespaces, the staged Velero Backup and the Restore), so that cleanup
// and garbage collection find them, and only them.
const (
	// LabelDrill names the RestoreDrill, as DrillLabelValue renders it.
	LabelDrill = "safekeep.dev/drill"
	// LabelDrillRun is the run's ID (DrillRunID).
	LabelDrillRun = "safekeep.dev/drill-run"
)

// FinalizerDrillCleanup is on every RestoreDrill from before its first
// run until what its runs left (scratch namespaces, the staged Backup and
// its objects, the Restore) is deleted: a drill deleted while the
// controller is down is cleaned up when it is back.
const FinalizerDrillCleanup = "safekeep.dev/drill-cleanup"

// FinalizerTargetAudit is on every OffsiteTarget whose configuration the
// audit log records, so that its deletion is recorded there too before
// the API server lets it go.
const FinalizerTargetAudit = "safekeep.dev/target-audit"

// DrillReaderClusterRole is the ClusterRole (deploy/drill_rbac.yaml) the
// controller binds to itself in each scratch namespace it creates: read
// access to the restored objects there, and nowhere else.
const DrillReaderClusterRole = "safekeep-drill-reader"

// The right DrillReaderClusterRole grants in a scratch namespace and
// nowhere else: verb RestoreIntoVerb on ScratchResource (group safekeep.dev,
// no such resource exists). The admission policy safekeep-drill-restores
// (deploy/drill_rbac.yaml) lets the controller create a Velero Restore
// only when it holds this right in every namespace the Restore writes to.
const (
	ScratchResource = "scratchnamespaces"
	RestoreIntoVerb = "restore-into"
)

// DrillLabelValue is the LabelDrill value of drill namespace/name:
// "<namespace>.<name>", cut and hashed to fit a label value.
func DrillLabelValue(namespace, name string) string {
	return fitName(namespace+"."+name, maxLabelValue)
}

// DrillRunID is the ID of the run of a drill scheduled at (or, manual,
// asked for at) t: t in UTC as yyyymmddhhmmss, with "-m" after it for a
// manual run. The same time gives the same ID, so `safekeep drill run`
// knows the ID of the run it asked for, and a run asked for twice is run
// once.
func DrillRunID(t time.Time, trigger string) string {
	id := t.UTC().Format(timeSuffix)
	if trigger == TriggerManual {
		id += "-m"
	}
	return id
}

// DrillStagedName is the Velero backup name a run of drill namespace/name
// stages its backup under: "drill-<namespace>-<name>-<hash>-<run>", where
// hash is 6 hex digits of SHA-256 of "<namespace>/<name>" (so that drills
// whose names join alike differ), at most 63 characters (the readable part
// cut to fit), without dots: never a BackupSchedule's backup name.
func DrillStagedName(namespace, name, run string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	suffix := "-" + hex.EncodeToString(sum[:])[:6] + "-" + run
	head := "drill-" + namespace + "-" + name
	if limit := maxLabelValue - len(suffix); len(head) > limit {
		head = strings.TrimRight(head[:limit], "-")
	}
	return head + suffix
}
