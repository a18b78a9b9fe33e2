package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
)

// progressInterval is how often the progress line is redrawn at most.
const progressInterval = 200 * time.Millisecond

// progressLine draws one updating line on a terminal: what is being done,
// bytes done of the total, percent and rate. On anything but a terminal it
// draws nothing. It is safe for concurrent use.
type progressLine struct {
	w     io.Writer // nil: silent
	label string
	now   func() time.Time

	mu          sync.Mutex
	start, last time.Time
	done, total int64
	drawn       bool
}

// newProgress returns a progress line on w when w is a terminal, and a silent
// one otherwise.
func newProgress(w io.Writer, label string) *progressLine {
	p := &progressLine{label: label, now: time.Now}
	if isTerminal(w) {
		p.w = w
	}
	p.start = p.now()
	return p
}

// Set records done bytes of total (total <= 0: unknown) and redraws when the
// last draw is older than progressInterval.
func (p *progressLine) Set(done, total int64) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total = done, total
	if now := p.now(); now.Sub(p.last) >= progressInterval {
		p.last = now
		p.draw(now)
	}
}

// Add records n more bytes done.
func (p *progressLine) Add(n int64) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	done, total := p.done+n, p.total
	p.mu.Unlock()
	p.Set(done, total)
}

// SetTotal sets the total without changing what is done.
func (p *progressLine) SetTotal(total int64) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	p.Set(done, total)
}

// Clear erases the line, so that the command's result prints on a clean one.
func (p *progressLine) Clear() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		_, _ = fmt.Fprint(p.w, "\r\x1b[K") // cosmetic: a failed write must not fail the command
		p.drawn = false
	}
}

// draw writes the line; p.mu is held.
func (p *progressLine) draw(now time.Time) {
	p.drawn = true
	// Cosmetic: a failed write must not fail the command.
	_, _ = fmt.Fprint(p.w, "\r\x1b[K"+formatProgress(p.label, p.done, p.total, now.Sub(p.start)))
}

// formatProgress renders "sealing 1.2 GiB / 3.4 GiB  35%  120 MiB/s".
func formatProgress(label string, done, total int64, elapsed time.Duration) string {
	s := label + " " + bytesIEC(done)
	if total > 0 {
		s += fmt.Sprintf(" / %s  %3d%%", bytesIEC(total), done*100/total)
	}
	if secs := elapsed.Seconds(); secs >= 0.5 {
		s += fmt.Sprintf("  %s/s", bytesIEC(int64(float64(done)/secs)))
	}
	return s
}

// bytesIEC formats n as 1.2 GiB.
func bytesIEC(n int64) string {
	if n < 0 {
		n = 0
	}
	return humanize.IBytes(uint64(n))
}
