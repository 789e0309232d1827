package stats

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

var (
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	// day0 is the first measurement day of the fixture; it spans day0 …
	// day0+7 and is received (landed) on day0+9.
	day0   = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	nDays  = 8
	recvT  = day0.AddDate(0, 0, 9).Add(2 * time.Hour)
	viewAt = day0.AddDate(0, 0, nDays).Add(3 * time.Hour) // today = day0+8, last complete day = day0+7
)

const (
	aero      = "AERO SLM 3-11" // 6 installations: published
	aeroStore = "AERO_SLM_3-11"
	terra     = "TERRA SW 6-17" // 3 installations: below the floor
	terraStor = "TERRA_SW_6-17"
	every     = 600 // seconds between records
)

func instID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// rec is one submitted record as a test sees it.
type rec struct {
	inst string
	ts   float64
	vals map[string]float64
}

// row is a record as the lake stores it, for brute-force figures.
type row struct {
	inst string
	us   int64
	vals map[string]float64
}

// fixture is what was landed, by storage model and UTC day.
type fixture map[string]map[time.Time][]row

func (f fixture) add(model string, recs []rec) {
	storage, _ := lake.ModelStorageName(model)
	if f[storage] == nil {
		f[storage] = map[time.Time][]row{}
	}
	for _, r := range recs {
		us := int64(math.Round(r.ts * 1e6))
		d := time.UnixMicro(us).UTC().Truncate(24 * time.Hour)
		f[storage][d] = append(f[storage][d], row{inst: r.inst, us: us, vals: r.vals})
	}
	for _, rows := range f[storage] {
		slices.SortFunc(rows, func(a, b row) int {
			if c := strings.Compare(a.inst, b.inst); c != 0 {
				return c
			}
			return int(a.us - b.us)
		})
	}
}

// rows returns a model's rows of the days in [from, to], in lake order
// per day.
func (f fixture) rows(storage string, from, to time.Time) []row {
	var out []row
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, f[storage][d]...)
	}
	return out
}

func randFor(i int) *rand.Rand { return rand.New(rand.NewPCG(uint64(i), 7)) }

func q8(x float64) float64  { return math.Round(x*8) / 8 }
func q64(x float64) float64 { return math.Round(x*64) / 64 }

// genRecords makes one installation's records of a day, every 10 minutes.
// Values are multiples of 1/8 or 1/64, so that sums are exact in any order.
func genRecords(r *rand.Rand, inst, day int, withHumidity, withPower bool) []rec {
	var out []rec
	base := day0.AddDate(0, 0, day)
	for k := range 86400 / every {
		ts := float64(base.Unix()+int64(k*every)) + 0.125
		hour := float64(k*every) / 3600
		v := map[string]float64{
			"temp_outside": q8(-12 + 3.5*float64(day) + 6*math.Sin(hour/24*2*math.Pi) + r.NormFloat64()),
		}
		if r.Float64() < 0.9 {
			v["temp_heat_pump_flow"] = q8(33 + float64(inst) + 2*r.NormFloat64())
		}
		if withPower {
			on := r.Float64() < 0.6
			if on {
				e := q64(0.8 + 2*r.Float64())
				v["power_current"] = e
				v["power_thermal"] = q64(e * (2.5 + 0.1*v["temp_outside"] + r.Float64()))
				v["state_compressor_1"] = 1
			} else {
				v["power_current"] = q64(0.01)
				v["power_thermal"] = 0
				v["state_compressor_1"] = 0
			}
		}
		if withHumidity {
			v["humidity"] = q8(40 + 10*r.Float64())
		}
		out = append(out, rec{inst: instID(inst), ts: ts, vals: v})
	}
	return out
}

