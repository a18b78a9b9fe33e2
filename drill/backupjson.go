package drill

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stagedTTL is how long after staging a staged Backup expires: if a drill
// is never cleaned up, Velero's garbage collection removes the staged copy
// (Backup object and staged objects) after this plus the restore timeout.
const stagedTTL = 24 * time.Hour

// stagedBackupJSON rewrites the sealed velero-backup.json for the staged
// copy: metadata.name is the staged name, the namespace Velero's, the
// labels only velero.io/storage-location (the staging location), the
// Safekeep labels and Options.Labels, the annotations only
// AnnotationSource; ownerReferences and instance fields are dropped;
// spec.storageLocation names the staging location, spec.hooks are dropped
// (as Velero's backup sync does); status.expiration is stagedTTL after the
// restore deadline. The source's labels go, so that nothing that selects
// Backups by label (a Velero Schedule, Safekeep's BackupSchedule) takes the
// staged copy for one of its own. Every other field is kept as Velero wrote
// it, unknown ones included.
func (r *runner) stagedBackupJSON(data []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: velero-backup.json: %w", errNotVelero, err)
	}
	if doc["kind"] != "Backup" {
		return nil, fmt.Errorf("%w: velero-backup.json holds a %v, not a Backup", errNotVelero, doc["kind"])
	}
	labels := r.stagedLabels()
	labels[velerov1.StorageLocationLabel] = veleroLabelValue(r.opts.StagingLocation)
	doc["metadata"] = map[string]any{
		"name":        r.opts.StagedName,
		"namespace":   r.opts.VeleroNamespace,
		"labels":      labels,
		"annotations": map[string]string{AnnotationSource: r.opts.Schedule + "/" + r.opts.Backup},
	}
	spec, _ := doc["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		doc["spec"] = spec
	}
	spec["storageLocation"] = r.opts.StagingLocation
	delete(spec, "hooks")
	status, _ := doc["status"].(map[string]any)
	if status == nil || status["phase"] != string(velerov1.BackupPhaseCompleted) {
		return nil, fmt.Errorf("%w: velero-backup.json: phase %v, not Completed", errNotVelero, status["phase"])
	}
	expires := r.now().Add(r.opts.RestoreTimeout + stagedTTL).UTC().Truncate(time.Second)
	status["expiration"] = expires.Format(time.RFC3339)
	return json.Marshal(doc)
}

// stagedLabels are the labels of the staged Backup and of the Restore.
func (r *runner) stagedLabels() map[string]string {
	labels := maps.Clone(r.opts.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelStaged] = "true"
	labels[LabelSourceBackup] = veleroLabelValue(r.opts.Backup)
	return labels
}

// decodeBackup decodes the staged velero-backup.json into the Backup
// object to create.
func decodeBackup(data []byte) (*velerov1.Backup, error) {
	b := &velerov1.Backup{}
	if err := json.Unmarshal(data, b); err != nil {
		return nil, fmt.Errorf("decode staged velero-backup.json: %w", err)
	}
	b.TypeMeta = metav1.TypeMeta{}
	return b, nil
}

// veleroLabelValue is a name as Velero puts it in a label value
// (label.GetValidName): as is up to 63 characters, else its first 57 and
// 6 hex digits of its SHA-256.
func veleroLabelValue(name string) string {
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:57] + hex.EncodeToString(sum[:])[:6]
}
