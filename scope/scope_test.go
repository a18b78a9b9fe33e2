package scope

import (
	"errors"
	"slices"
	"testing"
)

func TestProtect(t *testing.T) {
	for _, tc := range []struct {
		name              string
		in                Namespaces
		wantInc, wantExc  []string
		wantNarrowed      []string
		wantOnlyProtected bool
	}{
		{name: "all, by empty list", in: Namespaces{},
			wantExc: []string{"safekeep-system", "velero"}, wantNarrowed: []string{"safekeep-system", "velero"}},
		{name: "all, by star", in: Namespaces{Included: []string{"*"}, Excluded: []string{"kube-system"}},
			wantInc: []string{"*"}, wantExc: []string{"kube-system", "safekeep-system", "velero"}, wantNarrowed: []string{"safekeep-system", "velero"}},
		{name: "already excluded", in: Namespaces{Included: []string{"*"}, Excluded: []string{"safekeep-system", "velero"}},
			wantInc: []string{"*"}, wantExc: []string{"safekeep-system", "velero"}},
		{name: "excluded by a glob", in: Namespaces{Excluded: []string{"safekeep-*", "vel*"}},
			wantExc: []string{"safekeep-*", "vel*"}},
		{name: "other namespaces only", in: Namespaces{Included: []string{"phi-app"}},
			wantInc: []string{"phi-app"}},
		{name: "named", in: Namespaces{Included: []string{"phi-app", "safekeep-system"}},
			wantInc: []string{"phi-app"}, wantNarrowed: []string{"safekeep-system"}},
		{name: "a glob covers it", in: Namespaces{Included: []string{"safe*"}},
			wantInc: []string{"safe*"}, wantExc: []string{"safekeep-system"}, wantNarrowed: []string{"safekeep-system"}},
		{name: "star and named", in: Namespaces{Included: []string{"*", "velero"}},
			wantInc: []string{"*"}, wantExc: []string{"safekeep-system", "velero"}, wantNarrowed: []string{"safekeep-system", "velero"}},
		{name: "only protected", in: Namespaces{Included: []string{"velero"}}, wantOnlyProtected: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Protect(tc.in, "safekeep-system", "velero", "velero")
			if tc.wantOnlyProtected {
				if !errors.Is(err, ErrOnlyProtected) {
					t.Fatalf("err = %v, want ErrOnlyProtected", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Included, tc.wantInc) || !slices.Equal(res.Excluded, tc.wantExc) || !slices.Equal(res.Narrowed, tc.wantNarrowed) {
				t.Errorf("Protect = %+v; want included %v, excluded %v, narrowed %v", res, tc.wantInc, tc.wantExc, tc.wantNarrowed)
			}
			if !slices.Equal(res.Protected, []string{"safekeep-system", "velero"}) {
				t.Errorf("Protected = %v", res.Protected)
			}
			if len(tc.in.Included) > 0 && &res.Included[0] == &tc.in.Included[0] {
				t.Error("the input slice is shared")
			}
		})
	}
}
