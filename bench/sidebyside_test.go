package bench

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// contender is one tool of a side-by-side comparison: cmd makes its command
// for a round, cleanup (optional) removes what that command wrote.
type contender struct {
	name    string
	cmd     func(round int) *exec.Cmd
	cleanup func(round int)
}

// sideBySide runs every contender once per round, starting each round one
// contender later (so none always runs first, or last, on a noisy machine),
// and returns the usage of each, [contender][round].
func sideBySide(tb testing.TB, rounds int, cs ...contender) [][]usage {
	tb.Helper()
	out := make([][]usage, len(cs))
	for r := range rounds {
		for j := range cs {
			i := (r + j) % len(cs)
			out[i] = append(out[i], run(tb, cs[i].name, cs[i].cmd(r)))
			if cs[i].cleanup != nil {
				cs[i].cleanup(r)
			}
		}
	}
	return out
}

// medianRatio is the median over rounds of f(a[r]) / f(b[r]).
func medianRatio(a, b []usage, f func(usage) float64) float64 {
	rs := make([]float64, len(a))
	for r := range a {
		rs[r] = f(a[r]) / f(b[r])
	}
	return median(rs)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func wallSeconds(u usage) float64 { return u.wall.Seconds() }
func cpuSeconds(u usage) float64  { return u.cpu.Seconds() }

// maxRSS is the highest peak RSS over rounds, MiB.
func maxRSS(us []usage) float64 {
	m := 0.0
	for _, u := range us {
		m = max(m, u.rssMB)
	}
	return m
}

// usageTable prints each contender's rounds, one line each.
func usageTable(us [][]usage) string {
	var b strings.Builder
	for _, rounds := range us {
		for r, u := range rounds {
			fmt.Fprintf(&b, "  round %d  %v\n", r+1, u)
		}
	}
	return b.String()
}
