package model

import (
	"encoding/json"
	"strconv"
	"time"
)

// Marshal validates d and writes it as a JSON document. The bytes depend on
// d only: keys come in a fixed order, floats are written with strconv 'g' -1
// (the shortest text that reads back to the same float64) and times in RFC
// 3339 UTC, so the same model always gives the same bytes and hash. Each
// top-level key, feature and tree array takes one line, so diffs stay
// readable.
func Marshal(d *Document) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	f := &d.Forest
	nodes := 0
	for i := range f.Trees {
		nodes += f.Trees[i].Nodes()
	}
	// About 24 bytes per node per array is a generous first guess.
	w := writer{b: make([]byte, 0, 1024+nodes*(f.Terms+4)*24)}
	w.raw("{\n  \"format\": ")
	w.str(Format)
	w.raw(",\n  \"format_version\": ")
	w.int(FormatVersion)
	w.raw(",\n  \"features\": [")
	for i := range d.Features {
		ft := &d.Features[i]
		if i > 0 {
			w.raw(",")
		}
		w.raw("\n    {\"name\": ")
		w.str(ft.Name)
		w.raw(", \"kind\": ")
		w.str(ft.Kind)
		k := kinds[ft.Kind]
		if k.field {
			w.raw(", \"field\": ")
			w.str(ft.Field)
		}
		if k.field2 {
			w.raw(", \"field2\": ")
			w.str(ft.Field2)
		}
		if k.fields {
			w.raw(", \"fields\": ")
			w.strs(ft.Fields)
		}
		if k.lo {
			w.raw(", \"lo\": ")
			w.floats(ft.Lo)
			w.raw(", \"hi\": ")
			w.floats(ft.Hi)
		}
		if k.weights {
			w.raw(", \"weights\": ")
			w.floats(ft.Weights)
			w.raw(", \"intercept\": ")
			w.floats(ft.Intercept)
		}
		if k.norm {
			w.raw(", \"norm\": ")
			w.floats(ft.Norm)
		}
		if k.minDenominator {
			w.raw(", \"min_denominator\": ")
			w.float(ft.MinDenominator)
		}
		if k.smooth {
			w.raw(", \"smooth\": ")
			w.int(ft.Smooth)
		}
		if k.window {
			w.raw(", \"window\": ")
			w.int(ft.Window)
		}
		if k.maxGap {
			w.raw(", \"max_gap\": ")
			w.int(ft.MaxGap)
		}
		w.raw(", \"impute\": ")
		w.float(ft.Impute)
		w.raw(", \"center\": ")
		w.float(ft.Center)
		w.raw(", \"scale\": ")
		w.float(ft.Scale)
		w.raw("}")
	}
	w.raw("\n  ],\n  \"scaling\": ")
	w.str(d.Scaling)
	w.raw(",\n  \"forest\": {\n    \"n_trees\": ")
	w.int(int64(len(f.Trees)))
	w.raw(",\n    \"sample_size\": ")
	w.int(int64(f.SampleSize))
	w.raw(",\n    \"c_sample_size\": ")
	w.float(f.CSampleSize)
	w.raw(",\n    \"height_limit\": ")
	w.int(int64(f.HeightLimit))
	w.raw(",\n    \"split\": ")
	w.str(f.Split)
	w.raw(",\n    \"terms\": ")
	w.int(int64(f.Terms))
	w.raw(",\n    \"contamination\": ")
	if f.Contamination == 0 {
		w.str(contaminationAuto)
	} else {
		w.float(f.Contamination)
	}
	w.raw(",\n    \"threshold\": ")
	w.float(f.Threshold)
	w.raw(",\n    \"trees\": [")
	for i := range f.Trees {
		t := &f.Trees[i]
		if i > 0 {
			w.raw(",")
		}
		w.raw("\n      {\n        \"feature\": ")
		w.ints(t.Feature)
		if f.Split == SplitHyperplane {
			w.raw(",\n        \"weight\": ")
			w.floats(t.Weight)
		}
		w.raw(",\n        \"threshold\": ")
		w.floats(t.Threshold)
		w.raw(",\n        \"left\": ")
		w.ints(t.Left)
		w.raw(",\n        \"right\": ")
		w.ints(t.Right)
		w.raw(",\n        \"value\": ")
		w.floats(t.Value)
		w.raw("\n      }")
	}
	m := &d.Metadata
	w.raw("\n    ]\n  },\n  \"metadata\": {\n    \"heatpump_model\": ")
	w.str(m.HeatpumpModel)
	w.raw(",\n    \"window_from\": ")
	w.time(m.WindowFrom)
	w.raw(",\n    \"window_to\": ")
	w.time(m.WindowTo)
	w.raw(",\n    \"rows\": ")
	w.int(m.Rows)
	w.raw(",\n    \"installations\": ")
	w.int(m.Installations)
	w.raw(",\n    \"seed\": ")
	w.b = strconv.AppendUint(w.b, m.Seed, 10)
	w.raw(",\n    \"created_at\": ")
	w.time(m.CreatedAt)
	w.raw("\n  }\n}\n")
	return w.b, nil
}

// contaminationAuto is how the document writes Contamination 0.
const contaminationAuto = "auto"

type writer struct{ b []byte }

func (w *writer) raw(s string) { w.b = append(w.b, s...) }

func (w *writer) int(v int64) { w.b = strconv.AppendInt(w.b, v, 10) }

func (w *writer) float(v float64) { w.b = strconv.AppendFloat(w.b, v, 'g', -1, 64) }

// str writes s as a JSON string. encoding/json's escaping is deterministic,
// which is all the format needs.
func (w *writer) str(s string) {
	q, _ := json.Marshal(s) // A string always marshals.
	w.b = append(w.b, q...)
}

func (w *writer) time(t time.Time) {
	if t.IsZero() {
		w.str("")
		return
	}
	w.str(t.UTC().Format(time.RFC3339Nano))
}

func (w *writer) strs(v []string) {
	w.b = append(w.b, '[')
	for i, x := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str(x)
	}
	w.b = append(w.b, ']')
}

func (w *writer) ints(v []int32) {
	w.b = append(w.b, '[')
	for i, x := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = strconv.AppendInt(w.b, int64(x), 10)
	}
	w.b = append(w.b, ']')
}

func (w *writer) floats(v []float64) {
	w.b = append(w.b, '[')
	for i, x := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.float(x)
	}
	w.b = append(w.b, ']')
}
