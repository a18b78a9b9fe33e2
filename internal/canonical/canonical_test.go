package canonical

import "testing"

func TestJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{" { \"a\" : [ 1 , 2.50 , 1e3 ] } ", `{"a":[1,2.50,1e3]}`},
		{`{"a":"<&>"}`, `{"a":"<&>"}`},
		{`{"a":"\u0041"}`, `{"a":"A"}`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`{"z":{"y":null,"x":true}}`, `{"z":{"x":true,"y":null}}`},
	} {
		got, err := JSON([]byte(tc.in))
		if err != nil {
			t.Fatalf("JSON(%s): %v", tc.in, err)
		}
		if string(got) != tc.want {
			t.Errorf("JSON(%s) = %s, want %s", tc.in, got, tc.want)
		}
		again, err := JSON(got)
		if err != nil || string(again) != string(got) {
			t.Errorf("not idempotent: %s -> %s (%v)", got, again, err)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":1} x`, `{"a":1}{}`, `nul`} {
		if _, err := JSON([]byte(bad)); err == nil {
			t.Errorf("JSON(%q) succeeded", bad)
		}
	}
}
