package prometheus

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

// histogramName matches the suffix of a histogram's series.
var histogramName = regexp.MustCompile(`_(bucket|sum|count)$`)

// TestDashboardMetricsExist fails when a dashboard query names a metric the
// controller does not register.
func TestDashboardMetricsExist(t *testing.T) {
	b, err := os.ReadFile("../helm/safekeep/dashboards/safekeep.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	seen := map[string]bool{}
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			names := metricName.FindAllString(q.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no safekeep metric", p.Title, q.Expr)
			}
			for _, n := range names {
				n = histogramName.ReplaceAllString(n, "") // a histogram's series
				seen[n] = true
				if !registered(n) {
					t.Errorf("panel %q names %s, which the controller does not register", p.Title, n)
				}
			}
		}
	}
	if len(seen) < 10 {
		t.Errorf("the dashboard uses %d metrics, want seals, drills, RTO and audit covered", len(seen))
	}
}
