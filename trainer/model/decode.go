package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Unmarshal reads and validates a model document. Unknown keys are ignored
// (later writers may add informational keys within a format version); a
// wrong format, an unknown format_version, a missing required key or any
// inconsistency is an error wrapping ErrInvalid. Unmarshal never panics, and
// the returned Document is ready to score.
func Unmarshal(b []byte) (*Document, error) {
	var head struct {
		Format        *string `json:"format"`
		FormatVersion *int    `json:"format_version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if head.Format == nil || *head.Format != Format {
		return nil, fmt.Errorf("%w: %w: format is not %q", ErrInvalid, ErrUnsupportedVersion, Format)
	}
	if head.FormatVersion == nil || *head.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%w: %w: format_version is not %d", ErrInvalid, ErrUnsupportedVersion, FormatVersion)
	}
	var w wireDoc
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	d, err := w.document()
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// The wire types mirror the JSON; pointers mark keys that must be present
// because their zero value would be a plausible but wrong number.
type wireDoc struct {
	Features []wireFeature `json:"features"`
	Scaling  *string       `json:"scaling"`
	Forest   *wireForest   `json:"forest"`
	Metadata *wireMetadata `json:"metadata"`
}

type wireFeature struct {
	Name           string    `json:"name"`
	Kind           string    `json:"kind"`
	Field          string    `json:"field"`
	Field2         string    `json:"field2"`
	Fields         []string  `json:"fields"`
	Lo             []float64 `json:"lo"`
	Hi             []float64 `json:"hi"`
	Weights        []float64 `json:"weights"`
	Intercept      []float64 `json:"intercept"`
	Norm           []float64 `json:"norm"`
	MinDenominator float64   `json:"min_denominator"`
	Smooth         int64     `json:"smooth"`
	Window         int64     `json:"window"`
	MaxGap         int64     `json:"max_gap"`
	Impute         *float64  `json:"impute"`
	Center         *float64  `json:"center"`
	Scale          *float64  `json:"scale"`
}

type wireForest struct {
	NTrees        *int            `json:"n_trees"`
	SampleSize    *int            `json:"sample_size"`
	CSampleSize   *float64        `json:"c_sample_size"`
	HeightLimit   *int            `json:"height_limit"`
	Split         string          `json:"split"`
	Terms         *int            `json:"terms"`
	Contamination json.RawMessage `json:"contamination"`
	Threshold     *float64        `json:"threshold"`
	Trees         []wireTree      `json:"trees"`
}

type wireTree struct {
	Feature   []int32   `json:"feature"`
	Weight    []float64 `json:"weight"`
	Threshold []float64 `json:"threshold"`
	Left      []int32   `json:"left"`
	Right     []int32   `json:"right"`
	Value     []float64 `json:"value"`
}

type wireMetadata struct {
	HeatpumpModel string `json:"heatpump_model"`
	WindowFrom    string `json:"window_from"`
	WindowTo      string `json:"window_to"`
	Rows          int64  `json:"rows"`
	Installations int64  `json:"installations"`
	Seed          uint64 `json:"seed"`
	CreatedAt     string `json:"created_at"`
}

func (w *wireDoc) document() (*Document, error) {
	if w.Scaling == nil || w.Forest == nil || w.Metadata == nil {
		return nil, invalidf("missing scaling, forest or metadata")
	}
	d := &Document{Scaling: *w.Scaling, Features: make([]Feature, len(w.Features))}
	for i, f := range w.Features {
		if f.Impute == nil || f.Center == nil || f.Scale == nil {
			return nil, invalidf("feature %d: missing impute, center or scale", i)
		}
		d.Features[i] = Feature{Name: f.Name, Kind: f.Kind, Field: f.Field, Field2: f.Field2,
			Fields: f.Fields, Lo: f.Lo, Hi: f.Hi, Weights: f.Weights, Intercept: f.Intercept, Norm: f.Norm, MinDenominator: f.MinDenominator,
			Smooth: f.Smooth, Window: f.Window, MaxGap: f.MaxGap, Impute: *f.Impute, Center: *f.Center, Scale: *f.Scale}
		d.Features[i].normalize()
	}
	wf := w.Forest
	if wf.NTrees == nil || wf.SampleSize == nil || wf.CSampleSize == nil || wf.HeightLimit == nil ||
		wf.Terms == nil || wf.Threshold == nil || wf.Contamination == nil {
		return nil, invalidf("forest: missing a required key")
	}
	if *wf.NTrees != len(wf.Trees) {
		return nil, invalidf("forest: n_trees %d but %d trees", *wf.NTrees, len(wf.Trees))
	}
	c, err := contamination(wf.Contamination)
	if err != nil {
		return nil, err
	}
	d.Forest = Forest{
		SampleSize:    *wf.SampleSize,
		CSampleSize:   *wf.CSampleSize,
		HeightLimit:   *wf.HeightLimit,
		Split:         wf.Split,
		Terms:         *wf.Terms,
		Contamination: c,
		Threshold:     *wf.Threshold,
		Trees:         make([]Tree, len(wf.Trees)),
	}
	for i, t := range wf.Trees {
		d.Forest.Trees[i] = Tree(t)
	}
	m := w.Metadata
	d.Metadata = Metadata{HeatpumpModel: m.HeatpumpModel, Rows: m.Rows,
		Installations: m.Installations, Seed: m.Seed}
	for _, tm := range []struct {
		dst *time.Time
		src string
	}{{&d.Metadata.WindowFrom, m.WindowFrom}, {&d.Metadata.WindowTo, m.WindowTo}, {&d.Metadata.CreatedAt, m.CreatedAt}} {
		if tm.src == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, tm.src)
		if err != nil {
			return nil, fmt.Errorf("%w: metadata: %w", ErrInvalid, err)
		}
		*tm.dst = t.UTC()
	}
	return d, nil
}

// contamination reads "auto" as 0 or a number.
func contamination(raw json.RawMessage) (float64, error) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte(`"`+contaminationAuto+`"`)) {
		return 0, nil
	}
	var c float64
	if err := json.Unmarshal(raw, &c); err != nil || c == 0 {
		return 0, invalidf("contamination is neither %q nor a number in (0, 0.5]", contaminationAuto)
	}
	return c, nil
}
