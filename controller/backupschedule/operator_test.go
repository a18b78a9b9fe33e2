package backupschedule

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kittest"
)

// TestWhatAnOperatorHit covers the BackupSchedule items of issue 16, on a
// real API server: a bad duration stored before the schema checked it
// stops only its own schedule; Safekeep's own namespaces never go into a
// backup; a missing location or namespace is not Ready up front; a run-now
// value that is not a time is refused; not Ready has an Event.
func TestWhatAnOperatorHit(t *testing.T) {
	env := newScheduleEnv(t, at(t, "2026-05-01T10:02:00Z"))
	ctx := t.Context()
	hourly := v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *", Template: v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}}}
	r := env.reconciler(Options{Namespace: "safekeep-system"})

	t.Run("a bad ttl stored earlier stops only its schedule", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		env.Clock.SetTime(at(t, "2026-05-01T11:00:00Z"))
		good := env.Schedule(t, ns, "good", hourly, at(t, "2026-05-01T10:00:00Z"))
		// Written with the ttl check off, as by a version before it.
		bad := env.Schedule(t, ns, "bad", hourly, at(t, "2026-05-01T10:00:00Z"))
		patch := []byte(`{"spec":{"template":{"ttl":"banana"}}}`)
		err := env.CP.Client.Patch(ctx, bad, client.RawPatch(types.MergePatchType, patch))
		if err == nil || !strings.Contains(err.Error(), "must be a duration") {
			t.Fatalf("ttl banana: %v, want the schema to refuse it", err)
		}
		env.storeUnchecked(t, bad, "banana")

		var list v1alpha1.BackupScheduleList
		if err := env.CP.Client.List(ctx, &list, client.InNamespace(ns)); err != nil || len(list.Items) != 2 {
			t.Fatalf("List = %d items, %v: one bad ttl must not fail the List", len(list.Items), err)
		}
		env.reconcile(t, r, bad)
		env.reconcile(t, r, good)
		wantCondition(t, env.get(t, bad), v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec,
			`spec.template.ttl: invalid duration "banana"`)
		if n := len(env.backups(t, bad)); n != 0 {
			t.Errorf("the schedule with ttl banana started %d backups", n)
		}
		if n := len(env.backups(t, good)); n != 1 {
			t.Errorf("the good schedule started %d backups, want 1", n)
		}
		if note := env.WaitEvent(t, bad, v1alpha1.ReasonInvalidSpec); !strings.Contains(note, "banana") {
			t.Errorf("InvalidSpec Event note %q", note)
		}
	})

	t.Run("Safekeep's namespaces are never backed up", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		env.Clock.SetTime(at(t, "2026-05-01T12:00:00Z"))
		spec := *hourly.DeepCopy()
		spec.Template.IncludedNamespaces = []string{"*"}
		s := env.Schedule(t, ns, "everything", spec, at(t, "2026-05-01T11:00:00Z"))
		env.reconcile(t, r, s)
		got := env.get(t, s)
		wantCondition(t, got, v1alpha1.ConditionKeysExcluded, metav1.ConditionTrue, v1alpha1.ReasonScopeNarrowed, "safekeep-system, velero")
		if !slices.Equal(got.Status.ExcludedNamespaces, []string{"safekeep-system", kittest.VeleroNS}) {
			t.Errorf("status.excludedNamespaces = %v", got.Status.ExcludedNamespaces)
		}
		bs := env.backups(t, s)
		if len(bs) != 1 {
			t.Fatalf("%d backups, want 1", len(bs))
		}
		if exc := bs[0].Spec.ExcludedNamespaces; !slices.Contains(exc, "safekeep-system") || !slices.Contains(exc, kittest.VeleroNS) {
			t.Errorf("the Backup excludes %v, want safekeep-system and velero", exc)
		}
		env.WaitEvent(t, s, v1alpha1.ReasonScopeNarrowed)

		spec.Template.IncludedNamespaces = []string{"safekeep-system"}
		only := env.Schedule(t, ns, "only-keys", spec, at(t, "2026-05-01T11:00:00Z"))
		env.reconcile(t, r, only)
		wantCondition(t, env.get(t, only), v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonOnlyKeys, "nothing would be backed up")
		if n := len(env.backups(t, only)); n != 0 {
			t.Errorf("%d backups of only Safekeep's namespace", n)
		}
	})

	t.Run("a missing location or namespace is not Ready up front", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		spec := *hourly.DeepCopy()
		spec.Template.StorageLocation = "nope"
		s := env.Schedule(t, ns, "no-location", spec, time.Time{})
		env.reconcile(t, r, s)
		wantCondition(t, env.get(t, s), v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonLocationNotFound,
			"spec.template.storageLocation", "velero/nope not found")
		env.WaitEvent(t, s, v1alpha1.ReasonLocationNotFound)

		spec = *hourly.DeepCopy()
		spec.Template.IncludedNamespaces = []string{"phi-app", "phi-typo"}
		s = env.Schedule(t, ns, "no-namespace", spec, time.Time{})
		env.reconcile(t, r, s)
		wantCondition(t, env.get(t, s), v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNamespaceNotFound, `namespace "phi-typo"`)
	})

	t.Run("run-now takes only a time", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		env.Clock.SetTime(at(t, "2026-05-01T12:10:00Z"))
		s := env.Schedule(t, ns, "asked", hourly, at(t, "2026-05-01T12:00:00Z"))
		s.Annotations = map[string]string{v1alpha1.AnnotationRunNow: "yes"} // no admission policy in this bed
		if err := env.CP.Client.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		env.reconcile(t, r, s)
		if n := len(env.backups(t, s)); n != 0 {
			t.Errorf("run-now yes started %d backups", n)
		}
		if note := env.WaitEvent(t, s, "RunNowRefused"); !strings.Contains(note, "not an RFC 3339 time") {
			t.Errorf("RunNowRefused note %q", note)
		}
		if _, ok := env.get(t, s).Annotations[v1alpha1.AnnotationRunNow]; ok {
			t.Error("the refused annotation was not removed")
		}
	})
}

// storeUnchecked writes ttl into s's spec with the CRD's ttl check turned
// off for the write, as an object stored by an earlier version was, and
// puts the CRD back.
func (e *scheduleEnv) storeUnchecked(t *testing.T, s *v1alpha1.BackupSchedule, ttl string) {
	t.Helper()
	ctx := t.Context()
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := e.CP.Client.Get(ctx, client.ObjectKey{Name: "backupschedules.safekeep.dev"}, crd); err != nil {
		t.Fatal(err)
	}
	orig := crd.DeepCopy()
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	v0 := versions[0].(map[string]any)
	if err := unstructured.SetNestedField(v0, map[string]any{"type": "string"},
		"schema", "openAPIV3Schema", "properties", "spec", "properties", "template", "properties", "ttl"); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
		t.Fatal(err)
	}
	if err := e.CP.Client.Update(ctx, crd); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"spec":{"template":{"ttl":"` + ttl + `"}}}`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := e.CP.Client.Patch(ctx, s.DeepCopy(), client.RawPatch(types.MergePatchType, patch))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write ttl %q with the check off: %v", ttl, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := e.CP.Client.Get(ctx, client.ObjectKey{Name: crd.GetName()}, crd); err != nil {
		t.Fatal(err)
	}
	crd.Object["spec"] = orig.Object["spec"]
	if err := e.CP.Client.Update(ctx, crd); err != nil {
		t.Fatal(err)
	}
}
