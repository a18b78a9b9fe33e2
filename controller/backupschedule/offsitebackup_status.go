package backupschedule

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/seal"
)

// newOffsiteBackup is the record of a sealed backup of schedule s in the
// OffsiteTarget named targetName. Its name is the Velero backup's. It
// carries v1alpha1.LabelSchedule; the caller sets the owner reference.
func newOffsiteBackup(s *v1alpha1.BackupSchedule, targetName string, sl *seal.Seal) *v1alpha1.OffsiteBackup {
	return &v1alpha1.OffsiteBackup{
		ObjectMeta: metav1.ObjectMeta{
			Name:      sl.Backup,
			Namespace: s.Namespace,
			Labels:    map[string]string{v1alpha1.LabelSchedule: v1alpha1.ScheduleLabelValue(s.Namespace, s.Name)},
		},
		Spec: v1alpha1.OffsiteBackupSpec{
			BackupScheduleRef: &corev1.LocalObjectReference{Name: s.Name},
			OffsiteTargetRef:  corev1.LocalObjectReference{Name: targetName},
			ScheduleName:      sl.Schedule,
			VeleroBackupName:  sl.Backup,
		},
	}
}

// recordsSeal reports whether ob is the record of sl in the OffsiteTarget
// named targetName (and not another object that took the name).
func recordsSeal(ob *v1alpha1.OffsiteBackup, targetName string, sl *seal.Seal) bool {
	return ob.Spec.ScheduleName == sl.Schedule && ob.Spec.VeleroBackupName == sl.Backup &&
		ob.Spec.OffsiteTargetRef.Name == targetName
}

// sealedStatus fills ob's status with what sl records, at time now: sizes,
// digest, fingerprints, times, and the Sealed, Ready and (when unset)
// Verified conditions. Plaintext size and seal duration are the caller's
// to set (the seal does not hold them).
func sealedStatus(ob *v1alpha1.OffsiteBackup, sl *seal.Seal, now time.Time) {
	st := &ob.Status
	st.ObservedGeneration = ob.Generation
	st.Objects = int64(len(sl.Objects))
	st.CiphertextBytes = sl.CiphertextBytes()
	st.SealDigest = sl.Digest()
	st.RecipientFingerprints = slices.Clone(sl.Recipients)
	st.SealedAt = &metav1.Time{Time: sl.SealedAt}
	st.RetainUntil = nil
	if sl.Lock != nil {
		st.RetainUntil = &metav1.Time{Time: sl.Lock.RetainUntil}
	}
	msg := fmt.Sprintf("seal.json written at %s: %d objects, restorable", sl.SealedAt.UTC().Format(time.RFC3339), len(sl.Objects))
	kit.SetCondition(&ob.Status.Conditions, ob.Generation, now, v1alpha1.ConditionSealed, metav1.ConditionTrue, v1alpha1.ReasonSealed, msg)
	kit.SetCondition(&ob.Status.Conditions, ob.Generation, now, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSealed, msg)
	if meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionVerified) == nil {
		kit.SetCondition(&ob.Status.Conditions, ob.Generation, now, v1alpha1.ConditionVerified, metav1.ConditionUnknown, v1alpha1.ReasonNeverDrilled,
			"no restore drill has used this backup yet")
	}
}
