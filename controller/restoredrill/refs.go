package restoredrill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/location"
)

// checkRefs resolves what the drill references, in order: its
// BackupSchedule, that schedule's OffsiteTarget (Ready), the identity
// Secret (an age identity), the staging BackupStorageLocation (not the
// schedule's primary one). The first that does not resolve sets Ready
// False, and the drill is looked at again after drillRefRetryInterval.
// Failing API reads are errors (retried with backoff).
func (r *Reconciler) checkRefs(ctx context.Context, st *drillState) error {
	err := r.resolveRefs(ctx, st)
	if st.NotReadyReason() != "" && st.sched != nil {
		st.WakeAt(st.Now.Add(drillRefRetryInterval))
	}
	return err
}

func (r *Reconciler) resolveRefs(ctx context.Context, st *drillState) error {
	d := st.obj
	bs := &v1alpha1.BackupSchedule{}
	name := d.Spec.BackupScheduleRef.Name
	err := r.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: name}, bs)
	if apierrors.IsNotFound(err) {
		st.NotReady(v1alpha1.ReasonScheduleNotFound,
			"BackupSchedule %q (spec.backupScheduleRef) does not exist in namespace %s: create it or name another", name, d.Namespace)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read BackupSchedule %s: %w", name, err)
	}
	st.bs = bs
	tname := bs.Spec.OffsiteTargetRef.Name
	t, err := kit.ReadyTarget(ctx, r.Client, &st.State, d.Namespace, tname,
		fmt.Sprintf("OffsiteTarget %q of BackupSchedule %s does not exist", tname, name))
	if err != nil || t == nil {
		return err
	}
	st.target = t
	if err := kit.CheckTargetPolicy(t, bs); err != nil {
		// The drill would restore backups of namespaces the target no
		// longer accepts (or of a schedule it refuses): not through us.
		msg := fmt.Sprintf("OffsiteTarget %q refuses BackupSchedule %s: %v; no drill runs until the schedule's template or the target's policy changes", tname, name, err)
		if c := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Reason != v1alpha1.ReasonPolicyViolation || c.Message != msg {
			st.Event(t, corev1.EventTypeWarning, v1alpha1.ReasonPolicyViolation, "%s", msg)
		}
		st.NotReady(v1alpha1.ReasonPolicyViolation, "%s", msg)
		return nil
	}
	ids, err := r.identity(ctx, d)
	if err != nil {
		var re *refError
		if errors.As(err, &re) {
			st.NotReady(re.reason, "%s", re.msg)
			return nil
		}
		return err
	}
	if msg, ok := notRecipient(ids, t); !ok {
		st.NotReady(v1alpha1.ReasonIdentityNotRecipient, "Secret %s/%s (spec.identitySecretRef): %s", d.Namespace, d.Spec.IdentitySecretRef.Name, msg)
		return nil
	}
	if err := r.checkStaging(ctx, bs, d.Spec.Staging); err != nil {
		var re *refError
		if errors.As(err, &re) {
			st.NotReady(re.reason, "%s", re.msg)
			return nil
		}
		return err
	}
	return nil
}

// notRecipient says whether one of the drill identities belongs to a
// recipient of the target (by fingerprint, as the target's status lists
// them), and what is wrong when none does: the drill could not decrypt what
// the target seals. Fingerprints are of public keys; nothing secret shows.
func notRecipient(ids []crypto.Identity, t *v1alpha1.OffsiteTarget) (string, bool) {
	fps := t.Status.RecipientFingerprints
	if len(fps) == 0 {
		return "", true // not known yet: the target's check has not listed them
	}
	var have []string
	for _, id := range ids {
		fp := id.Fingerprint()
		if fp == "" || slices.Contains(fps, fp) {
			return "", true
		}
		have = append(have, fp)
	}
	return fmt.Sprintf("the drill identity (%s) is not a recipient of OffsiteTarget %s (%s): the drill could not decrypt what it seals; add the identity's recipient (age1..., 'age-keygen -y') to the target's spec.recipients",
		strings.Join(have, ", "), t.Name, strings.Join(fps, ", ")), false
}

