package v1alpha1_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// Every duration of every kind is checked at admission with one message
// that says how to write a duration (not CEL's conversion error), and an
// object stored before the schema checked it stops no List.

// withField returns obj as unstructured with the field at path set to value.
func withField(t *testing.T, c client.Client, obj client.Object, value any, path ...string) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	gvk, err := c.GroupVersionKindFor(obj)
	if err != nil {
		t.Fatal(err)
	}
	u.SetGroupVersionKind(gvk)
	setPath(t, u.Object, path, value)
	return u
}

func TestDurationsCheckedAtAdmission(t *testing.T) {
	cp := startAPI(t)
	c := cp.Client
	ctx := t.Context()

	schedule := func(name string) client.Object { return validSchedule(name) }
	drill := func(name string) client.Object { return validDrill(name) }
	fields := []struct {
		kind string
		obj  func(string) client.Object
		path []string
	}{
		{"BackupSchedule", schedule, []string{"spec", "template", "ttl"}},
		{"RestoreDrill", drill, []string{"spec", "timeout"}},
		{"RestoreDrill", drill, []string{"spec", "maxPassAge"}},
		{"RestoreDrill", drill, []string{"spec", "checks", "maxRTO"}},
		{"RestoreDrill", drill, []string{"spec", "checks", "job", "timeout"}},
		{"RestoreDrill", drill, []string{"spec", "cleanup", "keepFailedFor"}},
	}
	n := 0
	for _, f := range fields {
		for _, bad := range []string{"banana", "30d", "-1h", "1h 30m", "", "9999999999999h"} {
			n++
			t.Run(f.kind+" "+strings.Join(f.path, ".")+" "+bad, func(t *testing.T) {
				u := withField(t, c, f.obj("dur-"+string(rune('a'+n/26))+string(rune('a'+n%26))), bad, f.path...)
				err := c.Create(ctx, u)
				if err == nil {
					t.Fatalf("created with %s: %q", strings.Join(f.path, "."), bad)
				}
				msg := err.Error()
				t.Logf("refused: %s", msg)
				if !strings.Contains(msg, strings.Join(f.path, ".")) {
					t.Errorf("error does not name the field %s", strings.Join(f.path, "."))
				}
				if bad != "9999999999999h" && !strings.Contains(msg, "must be a duration such as 720h") {
					t.Errorf("error does not say how to write a duration")
				}
				if bad != "9999999999999h" && (strings.Contains(msg, "protobuf") || strings.Contains(msg, "conversion")) {
					t.Errorf("error leaks CEL's conversion error")
				}
			})
		}
	}

	t.Run("hook timeout", func(t *testing.T) {
		u := withField(t, c, validSchedule("dur-hook"), "5 minutes", "spec", "template", "hooks", "resources", "0", "pre", "0", "exec", "timeout")
		err := c.Create(ctx, u)
		if err == nil || !strings.Contains(err.Error(), "must be a duration such as 720h") {
			t.Fatalf("hook timeout \"5 minutes\": err = %v, want the duration message", err)
		}
	})

	t.Run("accepted forms round-trip", func(t *testing.T) {
		for i, good := range []string{"720h", "720h0m0s", "1h30m", "90m", "1.5h", "0", "500ms"} {
			u := withField(t, c, validSchedule("dur-ok-"+string(rune('a'+i))), good, "spec", "template", "ttl")
			if err := c.Create(ctx, u); err != nil {
				t.Errorf("ttl %q refused: %v", good, err)
				continue
			}
			var got v1.BackupSchedule
			if err := c.Get(ctx, client.ObjectKeyFromObject(u), &got); err != nil {
				t.Fatal(err)
			}
			want, _ := time.ParseDuration(good)
			if err := got.Spec.Template.TTL.Err(); err != nil || got.Spec.Template.TTL.Duration != want {
				t.Errorf("ttl %q read back as %v (err %v), want %v", good, got.Spec.Template.TTL.Duration, err, want)
			}
		}
	})
}

