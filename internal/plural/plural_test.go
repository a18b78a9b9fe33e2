package plural

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{S(0, "day"), "0 days"},
		{S(1, "day"), "1 day"},
		{S(int64(2), "namespace"), "2 namespaces"},
		{S(int32(-1), "day"), "-1 days"},
		{Count(1, "entry", "entries"), "1 entry"},
		{Count(5, "entry", "entries"), "5 entries"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
