package deploy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// asUser is a client acting as user name (in system:masters, so that RBAC
// lets it write anything: what is refused is admission's doing).
func asUser(t *testing.T, cp *testbed.ControlPlane, name string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: name, Groups: []string{"system:masters", "team-a-ops", "system:authenticated"}}
	c, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testTargetPolicy: the admission policy safekeep-target-policy (loaded
// from deploy/ with the rest) refuses to store a BackupSchedule that breaks
// its OffsiteTarget's spec.policy, saying which field and why, and lets
// through the ones that keep to it and those of other targets.
func testTargetPolicy(t *testing.T, cp *testbed.ControlPlane, admin client.Client) {
	ctx := t.Context()
	const ns = "team-a"
	if err := client.IgnoreAlreadyExists(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})); err != nil {
		t.Fatal(err)
	}
	target := func(name string, p *v1alpha1.TargetPolicy) *v1alpha1.OffsiteTarget {
		return &v1alpha1.OffsiteTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.OffsiteTargetSpec{
			S3:                  v1alpha1.S3Location{Endpoint: "https://s3.example.com", Bucket: "offsite"},
			Recipients:          []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
			SigningKeySecretRef: corev1.LocalObjectReference{Name: "signing"},
			Policy:              p,
		}}
	}
	for _, tgt := range []*v1alpha1.OffsiteTarget{
		target("strict", &v1alpha1.TargetPolicy{Namespaces: []string{"phi-app", "team-a-*"}, Users: []string{"jane"}, Groups: []string{"dba"}}),
		target("hooks", &v1alpha1.TargetPolicy{AllowHooks: true}),
		target("open", nil),
	} {
		if err := admin.Create(ctx, tgt); err != nil {
			t.Fatal(err)
		}
	}
	jane, mallory := asUser(t, cp, "jane"), asUser(t, cp, "mallory")
	hooks := &v1alpha1.BackupHooks{Resources: []v1alpha1.BackupResourceHookSpec{{
		Name: "freeze", PreHooks: []v1alpha1.BackupResourceHook{{Exec: &v1alpha1.ExecHook{Command: []string{"/bin/sync"}}}},
	}}}
	n := 0
	schedule := func(tgt string, tmpl v1alpha1.BackupTemplate) *v1alpha1.BackupSchedule {
		n++
		return &v1alpha1.BackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("schedule-%d", n)},
			Spec: v1alpha1.BackupScheduleSpec{Schedule: "@daily", Template: tmpl,
				OffsiteTargetRef: corev1.LocalObjectReference{Name: tgt}},
		}
	}
	phi := v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app", "team-a-web"}}

	// The policy and its parameters are loaded asynchronously: wait for
	// the first refusal.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := jane.Create(ctx, schedule("strict", v1alpha1.BackupTemplate{IncludedNamespaces: []string{"kube-system"}}), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "safekeep-target-policy") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a schedule of kube-system to target strict: %v, want the policy's refusal", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, tt := range []struct {
		what string
		c    client.Client
		s    *v1alpha1.BackupSchedule
		want string // "" admitted; else a word of the refusal
	}{
		{"accepted namespaces, by a listed user", jane, schedule("strict", phi), ""},
		{"another namespace", jane, schedule("strict", v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app", "billing"}}),
			"spec.template.includedNamespaces: OffsiteTarget strict accepts backups only of phi-app, team-a-*; not of billing"},
		{"every namespace (\"*\")", jane, schedule("strict", v1alpha1.BackupTemplate{IncludedNamespaces: []string{"*"}}), "not of *"},
		{"a wider glob", jane, schedule("strict", v1alpha1.BackupTemplate{IncludedNamespaces: []string{"team-*"}}), "not of team-*"},
		{"the listed glob", jane, schedule("strict", v1alpha1.BackupTemplate{IncludedNamespaces: []string{"team-a-*"}}), ""},
		{"every namespace (empty)", jane, schedule("strict", v1alpha1.BackupTemplate{}), "an empty list means every namespace"},
		{"hooks the target does not allow", jane, schedule("strict", v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}, Hooks: hooks}),
			"spec.template.hooks: OffsiteTarget strict does not allow Velero backup hooks"},
		{"hooks without a policy", mallory, schedule("open", v1alpha1.BackupTemplate{Hooks: hooks}), "does not allow Velero backup hooks"},
		{"hooks the target allows", mallory, schedule("hooks", v1alpha1.BackupTemplate{Hooks: hooks}), ""},
		{"a user the target does not name", mallory, schedule("strict", phi), "mallory may not use OffsiteTarget strict"},
		{"any namespace, any user, without a policy", mallory, schedule("open", v1alpha1.BackupTemplate{}), ""},
		{"a target that does not exist (the controller says so)", mallory, schedule("missing", v1alpha1.BackupTemplate{Hooks: hooks}), ""},
	} {
		err := tt.c.Create(ctx, tt.s)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want it admitted", tt.what, err)
		case tt.want == "":
		case err == nil || !apierrors.IsForbidden(err):
			t.Errorf("%s: %v, want a refusal", tt.what, err)
		case !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: refused with %q, want it to say %q", tt.what, err, tt.want)
		default:
			t.Logf("%s: refused: %v", tt.what, err)
		}
	}

	// A member of a listed group may; changing a stored schedule's spec is
	// checked again; changes that leave the spec alone (the controller's
	// annotations) are not.
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "dora", Groups: []string{"system:masters", "dba"}}
	dba, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	s := schedule("strict", phi)
	if err := dba.Create(ctx, s); err != nil {
		t.Fatalf("a member of group dba: %v, want it admitted", err)
	}
	s.Spec.Template.IncludedNamespaces = []string{"billing"}
	if err := dba.Update(ctx, s); err == nil || !strings.Contains(err.Error(), "not of billing") {
		t.Errorf("changing a schedule to back up billing: %v, want a refusal", err)
	}
	if err := client.IgnoreNotFound(admin.Get(ctx, client.ObjectKeyFromObject(s), s)); err != nil {
		t.Fatal(err)
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations["example.com/note"] = "x"
	if err := mallory.Update(ctx, s); err != nil {
		t.Errorf("an annotation by a user the target does not name: %v, want it admitted (the spec is unchanged)", err)
	}
	testDrillTargetUsers(t, admin, jane, mallory, dba, target)
}