// TestBadDurationStoredEarlier writes a BackupSchedule with ttl "banana"
// while the CRD does not check it (as one stored before this version was),
// then restores the CRD: a typed List still returns every schedule, the bad
// one reporting its field, and writing it back loses nothing.
func TestBadDurationStoredEarlier(t *testing.T) {
	cp := startAPI(t)
	c := cp.Client
	ctx := t.Context()
	ttl := []string{"spec", "versions", "0", "schema", "openAPIV3Schema", "properties", "spec", "properties", "template", "properties", "ttl"}
	restore := setCRDSchema(t, cp, "backupschedules.safekeep.dev", ttl, map[string]any{"type": "string"})
	bad := withField(t, c, validSchedule("bad-ttl"), "banana", "spec", "template", "ttl")
	eventually(t, "the CRD without the ttl check is served", func() error { return c.Create(ctx, bad.DeepCopy()) })
	restore()
	eventually(t, "the CRD with the ttl check is served", func() error {
		if err := c.Create(ctx, withField(t, c, validSchedule("bad-again"), "banana", "spec", "template", "ttl")); err == nil {
			return errors.New("ttl banana still accepted")
		}
		return nil
	})
	if err := c.Create(ctx, validSchedule("good")); err != nil {
		t.Fatal(err)
	}

	// The control: the same List decoded with metav1.Duration, as the
	// types had it, fails as a whole (what stopped every schedule).
	var raw unstructured.UnstructuredList
	raw.SetGroupVersionKind(v1.GroupVersion.WithKind("BackupScheduleList"))
	if err := c.List(ctx, &raw, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	data, err := raw.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var old struct {
		Items []struct {
			Spec struct {
				Template struct {
					TTL *metav1.Duration `json:"ttl"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &old); err == nil {
		t.Fatal("metav1.Duration decoded the list with ttl banana: the test proves nothing")
	}

	var list v1.BackupScheduleList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("List with one bad ttl stored: %v", err)
	}
	got := map[string]*v1.BackupSchedule{}
	for i := range list.Items {
		got[list.Items[i].Name] = &list.Items[i]
	}
	if got["good"] == nil || got["bad-ttl"] == nil {
		t.Fatalf("List returned %v, want good and bad-ttl", keys(got))
	}
	if err := got["good"].Spec.Template.TTL.Err(); err != nil || got["good"].Spec.Template.TTL.Duration != 720*time.Hour {
		t.Errorf("good ttl = %v (%v)", got["good"].Spec.Template.TTL.Duration, err)
	}
	err = v1.CheckDurations(got["bad-ttl"])
	if !errors.Is(err, v1.ErrInvalidDuration) || !strings.Contains(err.Error(), `spec.template.ttl: invalid duration "banana"`) {
		t.Errorf("CheckDurations = %v, want spec.template.ttl named", err)
	}
	if err := v1.CheckDurations(got["good"]); err != nil {
		t.Errorf("CheckDurations(good) = %v", err)
	}

	// A status write keeps the stored text.
	b := got["bad-ttl"]
	b.Status.LastSealedBackup = "x"
	if err := c.Status().Update(ctx, b); err != nil {
		t.Fatalf("status update of the bad schedule: %v", err)
	}
	var stored unstructured.Unstructured
	stored.SetGroupVersionKind(bad.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bad-ttl"}, &stored); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedString(stored.Object, "spec", "template", "ttl"); v != "banana" {
		t.Errorf("stored ttl is now %q, want banana kept", v)
	}
}

// setCRDSchema replaces the schema at path (under the CRD object) with
// props, and returns a function that puts the original CRD back.
func setCRDSchema(t *testing.T, cp *testbed.ControlPlane, crd string, path []string, props map[string]any) func() {
	t.Helper()
	ctx := t.Context()
	get := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("apiextensions.k8s.io/v1")
		u.SetKind("CustomResourceDefinition")
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: crd}, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	orig := get()
	origSpec := orig.Object["spec"]
	mod := get()
	setPath(t, mod.Object, path, props)
	if err := cp.Client.Update(ctx, mod); err != nil {
		t.Fatalf("update CRD %s: %v", crd, err)
	}
	return func() {
		cur := get()
		cur.Object["spec"] = origSpec
		if err := cp.Client.Update(ctx, cur); err != nil {
			t.Fatalf("restore CRD %s: %v", crd, err)
		}
	}
}

// setPath sets the value at path in m; numeric elements index lists.
func setPath(t *testing.T, m map[string]any, path []string, v any) {
	t.Helper()
	var cur any = m
	for i, p := range path {
		last := i == len(path)-1
		switch node := cur.(type) {
		case map[string]any:
			if last {
				node[p] = v
				return
			}
			cur = node[p]
		case []any:
			idx := int(p[0] - '0')
			if last {
				node[idx] = v
				return
			}
			cur = node[idx]
		default:
			t.Fatalf("path %v: no %s", path, p)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// eventually retries f for up to 30 s (a CRD update takes effect
// asynchronously).
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
