package backupschedule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/location"
	"github.com/safekeep-dev/safekeep/scope"
)

// refRetryInterval is how soon a schedule whose location or namespace is
// missing looks again (nothing watches them).
const refRetryInterval = time.Minute

// checkScope keeps the protected namespaces (scope) out of the schedule's
// backups and says so (status.excludedNamespaces, KeysExcluded), and
// checks up front what would make a run fail late: the storage location
// and the namespaces the template names must exist.
func (r *Reconciler) checkScope(ctx context.Context, st *scheduleState) error {
	t := st.obj.Spec.Template
	res, err := scope.Protect(scope.Namespaces{Included: t.IncludedNamespaces, Excluded: t.ExcludedNamespaces}, r.protected()...)
	st.obj.Status.ExcludedNamespaces = res.Protected
	switch {
	case errors.Is(err, scope.ErrOnlyProtected):
		msg := fmt.Sprintf("spec.template.includedNamespaces: %v; they hold Safekeep's keys and Velero's credentials and are never backed up", err)
		st.setCondition(v1alpha1.ConditionKeysExcluded, metav1.ConditionFalse, v1alpha1.ReasonOnlyKeys, msg)
		st.NotReady(v1alpha1.ReasonOnlyKeys, "%s", msg)
		return nil
	case len(res.Narrowed) > 0:
		msg := fmt.Sprintf("the template's scope includes %s, which hold Safekeep's keys and Velero's credentials: every backup leaves them out (add them to spec.template.excludedNamespaces to say so)",
			strings.Join(res.Narrowed, ", "))
		if c := st.condition(v1alpha1.ConditionKeysExcluded); c == nil || c.Reason != v1alpha1.ReasonScopeNarrowed {
			st.Event(nil, corev1.EventTypeWarning, v1alpha1.ReasonScopeNarrowed, "%s", msg)
		}
		st.setCondition(v1alpha1.ConditionKeysExcluded, metav1.ConditionTrue, v1alpha1.ReasonScopeNarrowed, msg)
	default:
		st.setCondition(v1alpha1.ConditionKeysExcluded, metav1.ConditionTrue, v1alpha1.ReasonOutOfScope,
			"the template's scope leaves out "+strings.Join(res.Protected, ", ")+", which hold Safekeep's keys and Velero's credentials")
	}
	st.scope = res.Namespaces
	if !checkPolicy(st) {
		return nil
	}
	return r.checkReferences(ctx, st)
}

// checkPolicy checks the template against its target's spec.policy (the
// admission policy safekeep-target-policy does too, but a schedule stored
// before the policy was set, or without admission, must not run). A
// breach is Ready False and one Warning Event; no run starts.
func checkPolicy(st *scheduleState) bool {
	if st.target == nil {
		return true // not Ready: nothing runs anyway
	}
	err := kit.CheckTargetPolicy(st.target, st.obj)
	if err == nil {
		return true
	}
	msg := fmt.Sprintf("OffsiteTarget %q refuses this schedule: %v; no backup runs until the template or the target's policy changes", st.target.Name, err)
	if c := st.condition(v1alpha1.ConditionReady); c == nil || c.Reason != v1alpha1.ReasonPolicyViolation || c.Message != msg {
		st.Event(st.target, corev1.EventTypeWarning, v1alpha1.ReasonPolicyViolation, "%s", msg)
	}
	st.NotReady(v1alpha1.ReasonPolicyViolation, "%s", msg)
	return false
}

// checkReferences finds the storage location and the namespaces named
// (not matched by "*" or a glob) in the template.
func (r *Reconciler) checkReferences(ctx context.Context, st *scheduleState) error {
	t := st.obj.Spec.Template
	if _, err := r.locations().Location(ctx, t.StorageLocation); errors.Is(err, location.ErrUnusable) {
		st.NotReady(v1alpha1.ReasonLocationNotFound, "spec.template.storageLocation: %v: create it or name another", err)
		st.WakeAt(st.Now.Add(refRetryInterval))
		return nil
	} else if err != nil {
		return err
	}
	for _, ns := range st.scope.Included {
		if ns == "*" || strings.ContainsAny(ns, "*?[") {
			continue
		}
		err := r.APIReader.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})
		if apierrors.IsNotFound(err) {
			st.NotReady(v1alpha1.ReasonNamespaceNotFound,
				"namespace %q (spec.template.includedNamespaces) does not exist: create it, or remove it from the template", ns)
			st.WakeAt(st.Now.Add(refRetryInterval))
			return nil
		}
		if err != nil {
			return fmt.Errorf("read namespace %s: %w", ns, err)
		}
	}
	return nil
}

// protected are the namespaces no backup may hold.
func (r *Reconciler) protected() []string {
	return []string{r.Namespace, r.VeleroNamespace}
}
