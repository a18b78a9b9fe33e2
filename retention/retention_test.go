package retention

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func ts(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// items makes items whose IDs are their times.
func items(t testing.TB, times ...string) []Item {
	t.Helper()
	out := make([]Item, len(times))
	for i, s := range times {
		out[i] = Item{ID: s, Time: ts(t, s)}
	}
	return out
}

func ids(kept []Kept) []string {
	out := make([]string, len(kept))
	for i, k := range kept {
		out[i] = k.ID
	}
	return out
}

func dropIDs(drop []Item) []string {
	out := make([]string, len(drop))
	for i, d := range drop {
		out[i] = d.ID
	}
	return out
}

// reasons renders each kept item's reasons, "ID: r1; r2".
func reasons(kept []Kept) []string {
	out := make([]string, len(kept))
	for i, k := range kept {
		rs := make([]string, len(k.Reasons))
		for j, r := range k.Reasons {
			rs[j] = r.String()
		}
		out[i] = k.ID + ": " + strings.Join(rs, "; ")
	}
	return out
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestApply(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	tests := []struct {
		name        string
		items       []string
		policy      Policy
		wantKeep    []string // "ID: reasons", newest first
		wantDropped []string
	}{
		{
			name:   "no items",
			policy: Policy{KeepLast: 3},
		},
		{
			name:   "zero policy keeps everything",
			items:  []string{"2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-02-01T00:00:00Z"},
			policy: Policy{Location: berlin},
			wantKeep: []string{
				"2026-03-01T00:00:00Z: all (empty policy)",
				"2026-02-01T00:00:00Z: all (empty policy)",
				"2026-01-01T00:00:00Z: all (empty policy)",
			},
		},
		{
			name:   "keep last",
			items:  []string{"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-05T00:00:00Z"},
			policy: Policy{KeepLast: 3},
			wantKeep: []string{
				"2026-01-05T00:00:00Z: last #1 (1)",
				"2026-01-04T00:00:00Z: last #2 (2)",
				"2026-01-03T00:00:00Z: last #3 (3)",
			},
			wantDropped: []string{"2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"},
		},
		{
			name: "daily keeps the newest of each day, days without backups do not count",
			items: []string{
				"2026-01-01T08:00:00Z", "2026-01-01T20:00:00Z",
				"2026-01-02T10:00:00Z",
				// no backup on the 3rd
				"2026-01-04T09:00:00Z", "2026-01-04T21:00:00Z",
			},
			policy: Policy{KeepDaily: 2},
			wantKeep: []string{
				"2026-01-04T21:00:00Z: daily 2026-01-04 (1)",
				"2026-01-02T10:00:00Z: daily 2026-01-02 (2)",
			},
			wantDropped: []string{"2026-01-04T09:00:00Z", "2026-01-01T20:00:00Z", "2026-01-01T08:00:00Z"},
		},
		{
			name: "a rule with counts to spare keeps the oldest item too",
			items: []string{
				"2026-01-01T08:00:00Z", "2026-01-01T20:00:00Z",
				"2026-01-02T08:00:00Z", "2026-01-02T20:00:00Z",
			},
			policy: Policy{KeepDaily: 7},
			wantKeep: []string{
				"2026-01-02T20:00:00Z: daily 2026-01-02 (1)",
				"2026-01-01T20:00:00Z: daily 2026-01-01 (2)",
				"2026-01-01T08:00:00Z: daily 2026-01-01 (3, oldest)",
			},
			wantDropped: []string{"2026-01-02T08:00:00Z"},
		},
		{
			name: "ISO weeks: Monday starts a week, and a week can span the new year",
			items: []string{
				"2025-12-22T12:00:00Z", // Mon, 2025-W52
				"2025-12-28T12:00:00Z", // Sun, 2025-W52
				"2025-12-29T12:00:00Z", // Mon, 2026-W01
				"2026-01-02T12:00:00Z", // Fri, 2026-W01
				"2026-01-04T12:00:00Z", // Sun, 2026-W01
				"2026-01-05T12:00:00Z", // Mon, 2026-W02
			},
			policy: Policy{KeepWeekly: 3},
			wantKeep: []string{
				"2026-01-05T12:00:00Z: weekly 2026-W02 (1)",
				"2026-01-04T12:00:00Z: weekly 2026-W01 (2)",
				"2025-12-28T12:00:00Z: weekly 2025-W52 (3)",
			},
			wantDropped: []string{"2026-01-02T12:00:00Z", "2025-12-29T12:00:00Z", "2025-12-22T12:00:00Z"},
		},
		{
			name:   "monthly in UTC: 23:30 on Jan 31 is January",
			items:  []string{"2026-01-15T12:00:00Z", "2026-01-31T23:30:00Z", "2026-02-10T12:00:00Z"},
			policy: Policy{KeepMonthly: 2},
			wantKeep: []string{
				"2026-02-10T12:00:00Z: monthly 2026-02 (1)",
				"2026-01-31T23:30:00Z: monthly 2026-01 (2)",
			},
			wantDropped: []string{"2026-01-15T12:00:00Z"},
		},
		{
			name:   "monthly in Berlin: 23:30 UTC on Jan 31 is February",
			items:  []string{"2026-01-15T12:00:00Z", "2026-01-31T23:30:00Z", "2026-02-10T12:00:00Z"},
			policy: Policy{KeepMonthly: 2, Location: berlin},
			wantKeep: []string{
				"2026-02-10T12:00:00Z: monthly 2026-02 (1)",
				"2026-01-15T12:00:00Z: monthly 2026-01 (2)",
			},
			wantDropped: []string{"2026-01-31T23:30:00Z"},
		},
		{
			name:   "yearly",
			items:  []string{"2023-06-01T00:00:00Z", "2024-02-29T00:00:00Z", "2024-12-31T00:00:00Z", "2026-01-01T00:00:00Z"},
			policy: Policy{KeepYearly: 2},
			wantKeep: []string{
				"2026-01-01T00:00:00Z: yearly 2026 (1)",
				"2024-12-31T00:00:00Z: yearly 2024 (2)",
			},
			wantDropped: []string{"2024-02-29T00:00:00Z", "2023-06-01T00:00:00Z"},
		},
		{
			name:   "an item kept by several rules lists them all",
			items:  []string{"2026-01-30T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"},
			policy: Policy{KeepLast: 1, KeepDaily: 2, KeepMonthly: 2},
			wantKeep: []string{
				"2026-02-01T00:00:00Z: last #1 (1); daily 2026-02-01 (1); monthly 2026-02 (1)",
				"2026-01-31T00:00:00Z: daily 2026-01-31 (2); monthly 2026-01 (2)",
			},
			wantDropped: []string{"2026-01-30T00:00:00Z"},
		},
		{
			name: "fall back in Berlin: two backups at 02:30 wall time are one day",
			items: []string{
				"2026-10-24T00:30:00Z", // 02:30 CEST on the 24th
				"2026-10-25T00:30:00Z", // 02:30 CEST on the 25th
				"2026-10-25T01:30:00Z", // 02:30 CET on the 25th
			},
			policy: Policy{KeepDaily: 2, Location: berlin},
			wantKeep: []string{
				"2026-10-25T01:30:00Z: daily 2026-10-25 (1)",
				"2026-10-24T00:30:00Z: daily 2026-10-24 (2)",
			},
			wantDropped: []string{"2026-10-25T00:30:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Apply(items(t, tt.items...), tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if got := reasons(res.Keep); !slices.Equal(got, tt.wantKeep) {
				t.Errorf("keep:\n got %q\nwant %q", got, tt.wantKeep)
			}
			if got := dropIDs(res.Drop); !slices.Equal(got, tt.wantDropped) {
				t.Errorf("drop:\n got %q\nwant %q", got, tt.wantDropped)
			}
		})
	}
}

// TestApplyGFS runs a common policy over 400 daily backups and checks the
// exact set kept.
func TestApplyGFS(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	var in []Item
	end := time.Date(2026, time.June, 30, 2, 0, 0, 0, berlin)
	for d := range 400 {
		tm := end.AddDate(0, 0, -d)
		in = append(in, Item{ID: tm.Format(time.DateOnly), Time: tm})
	}
	p := Policy{KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 12, KeepYearly: 2, Location: berlin}
	res, err := Apply(in, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		// daily: the last 7 days
		"2026-06-30", "2026-06-29", "2026-06-28", "2026-06-27", "2026-06-26", "2026-06-25", "2026-06-24",
		// weekly: this week (06-30, a Tuesday) and the Sundays ending the 3 before
		"2026-06-21", "2026-06-14",
		// monthly: this month and the last day of the 11 before
		"2026-05-31", "2026-04-30", "2026-03-31", "2026-02-28", "2026-01-31",
		"2025-12-31", "2025-11-30", "2025-10-31", "2025-09-30", "2025-08-31", "2025-07-31",
		// yearly: 2026 (06-30) and 2025 (12-31) are already kept
	}
	if got := ids(res.Keep); !slices.Equal(got, want) {
		t.Errorf("keep:\n got %q\nwant %q", got, want)
	}
	if len(res.Keep)+len(res.Drop) != len(in) {
		t.Errorf("keep %d + drop %d != %d items", len(res.Keep), len(res.Drop), len(in))
	}
	if p.String() != "keep 7 daily, 4 weekly, 12 monthly, 2 yearly" {
		t.Errorf("String() = %q", p.String())
	}
}

func TestApplyTiesAndInput(t *testing.T) {
	same := ts(t, "2026-01-01T00:00:00Z")
	in := []Item{{ID: "b", Time: same}, {ID: "a", Time: same}, {ID: "c", Time: same.Add(-time.Hour)}}
	orig := slices.Clone(in)
	res, err := Apply(in, Policy{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Keep); !slices.Equal(got, []string{"a"}) {
		t.Errorf("keep %q, want [a]: ties go to the lower ID", got)
	}
	if got := dropIDs(res.Drop); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("drop %q, want [b c]", got)
	}
	if !slices.Equal(in, orig) {
		t.Errorf("Apply modified its input: %v", in)
	}
}

func TestApplyInvalid(t *testing.T) {
	ok := ts(t, "2026-01-01T00:00:00Z")
	tests := []struct {
		name    string
		items   []Item
		policy  Policy
		wantMsg string
	}{
		{"negative count", []Item{{ID: "a", Time: ok}}, Policy{KeepLast: 1, KeepWeekly: -1}, "keep weekly is -1"},
		{"negative count, zero otherwise", nil, Policy{KeepDaily: -1}, "keep daily is -1"},
		{"empty ID", []Item{{ID: "a", Time: ok}, {Time: ok}}, Policy{KeepLast: 1}, "item 1 has no ID"},
		{"repeated ID", []Item{{ID: "a", Time: ok}, {ID: "a", Time: ok.Add(time.Hour)}}, Policy{KeepLast: 1}, `"a" appears twice`},
		{"zero time", []Item{{ID: "a"}}, Policy{KeepLast: 1}, `"a" has no time`},
		{"zero time, zero policy", []Item{{ID: "a"}}, Policy{}, `"a" has no time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Apply(tt.items, tt.policy)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Apply = %v, want an error wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if len(res.Drop) != 0 || len(res.Keep) != 0 {
				t.Errorf("a failed Apply returned a decision: %+v", res)
			}
		})
	}
}

// TestApplyProperties checks, over random histories and policies, what must
// hold whatever the details: every item is decided once, the newest is kept
// by any non-empty policy, no rule keeps more than its count, and the
// order of the input does not matter.
func TestApplyProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	zones := []*time.Location{time.UTC, mustLoad(t, "America/New_York"), mustLoad(t, "Asia/Kathmandu")}
	base := time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	for i := range 500 {
		n := rng.IntN(60)
		in := make([]Item, n)
		for j := range in {
			in[j] = Item{
				ID:   fmt.Sprintf("b%03d", j),
				Time: base.Add(time.Duration(rng.Int64N(int64(3 * 365 * 24 * time.Hour)))),
			}
		}
		p := Policy{
			KeepLast: rng.IntN(4), KeepDaily: rng.IntN(8), KeepWeekly: rng.IntN(5),
			KeepMonthly: rng.IntN(13), KeepYearly: rng.IntN(3), Location: zones[rng.IntN(len(zones))],
		}
		res, err := Apply(in, p)
		if err != nil {
			t.Fatal(err)
		}
		desc := fmt.Sprintf("#%d (%d items, %s)", i, n, p)

		decided := map[string]int{}
		for _, k := range res.Keep {
			decided[k.ID]++
			if len(k.Reasons) == 0 {
				t.Fatalf("%s: %s kept without a reason", desc, k.ID)
			}
		}
		for _, d := range res.Drop {
			decided[d.ID]++
		}
		for _, it := range in {
			if decided[it.ID] != 1 {
				t.Fatalf("%s: %s decided %d times", desc, it.ID, decided[it.ID])
			}
		}

		if n > 0 {
			newest := slices.MaxFunc(in, func(a, b Item) int {
				if c := a.Time.Compare(b.Time); c != 0 {
					return c
				}
				return strings.Compare(b.ID, a.ID)
			})
			if len(res.Keep) == 0 || res.Keep[0].ID != newest.ID {
				t.Fatalf("%s: newest %s not kept first (keep %q)", desc, newest.ID, ids(res.Keep))
			}
		}

		perRule := map[Rule]int{}
		for _, k := range res.Keep {
			for _, r := range k.Reasons {
				perRule[r.Rule]++
			}
		}
		for _, r := range p.rules() {
			if perRule[r.rule] > r.count {
				t.Fatalf("%s: rule %s kept %d, count %d", desc, r.rule, perRule[r.rule], r.count)
			}
		}

		shuffled := slices.Clone(in)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		again, err := Apply(shuffled, p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(reasons(again.Keep), reasons(res.Keep)) || !slices.Equal(dropIDs(again.Drop), dropIDs(res.Drop)) {
			t.Fatalf("%s: result depends on input order", desc)
		}
	}
}

func ExampleApply() {
	var history []Item
	for d := range 10 {
		tm := time.Date(2026, time.March, 1+d, 2, 0, 0, 0, time.UTC)
		history = append(history, Item{ID: tm.Format("backup-20060102"), Time: tm})
	}
	res, err := Apply(history, Policy{KeepLast: 2, KeepWeekly: 2})
	if err != nil {
		panic(err)
	}
	for _, k := range res.Keep {
		fmt.Println("keep", k.ID, k.Reasons)
	}
	fmt.Println("drop", len(res.Drop))
	// Output:
	// keep backup-20260310 [last #1 (1) weekly 2026-W11 (1)]
	// keep backup-20260309 [last #2 (2)]
	// keep backup-20260308 [weekly 2026-W10 (2)]
	// drop 7
}
