package jobs

import (
	"fmt"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/robfig/cron/v3"
)

// Windows are spelled in UTC: a day as lake.Day writes it ("2006-01-02"),
// an hour as "2006-01-02T15".
const hourLayout = "2006-01-02T15"

const day = 24 * time.Hour

// span is the length of a kind of window and how it is spelled.
type span struct {
	length time.Duration
	format func(time.Time) string
}

var (
	daily  = span{length: day, format: lake.Day}
	hourly = span{length: time.Hour, format: func(t time.Time) string { return t.UTC().Format(hourLayout) }}
)

// ParseWindow returns the UTC interval [from, to) a window names: a day
// ("2006-01-02") or an hour ("2006-01-02T15").
func ParseWindow(w string) (from, to time.Time, err error) {
	if t, err := time.Parse(hourLayout, w); err == nil && t.Format(hourLayout) == w {
		return t, t.Add(time.Hour), nil
	}
	t, err := lake.ParseDay(w)
	if err != nil || lake.Day(t) != w {
		return time.Time{}, time.Time{}, fmt.Errorf("%w %q: want YYYY-MM-DD or YYYY-MM-DDTHH", ErrWindow, w)
	}
	return t, t.Add(day), nil
}

// checkWindow verifies that w is spelled as windows of sp are.
func checkWindow(sp span, w string) error {
	from, _, err := ParseWindow(w)
	if err != nil {
		return err
	}
	if sp.format(from) != w {
		want := "YYYY-MM-DD"
		if sp.length == time.Hour {
			want = "YYYY-MM-DDTHH"
		}
		return fmt.Errorf("%w %q: want %s", ErrWindow, w, want)
	}
	return nil
}

// due returns the n newest windows of sp that are due at now, oldest
// first. A window is due once the schedule has fired after it ended: the
// day that ended at midnight is due at 04:30 with the default nightly
// schedule, not before, so a scheduler started at 03:00 does not process
// a day whose batches are still arriving.
func due(s cron.Schedule, sp span, now time.Time, n int) []string {
	now = now.UTC()
	w := now.Truncate(sp.length).Add(-sp.length)
	// Only the newest one or two windows can be not yet due with any
	// schedule that fires at least once per window; give up after a few.
	for i := 0; i < 3; i++ {
		next := s.Next(w.Add(sp.length - time.Nanosecond))
		if !next.IsZero() && !next.After(now) {
			break
		}
		w = w.Add(-sp.length)
	}
	out := make([]string, n)
	for i := n - 1; i >= 0; i-- {
		out[i] = sp.format(w)
		w = w.Add(-sp.length)
	}
	return out
}

// days lists the days from from to to, both included.
func days(from, to time.Time) []string {
	from, to = from.UTC().Truncate(day), to.UTC().Truncate(day)
	var out []string
	for d := from; !d.After(to); d = d.Add(day) {
		out = append(out, lake.Day(d))
	}
	return out
}
