package kit

import (
	"strings"
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	want := []time.Duration{15 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute,
		4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for n, w := range want {
		if got := RetryDelay(n); got != w {
			t.Errorf("RetryDelay(%d) = %s, want %s", n, got, w)
		}
	}
}

func TestTruncate(t *testing.T) {
	s := strings.Repeat("é", 600) // 1200 bytes
	got := Truncate(s, 1024)
	if len(got) > 1024 || !strings.HasSuffix(got, "...") || !strings.HasPrefix(s, strings.TrimSuffix(got, "...")) {
		t.Errorf("truncate: %d bytes", len(got))
	}
}
