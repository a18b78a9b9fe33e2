package deploy

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

var update = flag.Bool("update", false, "rewrite testdata/rbac.golden.yaml from what the API server reports")

const (
	rbacGolden = "testdata/rbac.golden.yaml"
	// appNS stands for an application's namespace; scratchNS for a drill's
	// scratch namespace, set up as the controller sets one up.
	appNS     = "team-a"
	scratchNS = "drill-golden-1-phi"
)

// saGroups are the groups a ServiceAccount's token carries.
var saGroups = testbed.ServiceAccountGroups(controllerNS)

// checkEffectiveRBAC reads, impersonating the controller's ServiceAccount,
// its effective permissions in each namespace that matters
// (SelfSubjectRulesReview) and compares them with the golden file, so that
// any widening shows as a diff.
func checkEffectiveRBAC(t *testing.T, cp *testbed.ControlPlane, admin client.Client) {
	t.Helper()
	ctx := t.Context()
	setupScratch(t, admin)
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccount, Groups: saGroups}
	sa, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, ns := range []string{controllerNS, veleroNS, appNS, scratchNS} {
		r := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}
		if err := sa.Create(ctx, r); err != nil {
			t.Fatalf("SelfSubjectRulesReview in %s: %v", ns, err)
		}
		if r.Status.Incomplete {
			t.Errorf("rules in %s are incomplete: %s", ns, r.Status.EvaluationError)
		}
		got[ns] = ruleLines(r.Status)
	}
	out, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	out = append([]byte("# The controller ServiceAccount's effective permissions per namespace\n# (SelfSubjectRulesReview while impersonating it); go test ./deploy -update rewrites it.\n"), out...)
	if *update {
		if err := os.WriteFile(rbacGolden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(rbacGolden)
	if err != nil {
		t.Fatalf("%v (go test ./deploy -update writes it)", err)
	}
	if string(want) != string(out) {
		t.Errorf("effective permissions differ from %s (a change to RBAC must show here; -update rewrites it):\n%s", rbacGolden, out)
	}
	// Spot checks the golden file could hide if it were rewritten blindly.
	for _, tt := range []struct {
		ns, verb, resource string
		allowed            bool
		name               string
	}{
		{controllerNS, "get", "secrets", true, ""},
		{veleroNS, "get", "secrets", true, "velero-repo-credentials"}, // kopia repository password, for volume data
		{veleroNS, "get", "secrets", false, "other"},
		{veleroNS, "list", "secrets", false, ""},
		{appNS, "get", "secrets", false, ""},
		{scratchNS, "get", "secrets", true, ""}, // restored objects, read-only
		{scratchNS, "delete", "secrets", false, ""},
		{appNS, "create", "configmaps", false, ""},
		{appNS, "delete", "deployments", false, ""},
		{appNS, "patch", "pods", false, ""},
		// A Level 2 drill stages renamed PodVolumeBackups and a Ready
		// BackupRepository in Velero's namespace, and nowhere else.
		{veleroNS, "create", "podvolumebackups", true, ""},
		{veleroNS, "delete", "podvolumebackups", true, ""},
		{veleroNS, "list", "podvolumebackups", true, ""},
		{veleroNS, "update", "podvolumebackups", false, ""},
		{veleroNS, "create", "backuprepositories", true, ""},
		{veleroNS, "get", "backuprepositories", true, ""},
		{veleroNS, "delete", "backuprepositories", true, ""},
		{veleroNS, "patch", "backuprepositories", false, ""},
		{veleroNS, "list", "podvolumerestores", true, ""},
		{veleroNS, "create", "podvolumerestores", false, ""},
		{appNS, "create", "podvolumebackups", false, ""},
		{appNS, "create", "backuprepositories", false, ""},
		// The schedule's volume data check reads what Velero's server runs
		// with and whether node-agent is ready: by name, nothing else.
		{veleroNS, "get", "deployments", true, "velero"},
		{veleroNS, "get", "deployments", false, "other"},
		{veleroNS, "list", "deployments", false, ""},
		{veleroNS, "update", "deployments", false, "velero"},
		{veleroNS, "get", "daemonsets", true, "node-agent"},
		{veleroNS, "get", "daemonsets", true, "node-agent-windows"},
		{veleroNS, "get", "daemonsets", false, "other"},
		{veleroNS, "list", "daemonsets", false, ""},
		{appNS, "get", "deployments", false, "velero"},
		{appNS, "get", "daemonsets", false, "node-agent"},
	} {
		group := ""
		switch tt.resource {
		case "deployments", "daemonsets":
			group = "apps"
		case "podvolumebackups", "backuprepositories", "podvolumerestores":
			group = "velero.io"
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: serviceAccount, Groups: saGroups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: tt.verb, Group: group, Resource: tt.resource, Namespace: tt.ns, Name: tt.name},
		}}
		if err := admin.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tt.allowed {
			t.Errorf("%s %s %q in %s: allowed=%v, want %v", tt.verb, tt.resource, tt.name, tt.ns, sar.Status.Allowed, tt.allowed)
		}
	}
}

// setupScratch creates a drill scratch namespace and binds the drill
// reader role there, as the controller does, and aggregates that role
// (envtest runs no kube-controller-manager to do it).
func setupScratch(t *testing.T, admin client.Client) {
	t.Helper()
	ctx := t.Context()
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: appNS}},
		{ObjectMeta: metav1.ObjectMeta{Name: scratchNS, Labels: map[string]string{"safekeep.dev/scratch": "true", "safekeep.dev/drill": "team-a.golden"}}},
	} {
		if err := client.IgnoreAlreadyExists(admin.Create(ctx, ns)); err != nil {
			t.Fatal(err)
		}
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "safekeep-drill-reader", Namespace: scratchNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "safekeep-drill-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: controllerNS, Name: "safekeep-controller"}},
	}
	if err := client.IgnoreAlreadyExists(admin.Create(ctx, rb)); err != nil {
		t.Fatal(err)
	}
	if err := testbed.AggregateClusterRole(ctx, admin, "safekeep-drill-reader"); err != nil {
		t.Fatal(err)
	}
}

// ruleLines renders a rules review as sorted, unique lines.
func ruleLines(st authorizationv1.SubjectRulesReviewStatus) []string {
	var lines []string
	for _, r := range st.ResourceRules {
		groups := slices.Clone(r.APIGroups)
		for i, g := range groups {
			if g == "" {
				groups[i] = "core"
			}
		}
		line := fmt.Sprintf("%s on %s.%s", joinSorted(r.Verbs), joinSorted(r.Resources), joinSorted(groups))
		if len(r.ResourceNames) > 0 {
			line += " named " + joinSorted(r.ResourceNames)
		}
		lines = append(lines, line)
	}
	for _, r := range st.NonResourceRules {
		lines = append(lines, fmt.Sprintf("%s on URLs %s", joinSorted(r.Verbs), joinSorted(r.NonResourceURLs)))
	}
	slices.Sort(lines)
	return slices.Compact(lines)
}

func joinSorted(s []string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	if len(s) > 1 {
		return "{" + strings.Join(s, ",") + "}"
	}
	return strings.Join(s, ",")
}
