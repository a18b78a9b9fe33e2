package report

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Chart limits: the most recent points and days are drawn.
const (
	MaxChartPoints  = 1000
	MaxCalendarDays = 3 * 366
)

// rtoChart is the geometry of one drill's RTO-over-time chart (SVG user
// units), computed here and drawn by the HTML template.
type rtoChart struct {
	Width, Height int
	Left, Right   float64 // plot area, x
	Top, Bottom   float64 // plot area, y
	Points        []rtoPoint
	Omitted       int
	Line          string // polyline points through the runs
	Objective     string // polyline points of the objective (step), empty when none
	ObjectiveLast float64
	YTicks        []tick
	XTicks        []tick
}

type rtoPoint struct {
	X, Y   float64
	Passed bool
	RTO    float64
	Time   string
	Over   bool
	Label  string
}

type tick struct {
	X, Y   float64
	Label  string
	Anchor string // SVG text-anchor
}

// newRTOChart lays out the runs of d (at most MaxChartPoints, the latest).
func newRTOChart(d Drill) rtoChart {
	runs, omitted := latest(d.RunList, MaxChartPoints)
	c := rtoChart{Width: 720, Height: 240, Left: 64, Right: 704, Top: 14, Bottom: 204, Omitted: omitted}
	if len(runs) == 0 {
		return c
	}
	t0, t1 := runs[0].Time, runs[len(runs)-1].Time
	ymax := 0.0
	for _, r := range runs {
		ymax = math.Max(ymax, math.Max(r.RTOSeconds, r.MaxRTOSeconds))
	}
	ymax = niceCeil(ymax * 1.1)
	x := func(t time.Time) float64 {
		if !t1.After(t0) {
			return (c.Left + c.Right) / 2
		}
		return c.Left + (c.Right-c.Left)*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v float64) float64 { return c.Bottom - (c.Bottom-c.Top)*v/ymax }
	var line, obj []string
	for _, r := range runs {
		p := rtoPoint{X: round2(x(r.Time)), Y: round2(y(r.RTOSeconds)), Passed: r.Passed, RTO: r.RTOSeconds,
			Time: r.Time.UTC().Format(time.RFC3339), Over: r.MaxRTOSeconds > 0 && r.RTOSeconds > r.MaxRTOSeconds}
		p.Label = fmt.Sprintf("%s: RTO %s, %s", fmtTime(r.Time), fmtSeconds(r.RTOSeconds), passFail(r.Passed))
		c.Points = append(c.Points, p)
		line = append(line, fmt.Sprintf("%g,%g", p.X, p.Y))
		if r.MaxRTOSeconds > 0 {
			oy := round2(y(r.MaxRTOSeconds))
			if len(obj) == 0 {
				obj = append(obj, fmt.Sprintf("%g,%g", c.Left, oy))
			} else {
				obj = append(obj, fmt.Sprintf("%g,%g", p.X, oy)) // step up or down at this run
			}
			obj = append(obj, fmt.Sprintf("%g,%g", p.X, oy))
			c.ObjectiveLast = r.MaxRTOSeconds
		}
	}
	if len(obj) > 0 {
		last := obj[len(obj)-1]
		obj = append(obj, fmt.Sprintf("%g,%s", c.Right, last[strings.IndexByte(last, ',')+1:]))
		c.Objective = strings.Join(obj, " ")
	}
	c.Line = strings.Join(line, " ")
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		label := fmtSeconds(v)
		if i == 0 {
			label = "0s"
		}
		c.YTicks = append(c.YTicks, tick{X: c.Left - 6, Y: round2(y(v)), Label: label})
	}
	if t1.After(t0) {
		c.XTicks = append(c.XTicks, tick{X: x(t0), Y: c.Bottom + 18, Label: t0.Format(time.DateOnly), Anchor: "start"},
			tick{X: x(t1), Y: c.Bottom + 18, Label: t1.Format(time.DateOnly), Anchor: "end"})
	} else {
		c.XTicks = append(c.XTicks, tick{X: x(t0), Y: c.Bottom + 18, Label: t0.Format(time.DateOnly), Anchor: "middle"})
	}
	return c
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (60 at least).
func niceCeil(v float64) float64 {
	if v < 60 {
		return 60
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// calendar is a pass/fail calendar: one cell per UTC day of the period,
// weeks as columns, Monday on top.
type calendar struct {
	Width, Height int
	Cells         []calCell
	Months        []tick
	Omitted       int // days before the first cell, left out
}

type calCell struct {
	X, Y           int
	Date           string
	State          string // pass, fail, mixed, none
	Passed, Failed int
}

const calCellSize, calGap, calLeft, calTop = 11, 2, 28, 16

// newCalendar lays out days from start to end (UTC dates, inclusive), at
// most MaxCalendarDays (the latest), coloured from d's runs.
func newCalendar(d Drill, start, end time.Time) calendar {
	start, end = utcDay(start), utcDay(end)
	var c calendar
	if end.Before(start) {
		end = start
	}
	if n := int(end.Sub(start).Hours()/24) + 1; n > MaxCalendarDays {
		c.Omitted = n - MaxCalendarDays
		start = end.AddDate(0, 0, -(MaxCalendarDays - 1))
	}
	byDate := make(map[string]Day, len(d.Days))
	for _, day := range d.Days {
		byDate[day.Date] = day
	}
	// Column 0 is the week holding start; rows are Monday (0) to Sunday (6).
	offset := (int(start.Weekday()) + 6) % 7
	col := 0
	for day, i := start, 0; !day.After(end); day, i = day.AddDate(0, 0, 1), i+1 {
		pos := i + offset
		col = pos / 7
		row := pos % 7
		date := day.Format(time.DateOnly)
		rec := byDate[date]
		cell := calCell{X: calLeft + col*(calCellSize+calGap), Y: calTop + row*(calCellSize+calGap), Date: date,
			Passed: rec.Passed, Failed: rec.Failed, State: dayState(rec)}
		c.Cells = append(c.Cells, cell)
		if i == 0 || day.Day() == 1 {
			c.Months = append(c.Months, tick{X: float64(cell.X), Y: calTop - 4, Label: day.Format("Jan")})
		}
	}
	c.Width = calLeft + (col+1)*(calCellSize+calGap) + 4
	c.Height = calTop + 7*(calCellSize+calGap) + 2
	return c
}

func dayState(d Day) string {
	switch {
	case d.Passed > 0 && d.Failed > 0:
		return "mixed"
	case d.Passed > 0:
		return "pass"
	case d.Failed > 0:
		return "fail"
	}
	return "none"
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
