package v1alpha1_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/safekeep-dev/safekeep/api/v1alpha1"
)

func TestDurationJSON(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   time.Duration
		bad    bool
		output string
	}{
		{`"720h"`, 720 * time.Hour, false, `"720h0m0s"`},
		{`"1h30m"`, 90 * time.Minute, false, `"1h30m0s"`},
		{`"0"`, 0, false, `"0s"`},
		{`"banana"`, 0, true, `"banana"`},
		{`"30d"`, 0, true, `"30d"`},
		{`"-1h"`, 0, true, `"-1h"`},
		{`""`, 0, true, `""`},
		{`5`, 0, true, `"5"`},
	} {
		var d v1.Duration
		if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
			t.Errorf("Unmarshal(%s) = %v: decoding must never fail", tc.in, err)
			continue
		}
		if err := d.Err(); (err != nil) != tc.bad || d.Duration != tc.want {
			t.Errorf("Unmarshal(%s) = %v, Err %v; want %v, bad %v", tc.in, d.Duration, err, tc.want, tc.bad)
		}
		if tc.bad && !errors.Is(d.Err(), v1.ErrInvalidDuration) {
			t.Errorf("Err of %s does not wrap ErrInvalidDuration", tc.in)
		}
		out, err := json.Marshal(d)
		if err != nil || string(out) != tc.output {
			t.Errorf("Marshal after Unmarshal(%s) = %s, %v; want %s", tc.in, out, err, tc.output)
		}
	}
}

func TestDurationUnstructured(t *testing.T) {
	s := validSchedule("x")
	var bad v1.Duration
	_ = json.Unmarshal([]byte(`"banana"`), &bad) // never fails
	s.Spec.Template.TTL = &bad
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := m["spec"].(map[string]any)["template"].(map[string]any)["ttl"]; got != "banana" {
		t.Errorf("unstructured ttl = %#v, want banana", got)
	}
	var back v1.BackupSchedule
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &back); err != nil {
		t.Fatalf("FromUnstructured: %v", err)
	}
	if back.Spec.Template.TTL.Err() == nil {
		t.Error("the bad ttl came back valid")
	}
}

func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"720h"`, `"banana"`, `"1.5h30m"`, `""`, `null`, `"9999999999999h"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d v1.Duration
		if err := d.UnmarshalJSON(in); err != nil {
			t.Fatalf("UnmarshalJSON(%q) = %v", in, err)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var again v1.Duration
		_ = again.UnmarshalJSON(out) // never fails
		out2, _ := json.Marshal(again)
		if string(out2) != string(out) || again.Duration != d.Duration || (again.Err() == nil) != (d.Err() == nil) {
			t.Fatalf("round trip of %q: %s then %s", in, out, out2)
		}
	})
}
