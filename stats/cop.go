package stats

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// COPConfig says which columns give the efficiency curve and how it is
// banded. These names are the one place where this package knows a metric
// by name: the curve needs a meaning, every other statistic is computed
// for whatever columns a partition has. A model whose partitions lack one
// of Thermal, Electric or Outside simply has no curve.
type COPConfig struct {
	// Disabled turns the curve off.
	Disabled bool
	// Thermal and Electric are the thermal output and the electrical
	// input power, in the same unit (default "power_thermal" and
	// "power_current", kW in the IDM Navigator map).
	Thermal, Electric string
	// Outside is the outdoor temperature in °C (default "temp_outside").
	Outside string
	// Compressor is a state column that is > 0 while the compressor runs
	// (default "state_compressor_1"). Rows where it is 0 are left out;
	// when the column is absent or null, MinElectric alone decides.
	Compressor string
	// MinElectric is the electrical power below which the compressor is
	// taken to be off (default 0.05, i.e. 50 W in kW).
	MinElectric float64
	// MaxCOP drops physically impossible ratios (default 15): a heat meter
	// and an electricity meter sampled a few seconds apart can give wild
	// ratios at start-up. COPs ≤ 0 (defrosting) are dropped too.
	MaxCOP float64
	// BandFrom, BandTo and BandWidth cut the outdoor temperature into bands
	// [BandFrom, BandFrom+BandWidth), …, [BandTo−BandWidth, BandTo), plus one
	// open band below BandFrom and one at or above BandTo (defaults −20,
	// 20 and 5 K: ten bands).
	BandFrom, BandTo, BandWidth float64
}

func (c *COPConfig) defaults() {
	if c.Thermal == "" {
		c.Thermal = "power_thermal"
	}
	if c.Electric == "" {
		c.Electric = "power_current"
	}
	if c.Outside == "" {
		c.Outside = "temp_outside"
	}
	if c.Compressor == "" {
		c.Compressor = "state_compressor_1"
	}
	if c.MinElectric == 0 {
		c.MinElectric = 0.05
	}
	if c.MaxCOP == 0 {
		c.MaxCOP = 15
	}
	if c.BandFrom == 0 && c.BandTo == 0 {
		c.BandFrom, c.BandTo = -20, 20
	}
	if c.BandWidth == 0 {
		c.BandWidth = 5
	}
}

func (c *COPConfig) validate() error {
	if c.Disabled {
		return nil
	}
	n := (c.BandTo - c.BandFrom) / c.BandWidth
	switch {
	case c.MinElectric < 0:
		return errors.New("cop: min electric power must not be negative")
	case c.MaxCOP <= 0:
		return errors.New("cop: max COP must be positive")
	case c.BandWidth <= 0 || c.BandTo <= c.BandFrom:
		return fmt.Errorf("cop: bands [%v, %v) by %v: want from < to and a positive width", c.BandFrom, c.BandTo, c.BandWidth)
	case n > 200 || math.Abs(n-math.Round(n)) > 1e-9:
		return fmt.Errorf("cop: bands [%v, %v) by %v: want a whole number of bands, at most 200", c.BandFrom, c.BandTo, c.BandWidth)
	}
	return nil
}

// bands returns the band layout: edges and labels.
func (c *COPConfig) bands() []*Band {
	n := int(math.Round((c.BandTo - c.BandFrom) / c.BandWidth))
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	out := make([]*Band, 0, n+2)
	lo := c.BandFrom
	out = append(out, &Band{Band: "<" + f(lo), To: &lo})
	for i := range n {
		from, to := c.BandFrom+float64(i)*c.BandWidth, c.BandFrom+float64(i+1)*c.BandWidth
		out = append(out, &Band{Band: "[" + f(from) + "," + f(to) + ")", From: &from, To: &to})
	}
	hi := c.BandTo
	out = append(out, &Band{Band: ">=" + f(hi), From: &hi})
	return out
}

