package drill_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/safekeep-dev/safekeep/drill"
)

func TestScratchNamespace(t *testing.T) {
	long := strings.Repeat("a", 60)
	cases := []struct {
		prefix, drill, run, source string
		want                       string // "" means: hashed, checked below
	}{
		{"drill-", "nightly", "20250101", "phi-app", "drill-nightly-20250101-phi-app"},
		{"", "d", "1", "ns", "d-1-ns"},
		{"dr-", "engine", "good", "drill-src", "dr-engine-good-drill-src"},
		{"drill-", long, "1", "phi-app", ""},
		{"drill-", "nightly", "1", long, ""},
		{"Drill.", "Nightly", "1", "phi_app", ""},
		{"-", "", "", "", ""},
	}
	seen := map[string]string{}
	for _, tc := range cases {
		got := drill.ScratchNamespace(tc.prefix, tc.drill, tc.run, tc.source)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("ScratchNamespace(%q, %q, %q, %q) = %q: not a namespace name: %v", tc.prefix, tc.drill, tc.run, tc.source, got, errs)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("ScratchNamespace(%q, %q, %q, %q) = %q, want %q", tc.prefix, tc.drill, tc.run, tc.source, got, tc.want)
		}
		in := tc.prefix + "|" + tc.drill + "|" + tc.run + "|" + tc.source
		if prev, ok := seen[got]; ok {
			t.Errorf("%q and %q both give %q", prev, in, got)
		}
		seen[got] = in
		if again := drill.ScratchNamespace(tc.prefix, tc.drill, tc.run, tc.source); again != got {
			t.Errorf("not deterministic: %q then %q", got, again)
		}
	}
	// Long names that differ only at the end stay apart.
	a := drill.ScratchNamespace("drill-", "nightly", "1", long+"x")
	b := drill.ScratchNamespace("drill-", "nightly", "1", long+"y")
	if a == b || len(a) > 63 {
		t.Errorf("long names: %q and %q", a, b)
	}
}

func FuzzScratchNamespace(f *testing.F) {
	f.Add("drill-", "nightly", "20250101", "phi-app")
	f.Add("", "", "", "")
	f.Add("X_", "ü", strings.Repeat("9", 80), "..")
	f.Fuzz(func(t *testing.T, prefix, d, run, source string) {
		got := drill.ScratchNamespace(prefix, d, run, source)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Fatalf("%q: %v", got, errs)
		}
	})
}