// landBatch lands records of one installation received at recv.
func landBatch(t testing.TB, b *lake.Bucket, model string, recv time.Time, recs ...rec) {
	t.Helper()
	var data bytes.Buffer
	data.WriteByte('[')
	for i, r := range recs {
		if i > 0 {
			data.WriteString(",\n")
		}
		fmt.Fprintf(&data, `{"timestamp":%v`, r.ts)
		for _, k := range slices.Sorted(maps.Keys(r.vals)) {
			fmt.Fprintf(&data, `,"%s":%v`, k, r.vals[k])
		}
		data.WriteByte('}')
	}
	data.WriteByte(']')
	l, err := lake.NewLanding(b, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Land(context.Background(), &lake.Batch{
		RequestID: "req", ReceivedAt: recv, InstallationID: recs[0].inst, Model: model,
		Version: "1.0", Records: len(recs), Data: data.Bytes(),
	}); err != nil {
		t.Fatal(err)
	}
}

func compact(t testing.TB, b *lake.Bucket, now time.Time) {
	t.Helper()
	c, err := lake.NewCompactor(b, quiet, lake.CompactConfig{}, lake.WithCompactClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func openBucket(t testing.TB, url string) *lake.Bucket {
	t.Helper()
	b, err := lake.OpenBucket(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// buildLake lands and compacts the standard fixture: AERO SLM 3-11 with
// installations 1–6 (humidity from 1 and 2 only; power and compressor
// state, so a COP curve) and TERRA SW 6-17 with installations 7–9 (no
// power columns), every 10 minutes over nDays days.
func buildLake(t testing.TB, url string) (*lake.Bucket, fixture) {
	t.Helper()
	b := openBucket(t, url)
	f := fixture{}
	r := rand.New(rand.NewPCG(1, 2))
	for inst := 1; inst <= 9; inst++ {
		model := aero
		if inst > 6 {
			model = terra
		}
		var recs []rec
		for d := range nDays {
			recs = append(recs, genRecords(r, inst, d, inst <= 2, inst <= 6)...)
		}
		landBatch(t, b, model, recvT, recs...)
		f.add(model, recs)
	}
	compact(t, b, recvT.Add(time.Hour))
	return b, f
}

func newJob(t testing.TB, b *lake.Bucket) *Job {
	t.Helper()
	j, err := NewJob(b, quiet, JobConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func computeAll(t testing.TB, j *Job) []Result {
	t.Helper()
	res, err := j.ComputeRange(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// objects copies the objects under prefix, by key.
func objects(t testing.TB, b *lake.Bucket, prefix string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	err := b.List(ctx, prefix, func(a lake.Attributes) error {
		data, err := b.Get(ctx, a.Key)
		out[a.Key] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exact is the brute-force figure of a set of values.
type exact struct {
	count         int64
	sum, min, max float64
	sorted        []float64
}

func exactOf(vals []float64) exact {
	e := exact{count: int64(len(vals)), sorted: slices.Sorted(slices.Values(vals))}
	if len(vals) == 0 {
		return e
	}
	e.min, e.max = e.sorted[0], e.sorted[len(vals)-1]
	for _, v := range vals {
		e.sum += v
	}
	return e
}

// checkQuantile requires got to be within the sketch's relative accuracy
// of the exact order statistic at rank q·(n−1) (either neighbour when the
// rank falls between two).
func checkQuantile(t *testing.T, what string, q, got float64, sorted []float64) {
	t.Helper()
	rank := q * float64(len(sorted)-1)
	lo, hi := sorted[int(math.Floor(rank))], sorted[int(math.Ceil(rank))]
	tol := func(x float64) float64 { return RelativeAccuracy*math.Abs(x) + 1e-12 }
	if got < lo-tol(lo) || got > hi+tol(hi) {
		t.Errorf("%s p%v = %v, want within 1%% of [%v, %v]", what, q*100, got, lo, hi)
	}
}

func metricValues(rows []row, name string) []float64 {
	var out []float64
	for _, r := range rows {
		if v, ok := r.vals[name]; ok {
			out = append(out, v)
		}
	}
	return out
}