// bandIndex is the band of an outdoor temperature.
func (c *COPConfig) bandIndex(t float64, nBands int) int {
	if t < c.BandFrom {
		return 0
	}
	if t >= c.BandTo {
		return nBands - 1
	}
	i := 1 + int(math.Floor((t-c.BandFrom)/c.BandWidth))
	return min(max(i, 1), nBands-2)
}

// copAcc accumulates the curve of one partition.
type copAcc struct {
	cfg                              *COPConfig
	thermal, electric, outside, comp int // column indexes; comp is -1 when absent
	bands                            []*Band
	sketches                         []*ddsketch.DDSketch
}

// newCOPAcc returns nil when the partition lacks a needed column.
func newCOPAcc(cfg *COPConfig, metrics []string) *copAcc {
	if cfg.Disabled {
		return nil
	}
	idx := func(name string) int {
		i, ok := slices.BinarySearch(metrics, name)
		if !ok {
			return -1
		}
		return i
	}
	a := &copAcc{cfg: cfg, thermal: idx(cfg.Thermal), electric: idx(cfg.Electric), outside: idx(cfg.Outside), comp: idx(cfg.Compressor)}
	if a.thermal < 0 || a.electric < 0 || a.outside < 0 {
		return nil
	}
	a.bands = cfg.bands()
	a.sketches = make([]*ddsketch.DDSketch, len(a.bands))
	return a
}

// add takes the rows of one batch; rowInst gives each row's installation.
func (a *copAcc) add(values []*array.Float64, rows int, rowInst []*instAcc) {
	th, el, out := values[a.thermal], values[a.electric], values[a.outside]
	var comp *array.Float64
	if a.comp >= 0 {
		comp = values[a.comp]
	}
	for i := range rows {
		if th.IsNull(i) || el.IsNull(i) || out.IsNull(i) {
			continue
		}
		t, e, o := th.Value(i), el.Value(i), out.Value(i)
		if !usable(t) || !usable(e) || !usable(o) || e <= a.cfg.MinElectric {
			continue
		}
		if comp != nil && !comp.IsNull(i) && comp.Value(i) <= 0 {
			continue
		}
		cop := t / e
		if !(cop > 0 && cop <= a.cfg.MaxCOP) {
			continue
		}
		b := a.cfg.bandIndex(o, len(a.bands))
		band := a.bands[b]
		band.Count++
		band.Sum += cop
		band.ThermalSum += t
		band.ElectricSum += e
		if a.sketches[b] == nil {
			a.sketches[b] = newSketch()
		}
		_ = a.sketches[b].Add(cop) // cop is in (0, MaxCOP]: always indexable
		in := rowInst[i]
		if in.bands == nil {
			in.bands = make([]bool, len(a.bands))
		}
		if !in.bands[b] {
			in.bands[b] = true
			band.Installations++
		}
	}
}

// curve finishes the accumulation; nil when no row qualified.
func (a *copAcc) curve(hasComp bool) *COPCurve {
	if a == nil {
		return nil
	}
	c := &COPCurve{Thermal: a.cfg.Thermal, Electric: a.cfg.Electric, Outside: a.cfg.Outside,
		MinElectric: a.cfg.MinElectric, MaxCOP: a.cfg.MaxCOP}
	if hasComp {
		c.Compressor = a.cfg.Compressor
	}
	for i, b := range a.bands {
		if b.Count == 0 {
			continue
		}
		b.Mean = b.Sum / float64(b.Count)
		b.EnergyWeighted = b.ThermalSum / b.ElectricSum
		b.Quantiles = quantilesOf(a.sketches[i], 0, a.cfg.MaxCOP)
		b.Sketch = encodeSketch(a.sketches[i])
		c.Bands = append(c.Bands, b)
	}
	if len(c.Bands) == 0 {
		return nil
	}
	return c
}

// usable says whether a value may enter the statistics.
func usable(v float64) bool { return !math.IsNaN(v) && math.Abs(v) <= MaxAbsValue }
