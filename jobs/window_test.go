package jobs

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestDueWindows(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name, spec string
		sp         span
		now        string
		n          int
		want       []string
	}{
		{"after the nightly run time", DefaultNightly, daily, "2026-03-10T05:00:00Z", 3, []string{"2026-03-07", "2026-03-08", "2026-03-09"}},
		{"at the nightly run time", DefaultNightly, daily, "2026-03-10T04:30:00Z", 1, []string{"2026-03-09"}},
		{"before it, yesterday is not due", DefaultNightly, daily, "2026-03-10T03:00:00Z", 2, []string{"2026-03-07", "2026-03-08"}},
		{"local zone in the spec", "CRON_TZ=Europe/Vienna 30 4 * * *", daily, "2026-03-10T03:40:00Z", 1, []string{"2026-03-09"}},
		{"across a month end", DefaultNightly, daily, "2026-03-01T12:00:00Z", 2, []string{"2026-02-27", "2026-02-28"}},
		{"hourly after minute 5", DefaultHourly, hourly, "2026-03-10T14:06:00Z", 2, []string{"2026-03-10T12", "2026-03-10T13"}},
		{"hourly before minute 5", DefaultHourly, hourly, "2026-03-10T14:03:00Z", 1, []string{"2026-03-10T12"}},
		{"hourly across midnight", DefaultHourly, hourly, "2026-03-10T01:10:00Z", 3, []string{"2026-03-09T22", "2026-03-09T23", "2026-03-10T00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSchedule(tc.spec)
			if err != nil {
				t.Skipf("zone data: %v", err)
			}
			if got := due(s, tc.sp, at(tc.now), tc.n); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDefaultSchedulesAreUTC(t *testing.T) {
	s, err := parseSchedule(DefaultNightly)
	if err != nil {
		t.Fatal(err)
	}
	// Even on a host whose local zone is not UTC the runner asks in UTC.
	from := time.Date(2026, 3, 10, 10, 0, 0, 0, time.FixedZone("X", 5*3600)).UTC() // 05:00 UTC
	if got, want := s.Next(from), time.Date(2026, 3, 11, 4, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next nightly %v, want %v", got, want)
	}
}

func TestParseWindow(t *testing.T) {
	from, to, err := ParseWindow("2026-03-10")
	if err != nil || !from.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) || to.Sub(from) != day {
		t.Errorf("day: %v %v %v", from, to, err)
	}
	from, to, err = ParseWindow("2026-03-10T07")
	if err != nil || from.Hour() != 7 || to.Sub(from) != time.Hour {
		t.Errorf("hour: %v %v %v", from, to, err)
	}
	for _, bad := range []string{"", "2026-3-10", "2026-03-10T7", "2026-3-1", "halted", "2026-03-10T07:00"} {
		if _, _, err := ParseWindow(bad); !errors.Is(err, ErrWindow) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if got := days(time.Date(2026, 2, 27, 23, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)); !slices.Equal(got, []string{"2026-02-27", "2026-02-28", "2026-03-01"}) {
		t.Errorf("days %v", got)
	}
}
