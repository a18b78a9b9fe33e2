package testbed

import (
	"slices"
	"testing"
)

func TestChildEnv(t *testing.T) {
	for k := range strippedEnv {
		t.Setenv(k, "secret-"+k)
	}
	t.Setenv("SAFEKEEP_TEST_KEEP", "kept")
	t.Setenv("AWS_REGION", "eu-west-1")

	env := ChildEnv("A=1", "SAFEKEEP_TEST_KEEP=replaced", "A=2", "AWS_ACCESS_KEY_ID=given")
	lookup := func(key string) []string {
		var vals []string
		for _, kv := range env {
			if envKey(kv) == key {
				vals = append(vals, kv[len(key)+1:])
			}
		}
		return vals
	}
	for k := range strippedEnv {
		if k == "AWS_ACCESS_KEY_ID" {
			continue
		}
		if v := lookup(k); len(v) != 0 {
			t.Errorf("%s survived ChildEnv", k)
		}
	}
	for key, want := range map[string][]string{
		"A":                  {"2"},
		"SAFEKEEP_TEST_KEEP": {"replaced"},
		"AWS_ACCESS_KEY_ID":  {"given"}, // an explicit extra is the caller's choice
		"AWS_REGION":         {"eu-west-1"},
	} {
		if got := lookup(key); !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
}