// testDrillTargetUsers: a RestoreDrill restores what a target holds, so
// only users the namespace's targets name may create one (every target of
// the namespace that names users or groups: admission cannot tell which
// one the drill's schedule uses); a namespace whose targets name nobody
// leaves it to RBAC.
func testDrillTargetUsers(t *testing.T, admin, jane, mallory, dba client.Client, target func(string, *v1alpha1.TargetPolicy) *v1alpha1.OffsiteTarget) {
	ctx := t.Context()
	drill := func(ns, name string) *v1alpha1.RestoreDrill {
		return &v1alpha1.RestoreDrill{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.RestoreDrillSpec{
			Schedule: "@weekly", BackupScheduleRef: corev1.LocalObjectReference{Name: "schedule-1"},
			IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "drill-identity"}, Staging: "staging",
		}}
	}
	if err := jane.Create(ctx, drill("team-a", "by-jane")); err != nil {
		t.Errorf("a drill by a user the target names: %v, want it admitted", err)
	}
	if err := dba.Create(ctx, drill("team-a", "by-dba")); err != nil {
		t.Errorf("a drill by a member of a group the target names: %v, want it admitted", err)
	}
	err := mallory.Create(ctx, drill("team-a", "by-mallory"))
	if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "mallory may not use OffsiteTarget strict") ||
		!strings.Contains(err.Error(), "a RestoreDrill needs every target of its namespace") {
		t.Errorf("a drill by a user the target does not name: %v, want a refusal naming the target", err)
	}
	d := drill("team-a", "by-jane")
	if err := admin.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
		t.Fatal(err)
	}
	d.Spec.Schedule = "@daily"
	if err := mallory.Update(ctx, d); err == nil || !strings.Contains(err.Error(), "mallory may not use OffsiteTarget strict") {
		t.Errorf("a spec change of a drill by a user the target does not name: %v, want a refusal", err)
	}
	const open = "team-open"
	if err := client.IgnoreAlreadyExists(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: open}})); err != nil {
		t.Fatal(err)
	}
	o := target("open", nil)
	o.Namespace = open
	if err := admin.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := mallory.Create(ctx, drill(open, "by-mallory")); err != nil {
		t.Errorf("a drill where no target names users: %v, want it admitted", err)
	}
}
