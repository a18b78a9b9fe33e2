package cli

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPollRunTimeout: a read refused because the deadline is near (as
// client-go's rate limiter does) ends the wait as a timeout, not as a read
// error; far from the deadline an error is returned as it is.
func TestPollRunTimeout(t *testing.T) {
	errTimedOut := errors.New("timed out")
	errRead := errors.New("rate: Wait(n=1) would exceed context deadline")
	timedOut := func() error { return errTimedOut }

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	calls := 0
	_, err := pollRun(ctx, 100*time.Millisecond, func(ctx context.Context) (int, error) {
		calls++
		if d, _ := ctx.Deadline(); time.Until(d) < 100*time.Millisecond {
			return 0, errRead
		}
		return 0, errRunPending
	}, timedOut)
	if !errors.Is(err, errTimedOut) || calls < 2 {
		t.Errorf("near the deadline: %v after %d calls, want the timeout", err, calls)
	}

	ctx, cancel = context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := pollRun(ctx, 10*time.Millisecond, func(context.Context) (int, error) { return 0, errRead }, timedOut); !errors.Is(err, errRead) {
		t.Errorf("far from the deadline: %v, want the read error", err)
	}
	if v, err := pollRun(ctx, 10*time.Millisecond, func(context.Context) (int, error) { return 7, nil }, timedOut); v != 7 || err != nil {
		t.Errorf("a verdict: %d %v", v, err)
	}

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := pollRun(ctx, 10*time.Millisecond, func(context.Context) (int, error) { return 0, errRunPending }, timedOut); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v, want context.Canceled", err)
	}
}
