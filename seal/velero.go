package seal

import (
	"encoding/json"
	"fmt"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxVeleroJSON bounds how much of velero-backup.json is read.
const maxVeleroJSON = 16 << 20

// parseVeleroBackup reads velero-backup.json, checks that it describes a
// Completed backup named backup, and returns the times and counts a seal
// records. Errors wrap ErrNotVeleroBackup or ErrNotCompleted.
func parseVeleroBackup(data []byte, backup string) (*VeleroInfo, error) {
	var b velerov1.Backup
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotVeleroBackup, VeleroBackupJSON, err)
	}
	if b.Kind != "" && b.Kind != "Backup" {
		return nil, fmt.Errorf("%w: %s holds a %q", ErrNotVeleroBackup, VeleroBackupJSON, b.Kind)
	}
	if b.Name != "" && b.Name != backup {
		return nil, fmt.Errorf("%w: %s names backup %q, not %q", ErrNotVeleroBackup, VeleroBackupJSON, b.Name, backup)
	}
	if b.Status.Phase != velerov1.BackupPhaseCompleted {
		phase := string(b.Status.Phase)
		if phase == "" {
			phase = "unset"
		}
		return nil, fmt.Errorf("%w: backup %s is in phase %s, want %s", ErrNotCompleted, backup, phase, velerov1.BackupPhaseCompleted)
	}
	info := &VeleroInfo{
		Phase:               string(b.Status.Phase),
		FormatVersion:       b.Status.FormatVersion,
		StartTimestamp:      utcTime(b.Status.StartTimestamp),
		CompletionTimestamp: utcTime(b.Status.CompletionTimestamp),
		Expiration:          utcTime(b.Status.Expiration),
		Warnings:            b.Status.Warnings,
		Errors:              b.Status.Errors,
	}
	if p := b.Status.Progress; p != nil {
		info.TotalItems, info.ItemsBackedUp = p.TotalItems, p.ItemsBackedUp
	}
	return info, nil
}

func utcTime(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
