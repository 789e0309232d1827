package lake

import (
	"context"
	"testing"
	"time"
)

func TestListAndScanPartitions(t *testing.T) {
	ctx := context.Background()
	b, err := OpenBucket(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	landBatch(t, b, "AERO SLM 3-11", t0,
		r(2, 30, map[string]float64{"temp_outside": 2}),
		r(2, 0, map[string]float64{"temp_outside": 1, "power_current": 3}),
		r(2, 86400, map[string]float64{"temp_outside": 4}))
	landBatch(t, b, "TERRA SW 6-17", t0, r(1, 60, map[string]float64{"humidity": 40}))
	// Not a partition file: ignored.
	if err := b.Put(ctx, TelemetryPrefix+"heatpump_model=X/notes.txt", []byte("x"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	compact(t, b, t0.Add(time.Hour))

	all, err := ListPartitions(ctx, b, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	day0 := time.Unix(dayBase, 0).UTC()
	want := []Partition{
		{Model: "AERO_SLM_3-11", Day: day0}, {Model: "AERO_SLM_3-11", Day: day0.AddDate(0, 0, 1)}, {Model: "TERRA_SW_6-17", Day: day0},
	}
	if len(all) != len(want) {
		t.Fatalf("partitions %+v, want %+v", all, want)
	}
	for i, p := range all {
		if p.Model != want[i].Model || !p.Day.Equal(want[i].Day) || p.Key != PartitionFile(p.Model, p.Day) || p.Size == 0 {
			t.Errorf("partition %d = %+v, want %+v", i, p, want[i])
		}
	}
	one, err := ListPartitions(ctx, b, day0.Add(time.Hour), day0.Add(2*time.Hour))
	if err != nil || len(one) != 2 {
		t.Fatalf("one day: %+v %v", one, err)
	}

	counts, err := Installations(ctx, b, all[0].Key)
	if err != nil || len(counts) != 1 || counts[instID(2)] != 2 {
		t.Fatalf("installations %v %v", counts, err)
	}

	var rows []float64
	err = Scan(ctx, b, all[0].Key, func(c *Columns) error {
		if len(c.Metrics) != 2 || c.Metrics[0] != "power_current" || c.Metrics[1] != "temp_outside" {
			t.Errorf("metrics %v", c.Metrics)
		}
		for i := range c.Rows {
			if c.Installation.Value(i) != instID(2) {
				t.Errorf("installation %q", c.Installation.Value(i))
			}
			rows = append(rows, float64(c.Timestamp.Value(i)), c.Values[1].Value(i))
		}
		if !c.Values[0].IsNull(1) || c.Values[0].Value(0) != 3 {
			t.Errorf("power_current: null handling wrong")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	us := func(sec int64) float64 { return float64((dayBase+sec)*1e6 + 125000) }
	if len(rows) != 4 || rows[0] != us(0) || rows[1] != 1 || rows[2] != us(30) || rows[3] != 2 {
		t.Errorf("rows %v", rows)
	}
}

func TestParseDay(t *testing.T) {
	d, err := ParseDay("2026-11-28")
	if err != nil || Day(d) != "2026-11-28" {
		t.Fatalf("%v %v", d, err)
	}
	if _, err := ParseDay("28.11.2026"); err == nil {
		t.Fatal("accepted a bad day")
	}
}

// A partition of several write batches (more than batchRows rows) reads
// back value for value: the writer's staging buffers are reused between
// batches, so a writer that kept referring to them would show here.
func TestLargePartitionRoundTrip(t *testing.T) {
	b, err := OpenBucket(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	const per = 3 * batchRows / 2
	for inst := 1; inst <= 2; inst++ {
		recs := make([]rec, 0, per)
		for i := range per {
			vals := map[string]float64{"v": float64(inst*1_000_000 + i)}
			if i%3 == 0 {
				vals["w"] = float64(-i)
			}
			recs = append(recs, r(inst, int64(i), vals))
		}
		landBatch(t, b, "AERO SLM 3-11", t0, recs...)
	}
	compact(t, b, t0.Add(time.Hour))
	got := readLake(t, b)
	if len(got) != 2*per {
		t.Fatalf("%d rows, want %d", len(got), 2*per)
	}
	for k, row := range got {
		i := int(k.ts/1e6 - dayBase)
		inst := 1
		if k.inst == instID(2) {
			inst = 2
		}
		w, hasW := row.vals["w"]
		if row.vals["v"] != float64(inst*1_000_000+i) || hasW != (i%3 == 0) || (hasW && w != float64(-i)) {
			t.Fatalf("row %v: %v", k, row.vals)
		}
	}
}