// refError is a reference of the drill that does not resolve: the Ready
// reason and what to fix.
type refError struct{ reason, msg string }

func (e *refError) Error() string { return e.msg }

func refErrorf(reason, format string, args ...any) *refError {
	return &refError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// identity reads and parses the drill identity. A Secret or key that is
// missing or may not be read, or does not parse, is a *refError; messages
// never quote the key.
func (r *Reconciler) identity(ctx context.Context, d *v1alpha1.RestoreDrill) ([]crypto.Identity, error) {
	ref := d.Spec.IdentitySecretRef
	key := ref.Key
	if key == "" {
		key = DefaultIdentityKey
	}
	if r.Namespace != "" && d.Namespace != r.Namespace {
		return nil, refErrorf(v1alpha1.ReasonIdentityMissing,
			"the controller reads Secrets only in its namespace %s, and this RestoreDrill is in %s: create the drill, its schedule and the identity Secret in %s",
			r.Namespace, d.Namespace, r.Namespace)
	}
	sec := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: ref.Name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return nil, refErrorf(v1alpha1.ReasonIdentityMissing, "Secret %s/%s (spec.identitySecretRef) not found", d.Namespace, ref.Name)
	case apierrors.IsForbidden(err):
		return nil, refErrorf(v1alpha1.ReasonIdentityMissing,
			"Secret %s/%s (spec.identitySecretRef) may not be read by the controller: keep drills and their Secrets in the controller's namespace", d.Namespace, ref.Name)
	case err != nil:
		return nil, fmt.Errorf("read Secret %s/%s: %w", d.Namespace, ref.Name, err)
	}
	data, ok := sec.Data[key]
	if !ok || len(bytes.TrimSpace(data)) == 0 {
		return nil, refErrorf(v1alpha1.ReasonIdentityMissing, "Secret %s/%s has no key %q (spec.identitySecretRef.key)", d.Namespace, ref.Name, key)
	}
	ids, err := crypto.ParseIdentities(bytes.NewReader(data))
	if err != nil { // crypto's errors never quote key material
		return nil, refErrorf(v1alpha1.ReasonIdentityInvalid,
			"Secret %s/%s key %q: %v (want an age identity, AGE-SECRET-KEY-1..., as 'safekeep keygen' writes)", d.Namespace, ref.Name, key, err)
	}
	return ids, nil
}

// checkStaging checks that the staging location exists and is not where
// the schedule's primary backups go (same location, or same bucket and
// prefix).
func (r *Reconciler) checkStaging(ctx context.Context, bs *v1alpha1.BackupSchedule, staging string) error {
	locs := r.locations()
	bsl, err := locs.Location(ctx, staging)
	if errors.Is(err, location.ErrUnusable) {
		return refErrorf(v1alpha1.ReasonStagingNotFound, "BackupStorageLocation %s/%s (spec.staging) not found: create a location on a bucket or prefix of its own for drills",
			r.VeleroNamespace, staging)
	}
	if err != nil {
		return err
	}
	primary, err := locs.Location(ctx, bs.Spec.Template.StorageLocation)
	if errors.Is(err, location.ErrUnusable) {
		return nil // the schedule's own problem; nothing to compare with
	}
	if err != nil {
		return err
	}
	if err := location.CheckStaging(bsl, primary); err != nil {
		return refErrorf(v1alpha1.ReasonStagingInvalid,
			"spec.staging %q stores where BackupSchedule %s's primary backups go (location %s): staged copies must never mix with primary ones; use a bucket or prefix of their own",
			staging, bs.Name, primary.Name)
	}
	return nil
}

// locations reads Velero's locations through the uncached reader.
func (r *Reconciler) locations() location.Velero {
	return location.Velero{Reader: r.APIReader, Namespace: r.VeleroNamespace, Credentials: r.VeleroCredentials}
}
