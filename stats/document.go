package stats

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// Format is the version of the documents this package writes; readers
// ignore documents of another version (and a job recomputes them).
const Format = 1

// metaDigest is the object metadata key holding a document's source
// digest, so that a stat (not a read) tells whether it is current.
const metaDigest = "source-digest"

// Source identifies one lake partition file as a listing sees it. A
// partition file is replaced whole by compaction, so a different size or
// modification time means different content.
type Source struct {
	Key     string    `json:"key"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

func sourceOf(p lake.Partition) Source {
	return Source{Key: p.Key, Size: p.Size, ModTime: p.ModTime.UTC()}
}

// Daily is the document at lake.StatsDayKey(day, model): the statistics of
// one heat-pump model (storage name) over the records measured on one UTC
// day. See doc.go for the format.
type Daily struct {
	Format        int                `json:"format"`
	Model         string             `json:"model"`
	Day           string             `json:"day"`
	ComputedFrom  Source             `json:"computed_from"`
	Installations int                `json:"installations"`
	Records       int64              `json:"records"`
	FieldSamples  int64              `json:"field_samples"`
	Published     bool               `json:"published"`
	Message       string             `json:"message,omitempty"`
	Metrics       map[string]*Metric `json:"metrics"`
	COP           *COPCurve          `json:"cop,omitempty"`
}

// Metric is the statistics of one metric column: exact count, sum, mean,
// min and max over its non-null values, the quantiles, and the sketch they
// come from (DDSketch binary encoding, standard base64), which merges with
// other days' sketches into windows.
type Metric struct {
	Count         int64   `json:"count"`
	Installations int     `json:"installations"`
	Sum           float64 `json:"sum"`
	Mean          float64 `json:"mean"`
	Min           float64 `json:"min"`
	Max           float64 `json:"max"`
	Quantiles
	// Excluded counts values left out: non-finite or beyond MaxAbsValue.
	Excluded int64  `json:"excluded,omitempty"`
	Sketch   string `json:"sketch"`
}

// COPCurve is the efficiency (coefficient of performance) of a model by
// outdoor-temperature band, from the rows where the compressor runs.
type COPCurve struct {
	Thermal  string `json:"thermal"`
	Electric string `json:"electric"`
	Outside  string `json:"outside"`
	// Compressor is the state column used to tell that the compressor
	// runs, when the partition has it.
	Compressor  string  `json:"compressor,omitempty"`
	MinElectric float64 `json:"min_electric"`
	MaxCOP      float64 `json:"max_cop"`
	Bands       []*Band `json:"bands"`
}

// Band is the COP over one outdoor-temperature band [From, To); the lowest
// band has no From, the highest no To. Mean is the mean of the
// instantaneous COPs; EnergyWeighted is Σthermal / Σelectric, what a heat
// meter and an electricity meter would show over the same time.
type Band struct {
	Band          string   `json:"band"`
	From          *float64 `json:"from,omitempty"`
	To            *float64 `json:"to,omitempty"`
	Count         int64    `json:"count"`
	Installations int      `json:"installations"`
	Sum           float64  `json:"sum"`
	Mean          float64  `json:"mean"`
	ThermalSum    float64  `json:"thermal_sum"`
	ElectricSum   float64  `json:"electric_sum"`
	// EnergyWeighted is ThermalSum / ElectricSum.
	EnergyWeighted float64 `json:"energy_weighted"`
	Quantiles
	Sketch string `json:"sketch"`
}

// Installations is the document at lake.StatsInstallationsKey(day): each
// installation's contribution to the records measured on one UTC day, by
// model (storage name) then installation ID. It is written after the
// day's Daily documents and names the partitions it was computed from, so
// it is also the day's commit record: readers use the Daily documents it
// names and nothing else.
type Installations struct {
	Format       int                                 `json:"format"`
	Day          string                              `json:"day"`
	ComputedFrom []Source                            `json:"computed_from"`
	Models       map[string]map[string]*Installation `json:"models"`
}

// Installation is one installation's day under one model.
type Installation struct {
	Records   int64                         `json:"records"`
	FirstSeen time.Time                     `json:"first_seen"`
	LastSeen  time.Time                     `json:"last_seen"`
	Metrics   map[string]InstallationMetric `json:"metrics"`
	// COPBands lists the COP bands (by Band.Band) it contributed to.
	COPBands []string `json:"cop_bands,omitempty"`
}

// InstallationMetric is an installation's daily mean of a metric and the
// number of values behind it.
type InstallationMetric struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
}

// marshal encodes a document deterministically: encoding/json sorts map
// keys and prints floats in their shortest round-trip form.
func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// digest names a set of sources under a job configuration: equal digests
// mean the document computed from them would be the same bytes.
func digest(fingerprint string, sources []Source) string {
	h := sha256.New()
	fmt.Fprintf(h, "format=%d\n%s\n", Format, fingerprint)
	for _, s := range sources {
		fmt.Fprintf(h, "%s\t%d\t%d\n", s.Key, s.Size, s.ModTime.UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// installationsPrefix is the folder of lake.StatsInstallationsKey, derived
// from it so that keys are still built in lake alone.
func installationsPrefix() string {
	d := time.Unix(0, 0).UTC()
	return strings.TrimSuffix(lake.StatsInstallationsKey(d), lake.Day(d)+".json")
}

// installationsDay parses the day out of a StatsInstallationsKey.
func installationsDay(prefix, key string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return time.Time{}, false
	}
	day, err := lake.ParseDay(strings.TrimSuffix(rest, ".json"))
	if err != nil || lake.StatsInstallationsKey(day) != key {
		return time.Time{}, false
	}
	return day, true
}

func truncDay(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }
