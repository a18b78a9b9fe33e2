package scope

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	teams := Policy{Namespaces: []string{"phi-app", "team-a-*"}}
	for _, tc := range []struct {
		name   string
		p      Policy
		in     []string
		hooks  bool
		refuse string // a word of the error; "" when allowed
	}{
		{name: "no policy", p: Policy{}, in: nil},
		{name: "no policy, hooks", p: Policy{}, in: []string{"phi-app"}, hooks: true, refuse: "spec.template.hooks"},
		{name: "hooks allowed", p: Policy{AllowHooks: true}, in: []string{"phi-app"}, hooks: true},
		{name: "named", p: teams, in: []string{"phi-app"}},
		{name: "matched by a glob", p: teams, in: []string{"team-a-web", "phi-app"}},
		{name: "the same glob", p: teams, in: []string{"team-a-*"}},
		{name: "another namespace", p: teams, in: []string{"phi-app", "billing"}, refuse: "billing not accepted"},
		{name: "a wider glob", p: teams, in: []string{"team-*"}, refuse: "team-* not accepted"},
		{name: "star", p: teams, in: []string{"*"}, refuse: "* not accepted"},
		{name: "empty means all", p: teams, in: nil, refuse: "empty means every namespace"},
		{name: "star accepted", p: Policy{Namespaces: []string{"*"}}, in: nil},
		{name: "empty policy list", p: Policy{Namespaces: []string{}}, in: []string{"phi-app"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Check(Namespaces{Included: tc.in}, tc.hooks)
			switch {
			case tc.refuse == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tc.refuse != "" && (!errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tc.refuse)):
				t.Errorf("Check = %v, want ErrPolicy saying %q", err, tc.refuse)
			}
		})
	}
}

// TestPolicyRefused: the namespaces of a backup a policy does not accept.
func TestPolicyRefused(t *testing.T) {
	for _, tc := range []struct {
		policy, names, want []string
	}{
		{nil, []string{"a", "b"}, nil},
		{[]string{"*"}, []string{"a", "b"}, nil},
		{[]string{"billing-*"}, []string{"billing-a", "phi-app"}, []string{"phi-app"}},
		{[]string{"a"}, []string{"a", "b", "c"}, []string{"b", "c"}},
	} {
		if got := (Policy{Namespaces: tc.policy}).Refused(tc.names); !slices.Equal(got, tc.want) {
			t.Errorf("Policy %v refuses %v of %v, want %v", tc.policy, got, tc.names, tc.want)
		}
	}
}
