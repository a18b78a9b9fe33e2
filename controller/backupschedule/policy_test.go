package backupschedule

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// TestTargetPolicy: on a real API server, a schedule whose template breaks
// its OffsiteTarget's policy (a namespace it does not accept, every
// namespace, hooks it does not allow) is Ready False with reason
// PolicyViolation and a Warning Event, and no Velero Backup is created at
// its due time; once the template keeps to the policy, the run starts.
func TestTargetPolicy(t *testing.T) {
	env := newScheduleEnv(t, at(t, "2026-05-01T10:02:00Z"))
	hooks := &v1alpha1.BackupHooks{Resources: []v1alpha1.BackupResourceHookSpec{{
		Name: "freeze", PreHooks: []v1alpha1.BackupResourceHook{{Exec: &v1alpha1.ExecHook{Command: []string{"/bin/sync"}}}},
	}}}
	policy := &v1alpha1.TargetPolicy{Namespaces: []string{"phi-app", "team-a-*"}}
	for _, tc := range []struct {
		name     string
		policy   *v1alpha1.TargetPolicy
		template v1alpha1.BackupTemplate
		words    []string
	}{
		{"another namespace", policy, v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app", "kube-system"}},
			[]string{`OffsiteTarget "offsite"`, "spec.template.includedNamespaces", "kube-system not accepted", "phi-app, team-a-*"}},
		{"every namespace", policy, v1alpha1.BackupTemplate{IncludedNamespaces: []string{"*"}}, []string{"* not accepted"}},
		{"empty means every namespace", policy, v1alpha1.BackupTemplate{}, []string{"empty means every namespace"}},
		{"hooks without a policy", nil, v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}, Hooks: hooks},
			[]string{"spec.template.hooks", "spec.policy.allowHooks"}},
		{"hooks not allowed", policy, v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}, Hooks: hooks},
			[]string{"spec.template.hooks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{Policy: tc.policy})
			env.Clock.SetTime(at(t, "2026-05-01T10:05:00Z"))
			s := env.Schedule(t, ns, "nightly", v1alpha1.BackupScheduleSpec{Schedule: "*/5 * * * *", Template: tc.template},
				at(t, "2026-05-01T10:00:00Z"))
			env.reconcile(t, env.reconciler(Options{}), s)
			got := env.get(t, s)
			wantCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonPolicyViolation, tc.words...)
			if b := env.backups(t, s); len(b) != 0 {
				t.Fatalf("%d Velero backups of a schedule the target refuses, want none", len(b))
			}
			note := env.WaitEvent(t, s, v1alpha1.ReasonPolicyViolation)
			if !strings.Contains(note, tc.words[0]) {
				t.Errorf("event %q lacks %q", note, tc.words[0])
			}
		})
	}

	t.Run("allowed once the target accepts it", func(t *testing.T) {
		ns := env.Namespace(t)
		tgt := env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{Policy: policy.DeepCopy()})
		env.Clock.SetTime(at(t, "2026-05-01T10:05:00Z"))
		template := v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}, Hooks: hooks}
		s := env.Schedule(t, ns, "nightly", v1alpha1.BackupScheduleSpec{Schedule: "*/5 * * * *", Template: template},
			at(t, "2026-05-01T10:00:00Z"))
		r := env.reconciler(Options{})
		env.reconcile(t, r, s)
		wantCondition(t, env.get(t, s), v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonPolicyViolation)

		tgt.Spec.Policy.AllowHooks = true
		if err := env.CP.Client.Update(t.Context(), tgt); err != nil {
			t.Fatal(err)
		}
		env.SetTargetReady(t, tgt, metav1.ConditionTrue, v1alpha1.ReasonVerified, "all checks passed")
		env.reconcile(t, r, s)
		bs := env.backups(t, s)
		if len(bs) != 1 {
			t.Fatalf("%d Velero backups once the target allows hooks, want 1", len(bs))
		}
		if h := bs[0].Spec.Hooks.Resources; len(h) != 1 || h[0].Name != "freeze" {
			t.Errorf("backup hooks %+v, want the template's", h)
		}
	})
}
