package trainer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/ingest"
	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// TestTrainSurvivesAbsurdValues lands, beside a healthy fleet, one
// installation whose collector sends values ingest accepts but no sensor
// reads (±1e308, 30-digit numbers, denormals), and checks that the model
// still trains into a valid document that scores a normal row. Before the
// guards, the envelope's range overflowed and the training job failed
// every night for the whole heat-pump model.
func TestTrainSurvivesAbsurdValues(t *testing.T) {
	ctx := context.Background()
	start := simulate.DefaultStart
	for name, record := range map[string]func(i int, ts int64) string{
		"huge": func(i int, ts int64) string {
			v := []string{"1e308", "-1e308", "1.7976931348623157e308"}[i%3]
			return fmt.Sprintf(`{"timestamp":%d,"temp_outside":%s,"power_current":%s,"temp_heat_pump_flow":%s}`, ts, v, v, v)
		},
		"mixed": func(i int, ts int64) string {
			v := []string{"1e308", "1", "123456789012345678901234567890", "-1e300", "5e-324"}[i%5]
			return fmt.Sprintf(`{"timestamp":%d,"temp_outside":%s,"power_current":%s,"temp_heat_pump_flow":%s}`, ts, v, v, v)
		},
		"overflowing sums": func(_ int, ts int64) string {
			return fmt.Sprintf(`{"timestamp":%d,"power_thermal":1.7e308,"power_current":0.5,"temp_heat_pump_flow":1.7e308,"temp_heat_pump_return":-1.7e308}`, ts)
		},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := lake.OpenBucket(ctx, "mem://")
			if err != nil {
				t.Fatal(err)
			}
			simulatedLake(t, b, start, 2, map[string]int{"AERO SLM 3-11": 5})
			recs := make([]string, 500)
			for i := range recs {
				recs[i] = record(i, start.Add(time.Duration(i)*5*time.Minute).Unix())
			}
			body := `{"installation_id":"11111111-2222-4333-8444-555555555555","heatpump_model":"AERO SLM 3-11","version":"x","data":[` +
				strings.Join(recs, ",") + `]}`
			recv := start.AddDate(0, 0, 2).Add(3 * time.Hour)
			sub, err := ingest.NewDecoder(ingest.DefaultLimits).Decode([]byte(body), recv, nil)
			if err != nil || sub.Records != len(recs) {
				t.Fatalf("ingest: %v", err)
			}
			landing, err := lake.NewLanding(b, quiet)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := landing.Land(ctx, &lake.Batch{RequestID: "r", ReceivedAt: recv, InstallationID: sub.InstallationID,
				Model: sub.Model, Version: sub.Version, Records: sub.Records, Data: sub.Data}); err != nil {
				t.Fatal(err)
			}
			c, err := lake.NewCompactor(b, quiet, lake.CompactConfig{}, lake.WithCompactClock(func() time.Time { return start.AddDate(0, 0, 4) }))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			day := start.AddDate(0, 0, 1)
			tr, err := New(b, quiet, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			res, err := tr.Train(ctx, day)
			if err != nil || len(res.Models) != 2 {
				t.Fatalf("train: %+v %v", res, err)
			}
			for _, m := range res.Models {
				raw, err := b.Get(ctx, lake.CandidateKey(day, m.Name))
				if err != nil {
					t.Fatal(err)
				}
				doc, err := model.Unmarshal(raw)
				if err != nil {
					t.Fatalf("%s: %v", m.Name, err)
				}
				if s := doc.Score(map[string]float64{"temp_outside": 5, "power_current": 1}); !(s > 0 && s < 1) {
					t.Errorf("%s: score %v", m.Name, s)
				}
			}
		})
	}
}
