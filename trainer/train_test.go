package trainer

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/ingest"
	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// simulatedLake lands days of simulated records of installations of the
// given models (count per model) and compacts them into a lake.
func simulatedLake(t testing.TB, b *lake.Bucket, start time.Time, days int, fleet map[string]int) {
	t.Helper()
	ctx := context.Background()
	landing, err := lake.NewLanding(b, quiet)
	if err != nil {
		t.Fatal(err)
	}
	dec := ingest.NewDecoder(ingest.DefaultLimits)
	seed := uint64(1)
	for _, name := range slices.Sorted(maps.Keys(fleet)) {
		for range fleet[name] {
			seed++
			inst, err := simulate.NewInstallation(seed, name)
			if err != nil {
				t.Fatal(err)
			}
			g, err := simulate.NewGenerator(inst, simulate.Config{Start: start, Interval: 5 * time.Minute, FaultRate: 1})
			if err != nil {
				t.Fatal(err)
			}
			var recs []simulate.Record
			for d := 1; d <= days; d++ {
				recs = g.Generate(recs[:0], start.AddDate(0, 0, d))
				recv := start.AddDate(0, 0, d).Add(2 * time.Hour)
				sub, err := dec.Decode(simulate.AppendBatchJSON(nil, inst, "1.0", recs), recv, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, err = landing.Land(ctx, &lake.Batch{
					RequestID: "req", ReceivedAt: recv, InstallationID: sub.InstallationID,
					Model: sub.Model, Version: sub.Version, Records: sub.Records, Data: sub.Data,
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	c, err := lake.NewCompactor(b, quiet, lake.CompactConfig{}, lake.WithCompactClock(func() time.Time { return start.AddDate(0, 0, days+1) }))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Compact(ctx)
	if err != nil || res.Quarantined > 0 || res.Records == 0 {
		t.Fatalf("compact: %+v %v", res, err)
	}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.SampleRows = 2048
	cfg.Forest = iforest.Config{Trees: 20, Seed: 7}
	return cfg
}

// The fallback from model to family to community, the candidates' content,
// and that the same lake gives the same bytes.
func TestTrainFallbackAndDeterminism(t *testing.T) {
	ctx := context.Background()
	start := simulate.DefaultStart
	b, err := lake.OpenBucket(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	simulatedLake(t, b, start, 2, map[string]int{
		"AERO SLM 3-11": 5,                     // its own model
		"TERRA SW 6-17": 2, "TERRA SW 3-13": 3, // the TERRA_SW family
		"iPUMP A3-11": 1, // only the community model
	})
	day := start.AddDate(0, 0, 1) // the second (last) day: both days are in the window
	tr, err := New(b, quiet, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Train(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Trained{}
	for _, m := range res.Models {
		got[m.Name] = m
	}
	want := map[string]struct {
		level string
		inst  int
	}{"AERO_SLM_3-11": {LevelModel, 5}, "TERRA_SW": {LevelFamily, 5}, lake.CommunityModel: {LevelCommunity, 11}}
	if len(got) != len(want) {
		t.Fatalf("trained %v, want %v; result %+v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)), res)
	}
	for name, w := range want {
		m, ok := got[name]
		if !ok || m.Level != w.level || m.Installations != w.inst {
			t.Errorf("%s: got %+v, want level %s with %d installations", name, m, w.level, w.inst)
		}
	}
	for _, name := range []string{"TERRA_SW_6-17", "TERRA_SW_3-13", "iPUMP_A3-11", "iPUMP"} {
		if _, ok := res.Skipped[name]; !ok {
			t.Errorf("%s: no reason given for having no model (skipped %v)", name, res.Skipped)
		}
	}
	if res.Rows != int64(11*2*288) {
		t.Errorf("streamed %d rows, want %d", res.Rows, 11*2*288)
	}

	first := map[string][]byte{}
	for name, m := range got {
		raw, err := b.Get(ctx, lake.CandidateKey(day, name))
		if err != nil {
			t.Fatal(err)
		}
		first[name] = raw
		doc, err := model.Unmarshal(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		md := doc.Metadata
		if md.HeatpumpModel != name || md.Installations != int64(m.Installations) || md.Rows != int64(m.Sampled) ||
			!md.WindowFrom.Equal(day.AddDate(0, 0, -29)) || !md.CreatedAt.Equal(day.AddDate(0, 0, 1)) {
			t.Errorf("%s: metadata %+v", name, md)
		}
		if len(doc.Features) != m.Features || len(doc.Features) < 3 {
			t.Errorf("%s: %d features", name, len(doc.Features))
		}
		for _, f := range doc.Features {
			if f.Field == "energy_heat_total" && f.Kind == model.KindRaw {
				t.Errorf("%s: the monotone counter energy_heat_total is a raw feature", name)
			}
		}
	}

	// A rerun, by another Trainer, writes the same bytes.
	tr2, _ := New(b, quiet, testConfig())
	if _, err := tr2.Train(ctx, day); err != nil {
		t.Fatal(err)
	}
	for name, raw := range first {
		again, err := b.Get(ctx, lake.CandidateKey(day, name))
		if err != nil || !bytes.Equal(again, raw) {
			t.Errorf("%s: rerun wrote different bytes (%v)", name, err)
		}
	}
}

// The default is the Extended Isolation Forest, and an extension level
// beyond a model's features is capped at the features minus one.
func TestTrainExtensionLevel(t *testing.T) {
	if got := DefaultConfig().Forest.ExtensionLevel; got != DefaultExtensionLevel || got < 1 {
		t.Fatalf("default extension level %d", got)
	}
	ctx := context.Background()
	start := simulate.DefaultStart
	b, err := lake.OpenBucket(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	simulatedLake(t, b, start, 1, map[string]int{"AERO SLM 3-11": 5})
	for _, level := range []int{DefaultExtensionLevel, 1000} {
		cfg := testConfig()
		cfg.Forest.ExtensionLevel = level
		tr, err := New(b, quiet, cfg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.Train(ctx, start)
		if err != nil || len(res.Models) == 0 {
			t.Fatalf("level %d: %+v, %v", level, res, err)
		}
		for _, m := range res.Models {
			raw, err := b.Get(ctx, lake.CandidateKey(start, m.Name))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := model.Unmarshal(raw)
			if err != nil {
				t.Fatal(err)
			}
			want := min(level, len(doc.Features)-1) + 1
			if doc.Forest.Split != model.SplitHyperplane || doc.Forest.Terms != want {
				t.Errorf("level %d, %s: split %s with %d terms, want hyperplanes with %d", level, m.Name,
					doc.Forest.Split, doc.Forest.Terms, want)
			}
		}
	}
}

func TestTrainNothingToDo(t *testing.T) {
	b, err := lake.OpenBucket(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(b, quiet, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Train(context.Background(), simulate.DefaultStart)
	if err != nil || res.Partitions != 0 || len(res.Models) != 0 {
		t.Fatalf("empty lake: %+v %v", res, err)
	}
}

func TestTrainConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"window":  {Window: 0, MinInstallations: 5, SampleRows: 1000},
		"min":     {Window: 30, MinInstallations: 0, SampleRows: 1000},
		"reservo": {Window: 30, MinInstallations: 5, SampleRows: 100},
	} {
		if _, err := New(nil, quiet, cfg); err == nil {
			t.Errorf("%s: accepted %+v", name, cfg)
		}
	}
}
