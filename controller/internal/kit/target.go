package kit

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// ReadyTarget reads the OffsiteTarget namespace/name and returns it when it
// is Ready (checked at its current generation). Otherwise st is not Ready
// (TargetNotFound, with notFound saying where the name came from, or
// TargetNotReady) and nil is returned; only a failed read is an error.
func ReadyTarget(ctx context.Context, c client.Reader, st *State, namespace, name, notFound string) (*v1alpha1.OffsiteTarget, error) {
	t := &v1alpha1.OffsiteTarget{}
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, t)
	if apierrors.IsNotFound(err) {
		st.NotReady(v1alpha1.ReasonTargetNotFound, "%s", notFound)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read OffsiteTarget %s: %w", name, err)
	}
	cond := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionReady)
	switch {
	case cond == nil || (cond.ObservedGeneration != 0 && cond.ObservedGeneration != t.Generation):
		st.NotReady(v1alpha1.ReasonTargetNotReady, "OffsiteTarget %q has not been checked yet", name)
	case cond.Status != metav1.ConditionTrue:
		st.NotReady(v1alpha1.ReasonTargetNotReady, "OffsiteTarget %q is not Ready (%s): %s", name, cond.Reason, cond.Message)
	default:
		return t, nil
	}
	return nil, nil
}

// Referrers lists the objects of list's kind in namespace and returns a
// reconcile request for each that refers says points at the object that
// changed (a map function of a watch).
func Referrers(ctx context.Context, c client.Reader, list client.ObjectList, namespace string, refers func(client.Object) bool) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		logf.FromContext(ctx).Error(err, "list the objects that refer to a changed one", "namespace", namespace)
		return nil
	}
	objs, err := meta.ExtractList(list)
	if err != nil {
		logf.FromContext(ctx).Error(err, "read a list")
		return nil
	}
	var reqs []reconcile.Request
	for _, o := range objs {
		if obj, ok := o.(client.Object); ok && refers(obj) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
		}
	}
	return reqs
}
