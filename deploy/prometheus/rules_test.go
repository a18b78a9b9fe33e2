// Package prometheus holds Safekeep's Prometheus alert rules (rules.yaml,
// and the same as a PrometheusRule in prometheusrule.yaml) and the tests
// that check them: promtool accepts them, promtool's unit tests
// (tests.yaml) pass, the two files agree, and every metric the rules name
// is one the controller registers.
package prometheus

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	_ "github.com/safekeep-dev/safekeep/controller" // registers the controller's metrics
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

var update = flag.Bool("update", false, "rewrite prometheusrule.yaml from rules.yaml")

const (
	rulesFile = "rules.yaml"
	crFile    = "prometheusrule.yaml"
	crHeader  = `# Safekeep's alert rules as a PrometheusRule, for the Prometheus operator:
#   kubectl apply -f deploy/prometheus/prometheusrule.yaml
# (add the labels your Prometheus's ruleSelector wants). Generated from
# rules.yaml by 'go test ./deploy/prometheus -update': edit rules.yaml.
`
)

// ruleFile is a Prometheus rules file.
type ruleFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// prometheusRule is the operator's PrometheusRule object.
type prometheusRule struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       ruleFile       `json:"spec"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestPrometheusRuleMatchesRules keeps prometheusrule.yaml equal to
// rules.yaml (-update rewrites it).
func TestPrometheusRuleMatchesRules(t *testing.T) {
	var rules ruleFile
	readYAML(t, rulesFile, &rules)
	want := prometheusRule{
		APIVersion: "monitoring.coreos.com/v1",
		Kind:       "PrometheusRule",
		Metadata: map[string]any{
			"name":      "safekeep",
			"namespace": "safekeep-system",
			"labels":    map[string]any{"app.kubernetes.io/name": "safekeep", "app.kubernetes.io/part-of": "safekeep"},
		},
		Spec: rules,
	}
	if *update {
		data, err := yaml.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crFile, append([]byte(crHeader), data...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got prometheusRule
	readYAML(t, crFile, &got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s differs from %s: run go test ./deploy/prometheus -update", crFile, rulesFile)
	}
}

// promtool runs bin/promtool (tools/build.sh promtool builds it).
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), testbed.Bin(t, "promtool"), args...)
	cmd.Env = testbed.ChildEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("promtool %s failed (%v):\n%s", strings.Join(args, " "), err, out.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestPromtool(t *testing.T) {
	var rules ruleFile
	readYAML(t, rulesFile, &rules)
	n := 0
	for _, g := range rules.Groups {
		n += len(g.Rules)
	}
	if out := promtool(t, "check", "rules", rulesFile); n < 12 || !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", n)) {
		t.Errorf("promtool check rules: %s", out)
	}
	promtool(t, "test", "rules", "tests.yaml")
}

// TestRulesCoverEveryAlert wants each alert tested firing and not firing.
func TestRulesCoverEveryAlert(t *testing.T) {
	var rules ruleFile
	readYAML(t, rulesFile, &rules)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	data, err := os.ReadFile("tests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &tests); err != nil {
		t.Fatal(err)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if !firing[r.Alert] {
				t.Errorf("tests.yaml never expects %s to fire", r.Alert)
			}
			if !quiet[r.Alert] && r.Alert != "SafekeepDrillFailing" && r.Alert != "SafekeepDrillRTOOverObjective" {
				t.Errorf("tests.yaml never expects %s to stay quiet", r.Alert)
			}
			for _, k := range []string{"summary", "description", "runbook"} {
				if r.Annotations[k] == "" {
					t.Errorf("%s has no %s annotation", r.Alert, k)
				}
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s severity %q", r.Alert, s)
			}
		}
	}
}

// metricName matches the Safekeep metrics a rule names.
var metricName = regexp.MustCompile(`\bsafekeep_[a-z0-9_]+\b`)

// registered reports whether the controller registered a metric named
// name: registering a probe of that name with controller-runtime's
// registry fails exactly when a collector of that name is there.
func registered(name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
	if err := metrics.Registry.Register(probe); err != nil {
		return true
	}
	metrics.Registry.Unregister(probe)
	return false
}

// TestRuleMetricsExist fails, listing them, when a rule names a metric the
// controller does not register: such a rule would never fire.
func TestRuleMetricsExist(t *testing.T) {
	var rules ruleFile
	readYAML(t, rulesFile, &rules)
	var names, missing []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, n := range metricName.FindAllString(r.Expr, -1) {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if !registered(n) {
			missing = append(missing, n)
		}
	}
	t.Logf("metrics the rules use: %s", strings.Join(names, ", "))
	if len(missing) > 0 {
		t.Errorf("the rules use metrics the controller does not register: %s", strings.Join(missing, ", "))
	}
	if registered("safekeep_no_such_metric_total") {
		t.Error("the registry probe finds a metric that does not exist")
	}
}
