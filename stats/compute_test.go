package stats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

func readDaily(t *testing.T, b *lake.Bucket, day time.Time, model string) *Daily {
	t.Helper()
	data, err := b.Get(context.Background(), lake.StatsDayKey(day, model))
	if err != nil {
		t.Fatal(err)
	}
	var d Daily
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func readInstallations(t *testing.T, b *lake.Bucket, day time.Time) *Installations {
	t.Helper()
	data, err := b.Get(context.Background(), lake.StatsInstallationsKey(day))
	if err != nil {
		t.Fatal(err)
	}
	var d Installations
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// copOf applies the curve's rules to a row, independently of the job.
func copOf(r row) (cop, outside float64, ok bool) {
	th, ok1 := r.vals["power_thermal"]
	e, ok2 := r.vals["power_current"]
	o, ok3 := r.vals["temp_outside"]
	if !ok1 || !ok2 || !ok3 || e <= 0.05 {
		return 0, 0, false
	}
	if s, ok := r.vals["state_compressor_1"]; ok && s <= 0 {
		return 0, 0, false
	}
	c := th / e
	return c, o, c > 0 && c <= 15
}

func bandLabel(o float64) string {
	switch {
	case o < -20:
		return "<-20"
	case o >= 20:
		return ">=20"
	}
	lo := -20 + 5*math.Floor((o+20)/5)
	return "[" + ftoa(lo) + "," + ftoa(lo+5) + ")"
}

func ftoa(x float64) string { b, _ := json.Marshal(x); return string(b) }

// The daily figures equal a brute-force computation over the same rows:
// counts, sums, means, minima and maxima exactly, quantiles within the
// sketch's relative accuracy; per-installation figures too.
func TestComputeMatchesBruteForce(t *testing.T) {
	b, f := buildLake(t, "mem://")
	res := computeAll(t, newJob(t, b))
	if len(res) != nDays {
		t.Fatalf("%d days computed, want %d: %+v", len(res), nDays, res)
	}
	for _, r := range res {
		if r.NothingToDo || r.Models != 2 || r.Scanned != 2 || r.Rows == 0 {
			t.Errorf("result %+v", r)
		}
	}
	for storage, byDay := range f {
		for day, rows := range byDay {
			d := readDaily(t, b, day, storage)
			insts := map[string]bool{}
			for _, r := range rows {
				insts[r.inst] = true
			}
			if d.Model != storage || d.Day != lake.Day(day) || d.Records != int64(len(rows)) || d.Installations != len(insts) {
				t.Fatalf("%s %s: header %+v, want %d rows of %d installations", storage, lake.Day(day), d, len(rows), len(insts))
			}
			if d.Published != (len(insts) >= DefaultK) || (d.Published == (d.Message != "")) {
				t.Errorf("%s: published %v, message %q", storage, d.Published, d.Message)
			}
			var samples int64
			names := map[string]bool{}
			for _, r := range rows {
				samples += int64(len(r.vals))
				for n := range r.vals {
					names[n] = true
				}
			}
			if d.FieldSamples != samples || len(d.Metrics) != len(names) {
				t.Errorf("%s: %d field samples over %d metrics, want %d over %d", storage, d.FieldSamples, len(d.Metrics), samples, len(names))
			}
			for name := range names {
				e := exactOf(metricValues(rows, name))
				m := d.Metrics[name]
				mi := map[string]bool{}
				for _, r := range rows {
					if _, ok := r.vals[name]; ok {
						mi[r.inst] = true
					}
				}
				if m == nil || m.Count != e.count || m.Sum != e.sum || m.Mean != e.sum/float64(e.count) ||
					m.Min != e.min || m.Max != e.max || m.Installations != len(mi) || m.Sketch == "" {
					t.Fatalf("%s %s %s = %+v, want %+v over %d installations", storage, d.Day, name, m, e, len(mi))
				}
				for _, q := range []struct {
					p float64
					v float64
				}{{0.05, m.P5}, {0.25, m.P25}, {0.5, m.P50}, {0.75, m.P75}, {0.95, m.P95}} {
					checkQuantile(t, storage+" "+name, q.p, q.v, e.sorted)
				}
			}
			checkCOP(t, storage, d, rows)
		}
	}
	// Per installation and day.
	for day := range f[aeroStore] {
		doc := readInstallations(t, b, day)
		if len(doc.ComputedFrom) != 2 || len(doc.Models) != 2 {
			t.Fatalf("installations %s: %d sources, %d models", doc.Day, len(doc.ComputedFrom), len(doc.Models))
		}
		for storage := range f {
			byInst := map[string][]row{}
			for _, r := range f[storage][day] {
				byInst[r.inst] = append(byInst[r.inst], r)
			}
			if len(doc.Models[storage]) != len(byInst) {
				t.Fatalf("%s %s: %d installations, want %d", storage, doc.Day, len(doc.Models[storage]), len(byInst))
			}
			for id, rows := range byInst {
				got := doc.Models[storage][id]
				if got == nil || got.Records != int64(len(rows)) ||
					!got.FirstSeen.Equal(time.UnixMicro(rows[0].us)) || !got.LastSeen.Equal(time.UnixMicro(rows[len(rows)-1].us)) {
					t.Fatalf("%s %s: %+v", storage, id, got)
				}
				for name, im := range got.Metrics {
					e := exactOf(metricValues(rows, name))
					if im.Count != e.count || im.Mean != e.sum/float64(e.count) {
						t.Errorf("%s %s %s = %+v, want count %d mean %v", storage, id, name, im, e.count, e.sum/float64(e.count))
					}
				}
			}
		}
	}
}

func checkCOP(t *testing.T, storage string, d *Daily, rows []row) {
	t.Helper()
	type acc struct {
		vals   []float64
		th, el float64
		insts  map[string]bool
	}
	want := map[string]*acc{}
	for _, r := range rows {
		c, o, ok := copOf(r)
		if !ok {
			continue
		}
		l := bandLabel(o)
		if want[l] == nil {
			want[l] = &acc{insts: map[string]bool{}}
		}
		want[l].vals = append(want[l].vals, c)
		want[l].th += r.vals["power_thermal"]
		want[l].el += r.vals["power_current"]
		want[l].insts[r.inst] = true
	}
	if len(want) == 0 {
		if d.COP != nil {
			t.Errorf("%s %s: a COP curve without the columns", storage, d.Day)
		}
		return
	}
	if d.COP == nil || d.COP.Compressor != "state_compressor_1" || len(d.COP.Bands) != len(want) {
		t.Fatalf("%s %s: COP %+v, want %d bands", storage, d.Day, d.COP, len(want))
	}
	for _, b := range d.COP.Bands {
		w := want[b.Band]
		if w == nil {
			t.Fatalf("unexpected band %s", b.Band)
		}
		e := exactOf(w.vals)
		if b.Count != e.count || math.Abs(b.Sum-e.sum) > 1e-9*e.sum || b.Installations != len(w.insts) ||
			math.Abs(b.EnergyWeighted-w.th/w.el) > 1e-12 || b.Sketch == "" {
			t.Errorf("band %s = %+v, want %d values summing to %v", b.Band, b, e.count, e.sum)
		}
		checkQuantile(t, "cop "+b.Band, 0.5, b.P50, e.sorted)
	}
}

// Incremental and convergent: a rerun with nothing new is nothing to do
// and leaves identical bytes; a late record that changes an old partition
// makes Changed report that day, and recomputing it reads only that
// partition and updates the figures; recomputing from nothing gives the
// same bytes.
func TestIncremental(t *testing.T) {
	for name, url := range map[string]string{"mem": "mem://", "file": "file://" + t.TempDir()} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b, f := buildLake(t, url)
			j := newJob(t, b)
			computeAll(t, j)
			first := objects(t, b, "_stats/")
			if len(first) != nDays*3 {
				t.Fatalf("%d stats objects, want %d", len(first), nDays*3)
			}
			changed, err := j.Changed(ctx, time.Time{}, time.Time{})
			if err != nil || len(changed) != 0 {
				t.Fatalf("changed %v %v, want none", changed, err)
			}
			for _, r := range computeAll(t, j) {
				if !r.NothingToDo || r.Scanned != 0 {
					t.Errorf("rerun did %+v", r)
				}
			}
			res, err := j.Compute(ctx, day0.AddDate(0, 0, 3).Add(5*time.Hour))
			if err != nil || !res.NothingToDo || !res.Day.Equal(day0.AddDate(0, 0, 3)) {
				t.Fatalf("compute one day: %+v %v", res, err)
			}
			if again := objects(t, b, "_stats/"); !maps.EqualFunc(first, again, bytes.Equal) {
				t.Fatal("a rerun changed the statistics")
			}

			// A record three days late, for a new hour of day 2, from
			// installation 3; TERRA's partition does not change.
			late := day0.AddDate(0, 0, 2)
			lateRec := rec{inst: instID(3), ts: float64(late.Unix()+7*3600+1) + 0.125, vals: map[string]float64{"temp_outside": 99.5}}
			landBatch(t, b, aero, recvT.Add(24*time.Hour), lateRec)
			compact(t, b, recvT.Add(25*time.Hour))
			f.add(aero, []rec{lateRec})
			changed, err = j.Changed(ctx, time.Time{}, time.Time{})
			if err != nil || len(changed) != 1 || !changed[0].Equal(late) {
				t.Fatalf("changed %v %v, want [%s]", changed, err, lake.Day(late))
			}
			if within, _ := j.Changed(ctx, late.AddDate(0, 0, 1), time.Time{}); len(within) != 0 {
				t.Fatalf("changed after the late day: %v", within)
			}
			res, err = j.Compute(ctx, late)
			if err != nil || res.NothingToDo || res.Scanned != 1 || res.Reused != 1 {
				t.Fatalf("recompute: %+v %v, want 1 partition read and 1 reused", res, err)
			}
			d := readDaily(t, b, late, aeroStore)
			e := exactOf(metricValues(f[aeroStore][late], "temp_outside"))
			if d.Metrics["temp_outside"].Max != 99.5 || d.Metrics["temp_outside"].Count != e.count || d.Metrics["temp_outside"].Sum != e.sum {
				t.Errorf("late record not in the statistics: %+v", d.Metrics["temp_outside"])
			}
			if changed, _ := j.Changed(ctx, time.Time{}, time.Time{}); len(changed) != 0 {
				t.Fatalf("still changed after recompute: %v", changed)
			}
			after := objects(t, b, "_stats/")
			for key := range first {
				same := bytes.Equal(first[key], after[key])
				touched := strings.Contains(key, lake.Day(late)) && !strings.Contains(key, terraStor)
				if same == touched {
					t.Errorf("%s: changed %v, want %v", key, !same, touched)
				}
			}

			// From nothing: the same bytes.
			for key := range after {
				if err := b.Delete(ctx, key); err != nil {
					t.Fatal(err)
				}
			}
			computeAll(t, j)
			if fresh := objects(t, b, "_stats/"); !maps.EqualFunc(after, fresh, bytes.Equal) {
				t.Fatal("recomputing from nothing gave different bytes")
			}
		})
	}
}

