package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFormatProgress(t *testing.T) {
	for _, tt := range []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{0, 0, 0, "sealing 0 B"},
		{512 << 20, 1 << 30, 2 * time.Second, "sealing 512 MiB / 1.0 GiB   50%  256 MiB/s"},
		{1 << 30, 1 << 30, 4 * time.Second, "sealing 1.0 GiB / 1.0 GiB  100%  256 MiB/s"},
		{3 << 10, -1, time.Second, "sealing 3.0 KiB  3.0 KiB/s"},
	} {
		if got := formatProgress("sealing", tt.done, tt.total, tt.elapsed); got != tt.want {
			t.Errorf("formatProgress(%d, %d, %v) = %q, want %q", tt.done, tt.total, tt.elapsed, got, tt.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	// Not a terminal: silent.
	var buf bytes.Buffer
	p := newProgress(&buf, "sealing")
	p.Set(10, 100)
	p.Clear()
	if buf.Len() != 0 {
		t.Errorf("progress wrote %q to a non-terminal", buf.String())
	}

	// A terminal (forced): one line redrawn in place, throttled, then erased.
	now := time.Unix(0, 0)
	p = &progressLine{w: &buf, label: "sealing", now: func() time.Time { return now }, start: now}
	p.Set(1<<20, 4<<20)
	p.Set(2<<20, 4<<20) // within the interval: not drawn
	now = now.Add(time.Second)
	p.Add(1 << 20)
	p.Clear()
	got := buf.String()
	if strings.Count(got, "\r\x1b[K") != 3 || strings.Contains(got, "\n") {
		t.Errorf("progress output %q: want two draws and a clear on one line", got)
	}
	if !strings.Contains(got, "3.0 MiB / 4.0 MiB   75%  3.0 MiB/s") {
		t.Errorf("progress output %q lacks the second draw", got)
	}
}

func TestOneLine(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-123")
	err := errors.New("bad\nthing: AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS and s3cr3t-value-123")
	got := oneLine(err)
	if got != "bad thing: **redacted** and **redacted**" {
		t.Errorf("oneLine = %q", got)
	}
}
