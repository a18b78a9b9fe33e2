package auditlog_test

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// When the API server refuses the outbox ConfigMap (here RBAC: the
// controller may list and delete ConfigMaps but not create them) and the
// bucket refuses the entry too, the entry is held in memory, and the
// controller says so: a Warning Event on the target, the gauge
// safekeep_audit_entries_in_memory, Auditor.InMemory. Once the bucket is
// back, a retry writes it, once, and the gauge drops to 0. Real API
// server and VersityGW.
func TestOutboxRefusedHeldInMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane and VersityGW")
	}
	ctx := t.Context()
	cp, s3, st, tgt := startOutboxBed(t)
	refused := clientWithVerbs(t, cp, "outbox-refused", "get", "list", "delete")
	rec := events.NewFakeRecorder(10)
	a := auditlog.New("", rec)
	a.UseOutbox(&auditlog.Outbox{Client: refused, Reader: refused, Namespace: outboxNS})

	s3.Stop(t)
	if _, err := a.Record(ctx, tgt, seal("b1")); err == nil {
		t.Fatal("entry written to a stopped server")
	}
	if n := outboxLen(t, cp.Client); n != 0 {
		t.Fatalf("outbox holds %d entries although the API server refused them", n)
	}
	if n := a.InMemory(tgt); n != 1 {
		t.Errorf("InMemory = %d, want 1", n)
	}
	if g := inMemoryGauge(t, "phi", "offsite"); g != 1 {
		t.Errorf("safekeep_audit_entries_in_memory = %v, want 1", g)
	}
	if !sawEvent(rec, auditlog.ReasonAuditInMemory, "held in this controller's memory only") {
		t.Errorf("no %s Warning Event", auditlog.ReasonAuditInMemory)
	}

	s3.Restart(t)
	if err := a.Retry(ctx, tgt); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n, g := a.InMemory(tgt), inMemoryGauge(t, "phi", "offsite"); n != 0 || g != 0 {
		t.Errorf("after the retry: InMemory %d, gauge %v, want 0", n, g)
	}
	var got []string
	for e, err := range audit.Read(ctx, st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Subject)
	}
	if len(got) != 1 || got[0] != "phi/nightly/b1" {
		t.Fatalf("log holds %q, want the one entry", got)
	}
}

// clientWithVerbs is a client of user, who may do only verbs to the
// outbox's ConfigMaps.
func clientWithVerbs(t *testing.T, cp *testbed.ControlPlane, user string, verbs ...string) client.Client {
	t.Helper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: outboxNS},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: verbs}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: outboxNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := cp.Client.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// inMemoryGauge reads safekeep_audit_entries_in_memory for a target.
func inMemoryGauge(t *testing.T, ns, name string) float64 {
	t.Helper()
	return targetMetric(t, "safekeep_audit_entries_in_memory", ns, name)
}

// targetMetric reads a gauge or counter labelled with a target; -1 when
// it has no such series.
func targetMetric(t *testing.T, metric, ns, name string) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labels(m)["namespace"] == ns && labels(m)["target"] == name {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// sawEvent drains rec and reports whether an event had reason and text.
func sawEvent(rec *events.FakeRecorder, reason, text string) bool {
	for {
		select {
		case e := <-rec.Events:
			if strings.Contains(e, reason) && strings.Contains(e, text) {
				return true
			}
		default:
			return false
		}
	}
}