// A run that fails at its Nth write, run again without faults, ends in the
// state of an uninterrupted run; until then Changed reports the day.
func TestComputeCrashConverges(t *testing.T) {
	ctx := context.Background()
	var failAt, writes atomic.Int64
	errCrash := errors.New("injected crash")
	b, err := lake.OpenBucket(ctx, "mem://", lake.WithFault(func(op lake.Op, key string) error {
		if op == lake.OpWrite && strings.HasPrefix(key, "_stats/") && writes.Add(1) == failAt.Load() {
			return errCrash
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	smallLake(t, b)
	j := newJob(t, b)
	if _, err := j.Compute(ctx, day0); err != nil {
		t.Fatal(err)
	}
	clean := objects(t, b, "_stats/")
	for n := int64(1); n <= 3; n++ {
		for key := range clean {
			_ = b.Delete(ctx, key)
		}
		writes.Store(0)
		failAt.Store(n)
		if _, err := j.Compute(ctx, day0); !errors.Is(err, errCrash) {
			t.Fatalf("write %d: err %v, want the injected crash", n, err)
		}
		failAt.Store(0)
		if changed, err := j.Changed(ctx, time.Time{}, time.Time{}); err != nil || len(changed) != 1 {
			t.Fatalf("write %d: changed %v %v, want the day", n, changed, err)
		}
		if _, err := j.Compute(ctx, day0); err != nil {
			t.Fatal(err)
		}
		if got := objects(t, b, "_stats/"); !maps.EqualFunc(clean, got, bytes.Equal) {
			t.Fatalf("write %d: rerun differs from a clean run: %v vs %v", n, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(clean)))
		}
	}
}

// smallLake lands 20 records of day0 for two installations of each model.
func smallLake(t *testing.T, b *lake.Bucket) {
	t.Helper()
	for inst := 1; inst <= 2; inst++ {
		landBatch(t, b, aero, recvT, genRecords(randFor(inst), inst, 0, false, true)[:20]...)
		landBatch(t, b, terra, recvT, genRecords(randFor(inst+10), inst+10, 0, false, false)[:20]...)
	}
	compact(t, b, recvT.Add(time.Hour))
}

// A configuration change makes every day changed, and the recompute
// reuses nothing computed under the old configuration.
func TestConfigChangeRecomputes(t *testing.T) {
	ctx := context.Background()
	b := openBucket(t, "mem://")
	smallLake(t, b)
	old := newJob(t, b)
	if _, err := old.Compute(ctx, day0); err != nil {
		t.Fatal(err)
	}
	wide, err := NewJob(b, quiet, JobConfig{COP: COPConfig{BandFrom: -30, BandTo: 30, BandWidth: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := wide.Changed(ctx, time.Time{}, time.Time{}); err != nil || len(changed) != 1 {
		t.Fatalf("changed %v %v, want day0", changed, err)
	}
	res, err := wide.Compute(ctx, day0)
	if err != nil || res.Scanned != 2 || res.Reused != 0 {
		t.Fatalf("%+v %v, want both partitions read", res, err)
	}
	for _, b := range readDaily(t, b, day0, aeroStore).COP.Bands {
		if !strings.HasPrefix(b.Band, "[-10,0)") && !strings.HasPrefix(b.Band, "[0,10)") && !strings.HasPrefix(b.Band, "[-20,-10)") {
			t.Errorf("band %s is not of the new layout", b.Band)
		}
	}
	for _, in := range readInstallations(t, b, day0).Models[aeroStore] {
		for _, band := range in.COPBands {
			if !strings.HasSuffix(band, "0)") {
				t.Errorf("installation band %s is not of the new layout", band)
			}
		}
	}
	if changed, _ := old.Changed(ctx, time.Time{}, time.Time{}); len(changed) != 1 {
		t.Fatalf("the old configuration sees %v, want day0 changed", changed)
	}
}

// A day with no partitions and no statistics is nothing to do.
func TestComputeEmptyDay(t *testing.T) {
	b := openBucket(t, "mem://")
	res, err := newJob(t, b).Compute(context.Background(), day0)
	if err != nil || !res.NothingToDo {
		t.Fatalf("%+v %v", res, err)
	}
	if got := objects(t, b, ""); len(got) != 0 {
		t.Fatalf("wrote %v", slices.Collect(maps.Keys(got)))
	}
}

func TestJobConfig(t *testing.T) {
	b := openBucket(t, "mem://")
	for _, c := range []COPConfig{
		{BandFrom: 10, BandTo: 0},
		{BandWidth: 7},
		{MaxCOP: -1},
		{MinElectric: -1},
	} {
		if _, err := NewJob(b, quiet, JobConfig{COP: c}); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	if _, err := NewJob(b, quiet, JobConfig{COP: COPConfig{Disabled: true, BandWidth: 7}}); err != nil {
		t.Errorf("disabled curve: %v", err)
	}
}
