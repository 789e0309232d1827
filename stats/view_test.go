package stats

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

func newView(t testing.TB, b *lake.Bucket, now time.Time, cfg ViewConfig, reg prometheus.Registerer) *View {
	t.Helper()
	v, err := NewView(b, quiet, reg, cfg, WithViewClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fixtureView computes the standard fixture's statistics and loads them.
func fixtureView(t testing.TB) (*View, fixture, *prometheus.Registry) {
	t.Helper()
	b, f := buildLake(t, "mem://")
	computeAll(t, newJob(t, b))
	reg := prometheus.NewRegistry()
	v := newView(t, b, viewAt, ViewConfig{}, reg)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return v, f, reg
}

// instMeans is the brute-force mean of a metric per installation.
func instMeans(rows []row, metric string) map[string]float64 {
	sum, n := map[string]float64{}, map[string]int{}
	for _, r := range rows {
		if v, ok := r.vals[metric]; ok {
			sum[r.inst] += v
			n[r.inst]++
		}
	}
	out := map[string]float64{}
	for id := range sum {
		out[id] = sum[id] / float64(n[id])
	}
	return out
}

// Windows merged from daily sketches equal a direct computation over the
// window's rows: exact counts, sums, means, minima and maxima, quantiles
// within the sketch's accuracy, per-installation means for rank, and the
// pool over every model.
func TestViewWindowsMatchDirect(t *testing.T) {
	v, f, reg := fixtureView(t)
	s := v.snap.Load()
	anchor := day0.AddDate(0, 0, nDays-1)
	if !s.anchor.Equal(anchor) || len(s.models) != 2 {
		t.Fatalf("anchor %s, %d models", lake.Day(s.anchor), len(s.models))
	}
	if got := v.Windows(); strings.Join(got, ",") != "1d,7d,30d" {
		t.Fatalf("windows %v", got)
	}
	for wi, n := range v.windows {
		from := anchor.AddDate(0, 0, -(n - 1))
		rows := f.rows(aeroStore, from, anchor)
		if from.Before(day0) {
			rows = f.rows(aeroStore, day0, anchor)
		}
		w := s.models[aeroStore].windows[wi]
		insts := map[string]bool{}
		for _, r := range rows {
			insts[r.inst] = true
		}
		if w.installations != len(insts) || w.records != int64(len(rows)) || !w.to.Equal(anchor) || !w.from.Equal(from) {
			t.Fatalf("%s: %d installations %d records %s–%s, want %d, %d", w.name, w.installations, w.records,
				lake.Day(w.from), lake.Day(w.to), len(insts), len(rows))
		}
		for _, metric := range []string{"temp_outside", "temp_heat_pump_flow", "power_thermal", "humidity"} {
			e := exactOf(metricValues(rows, metric))
			mv := w.metrics[metric]
			if mv == nil || mv.Count != e.count || mv.Sum != e.sum || mv.Mean != e.sum/float64(e.count) || mv.Min != e.min || mv.Max != e.max {
				t.Fatalf("%s %s = %+v, want %+v", w.name, metric, mv, e)
			}
			for _, q := range []struct{ p, v float64 }{{0.05, mv.P5}, {0.25, mv.P25}, {0.5, mv.P50}, {0.75, mv.P75}, {0.95, mv.P95}} {
				checkQuantile(t, w.name+" "+metric, q.p, q.v, e.sorted)
			}
			means := instMeans(rows, metric)
			if mv.Installations != len(means) || len(mv.sorted) != len(means) {
				t.Fatalf("%s %s: %d installations, want %d", w.name, metric, mv.Installations, len(means))
			}
			var total float64
			for id, want := range means {
				got := mv.means[w.installIndex[id]]
				if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("%s %s %s mean %v, want %v", w.name, metric, id, got, want)
				}
				total += want
			}
			if avg := total / float64(len(means)); math.Abs(mv.avgOfMeans-avg) > 1e-9*math.Max(1, math.Abs(avg)) {
				t.Errorf("%s %s avg of means %v, want %v", w.name, metric, mv.avgOfMeans, avg)
			}
		}
		if w.cop == nil || len(w.cop.Bands) == 0 {
			t.Fatalf("%s: no COP curve", w.name)
		}
		var copCount int64
		for _, r := range rows {
			if _, _, ok := copOf(r); ok {
				copCount++
			}
		}
		var got int64
		for i, b := range w.cop.Bands {
			got += b.Count
			if i > 0 && compareBands(w.cop.Bands[i-1], b) >= 0 {
				t.Errorf("%s: bands out of order: %s before %s", w.name, w.cop.Bands[i-1].Band, b.Band)
			}
		}
		if got != copCount {
			t.Errorf("%s: %d COP values, want %d", w.name, got, copCount)
		}
	}
	// The pool: every model, the last 30 days (all of the fixture).
	var samples int64
	for storage := range f {
		for _, r := range f.rows(storage, day0, anchor) {
			samples += int64(len(r.vals))
		}
	}
	p := v.Pool()
	if p.TotalInstallations != 9 || p.TotalDataPoints != samples || !p.DataSufficient ||
		len(p.ModelsAvailable) != 1 || p.ModelsAvailable[0] != aero {
		t.Fatalf("pool %+v, want 9 installations, %d samples, [%s]", p, samples, aero)
	}
	if got := testutil.ToFloat64(v.m.models); got != 2 {
		t.Errorf("models gauge %v", got)
	}
	if got := testutil.ToFloat64(v.m.lastDay); got != float64(anchor.Unix()) {
		t.Errorf("last day gauge %v", got)
	}
	if n, err := testutil.GatherAndCount(reg, "idmt_stats_view_refresh_timestamp_seconds", "idmt_stats_view_installations"); err != nil || n != 2 {
		t.Errorf("gathered %d metrics: %v", n, err)
	}
}

// A refresh rereads only what changed; a day whose statistics are being
// recomputed keeps serving the committed figures.
func TestViewRefreshIncremental(t *testing.T) {
	ctx := context.Background()
	b, f := buildLake(t, "mem://")
	j := newJob(t, b)
	computeAll(t, j)
	v := newView(t, b, viewAt, ViewConfig{}, nil)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	read := testutil.ToFloat64(v.m.objectsRead)
	if read != float64(nDays*3) {
		t.Fatalf("first refresh read %v objects, want %d", read, nDays*3)
	}
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if again := testutil.ToFloat64(v.m.objectsRead); again != read {
		t.Fatalf("an unchanged refresh read %v objects", again-read)
	}
	// A late record on the last day; the view only sees it once the day's
	// Installations document commits it.
	last := day0.AddDate(0, 0, nDays-1)
	lateRec := rec{inst: instID(4), ts: float64(last.Unix()+3601) + 0.125, vals: map[string]float64{"temp_outside": -30}}
	landBatch(t, b, aero, recvT.Add(24*time.Hour), lateRec)
	compact(t, b, recvT.Add(25*time.Hour))
	f.add(aero, []rec{lateRec})
	if _, err := j.Compute(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(v.m.objectsRead) - read; got != 2 {
		t.Errorf("refresh after one partition changed read %v objects, want 2", got)
	}
	if m := v.snap.Load().models[aeroStore].windows[0].metrics["temp_outside"]; m.Min != -30 {
		t.Errorf("1d min %v, want the late -30", m.Min)
	}
}

// simpleRecords makes n records of one installation from start, step
// seconds apart, with exactly three metrics each.
func simpleRecords(inst int, start time.Time, n, step int) []rec {
	out := make([]rec, n)
	for k := range out {
		out[k] = rec{inst: instID(inst), ts: float64(start.Unix()+int64(k*step)) + 0.125,
			vals: map[string]float64{"temp_outside": float64(k % 10), "humidity": 45, "power_current": 1.5}}
	}
	return out
}

type contribution struct {
	inst, daysAgo, records int
}

// poolLake lands and computes contributions measured daysAgo days before
// now's day, and returns a loaded view.
func poolLake(t *testing.T, now time.Time, cfg ViewConfig, contribs ...contribution) *View {
	t.Helper()
	b := openBucket(t, "mem://")
	today := now.UTC().Truncate(24 * time.Hour)
	for _, c := range contribs {
		day := today.AddDate(0, 0, -c.daysAgo)
		landBatch(t, b, aero, now.Add(-time.Hour), simpleRecords(c.inst, day.Add(time.Hour), c.records, 30)...)
	}
	compact(t, b, now)
	computeAll(t, newJob(t, b))
	v := newView(t, b, now, cfg, nil)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return v
}

// Every eligibility branch, with the texts collectors show.
func TestCheckEligibility(t *testing.T) {
	now := time.Date(2027, 1, 20, 10, 0, 0, 0, time.UTC)
	many := func(insts, records int) []contribution {
		var out []contribution
		for i := 1; i <= insts; i++ {
			out = append(out, contribution{inst: i, daysAgo: 1, records: records})
		}
		return out
	}
	cases := []struct {
		name     string
		contribs []contribution
		inst     int
		eligible bool
		en, de   []string
	}{
		{"pool short of installations", many(3, 1200), 1, false,
			[]string{"Community model not yet available", "3 of the 5 installations needed from the last 30 days"},
			[]string{"3 von 5 benötigten Installationen aus den letzten 30 Tagen"}},
		{"pool short of samples", many(6, 10), 1, false,
			[]string{"180 of the 10,000 field samples needed"},
			[]string{"180 von 10.000 benötigten Datenpunkten"}},
		{"pool short of both", many(2, 10), 1, false,
			[]string{"2 of the 5 installations and 60 of the 10,000 field samples"},
			[]string{"2 von 5 benötigten Installationen und 60 von 10.000 benötigten Datenpunkten"}},
		{"eligible", append(many(5, 700), contribution{inst: 7, daysAgo: 40, records: 10}), 1, true,
			[]string{"Eligible for community model."}, []string{"Berechtigt für Community-Modell."}},
		{"silent for more than 30 days", append(many(5, 700), contribution{inst: 7, daysAgo: 40, records: 10}), 7, false,
			[]string{"No data contribution from this installation in the last 30 days", "the last data is from 2026-12-11"},
			[]string{"Kein Datenbeitrag dieser Installation in den letzten 30 Tagen", "vom 2026-12-11"}},
		{"unknown installation", many(5, 700), 99, false,
			[]string{"No data contribution from this installation found in the last 30 days"},
			[]string{"Kein Datenbeitrag dieser Installation in den letzten 30 Tagen gefunden"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := poolLake(t, now, ViewConfig{}, c.contribs...)
			d := v.Check(strings.ToUpper(instID(c.inst)), aero)
			if d.Eligible != c.eligible {
				t.Fatalf("eligible %v, want %v: %s", d.Eligible, c.eligible, d.Reason)
			}
			for _, s := range c.en {
				if !strings.Contains(d.Reason, s) {
					t.Errorf("reason %q lacks %q", d.Reason, s)
				}
			}
			for _, s := range c.de {
				if !strings.Contains(d.ReasonDE, s) {
					t.Errorf("reason_de %q lacks %q", d.ReasonDE, s)
				}
			}
			if d.Pool.DataSufficient != (d.Pool.TotalInstallations >= 5 && d.Pool.TotalDataPoints >= 10_000) {
				t.Errorf("pool %+v", d.Pool)
			}
		})
	}
}

// Thresholds are settings; the silent installation is not in the pool.
func TestCheckConfigurable(t *testing.T) {
	now := time.Date(2027, 1, 20, 10, 0, 0, 0, time.UTC)
	v := poolLake(t, now, ViewConfig{MinInstallations: 2, MinDataPoints: 50},
		contribution{inst: 1, daysAgo: 0, records: 10}, contribution{inst: 2, daysAgo: 29, records: 10},
		contribution{inst: 3, daysAgo: 30, records: 10})
	p := v.Pool()
	if p.TotalInstallations != 2 || p.TotalDataPoints != 60 || !p.DataSufficient {
		t.Fatalf("pool %+v, want installations 1 and 2 with 60 samples", p)
	}
	for inst, want := range map[int]bool{1: true, 2: true, 3: false} {
		if d := v.Check(instID(inst), ""); d.Eligible != want {
			t.Errorf("installation %d: eligible %v (%s)", inst, d.Eligible, d.Reason)
		}
	}
	if _, err := NewView(nil, quiet, nil, ViewConfig{Days: 3}); err == nil {
		t.Error("accepted a 3-day window")
	}
}

func TestCheckBeforeLoad(t *testing.T) {
	v := newView(t, openBucket(t, "mem://"), viewAt, ViewConfig{}, nil)
	d := v.Check(instID(1), aero)
	if d.Eligible || !strings.Contains(d.Reason, "still loading") || v.Ready() {
		t.Fatalf("%+v", d)
	}
}

func TestGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -10000: "-10,000"} {
		if got := group(n, ","); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}
