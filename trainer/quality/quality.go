// Package quality measures how well the isolation forest of trainer/iforest
// separates anomalies from normal rows: ROC AUC with ties handled by average
// rank, a reader for the labelled CSV files that bench/paper-auc.sh exports
// from R's mlbench, and the AUCs that Liu, Ting & Zhou (ICDM 2008) report in
// their Table 2, so that a run can be set against the paper; and the
// heat-pump fault evaluation (Heatpump): a model trained as the training job
// trains it on simulated telemetry, scored per injected fault kind.
//
// The figures and how they were obtained are in docs/MODEL_QUALITY.md.
package quality

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"

	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
)

// ErrLabels reports labels that do not allow an AUC: a length other than the
// scores', or only one class.
var ErrLabels = errors.New("labels need both classes and one per score")

// AUC returns the area under the ROC curve of scores (higher means more
// anomalous) against labels (true for an anomaly): the probability that a
// random anomaly scores above a random normal row, ties counting one half.
// It is computed from the Mann-Whitney U statistic with average ranks, so it
// equals scikit-learn's roc_auc_score on the same input.
func AUC(scores []float64, labels []bool) (float64, error) {
	n := len(scores)
	if n != len(labels) {
		return 0, ErrLabels
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var pos, neg int
	var rankSum float64 // sum of the (1-based, tie-averaged) ranks of the anomalies
	for i := 0; i < n; {
		j := i
		for j < n && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+1+j) / 2 // mean of ranks i+1 … j
		for k := i; k < j; k++ {
			if labels[idx[k]] {
				pos++
				rankSum += avg
			}
		}
		i = j
	}
	neg = n - pos
	if pos == 0 || neg == 0 {
		return 0, ErrLabels
	}
	u := rankSum - float64(pos)*float64(pos+1)/2
	return u / (float64(pos) * float64(neg)), nil
}

// MeanSD returns the mean and the sample standard deviation (n-1, as R's sd
// and NumPy's std(ddof=1)) of xs; the deviation is 0 for fewer than two values.
func MeanSD(xs []float64) (mean, sd float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// ReadLabelled reads a CSV file with a header row whose last column is the
// label (1 for an anomaly, 0 otherwise) and whose other columns are numeric
// features. Every value must be a finite number.
func ReadLabelled(path string) (iforest.Matrix, []bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return iforest.Matrix{}, nil, err
	}
	defer f.Close()
	return ParseLabelled(f)
}

// ParseLabelled is ReadLabelled on a reader.
func ParseLabelled(r io.Reader) (iforest.Matrix, []bool, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return iforest.Matrix{}, nil, fmt.Errorf("header: %w", err)
	}
	cols := len(header) - 1
	if cols < 1 {
		return iforest.Matrix{}, nil, fmt.Errorf("need at least one feature and a label, got %d columns", len(header))
	}
	var data []float64
	var labels []bool
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return iforest.Matrix{}, nil, err
		}
		for j := 0; j < cols; j++ {
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return iforest.Matrix{}, nil, fmt.Errorf("line %d column %q: not a finite number: %q", line, header[j], rec[j])
			}
			data = append(data, v)
		}
		switch rec[cols] {
		case "0":
			labels = append(labels, false)
		case "1":
			labels = append(labels, true)
		default:
			return iforest.Matrix{}, nil, fmt.Errorf("line %d: label %q is neither 0 nor 1", line, rec[cols])
		}
	}
	if len(labels) == 0 {
		return iforest.Matrix{}, nil, errors.New("no rows")
	}
	return iforest.Matrix{Data: data, Rows: len(labels), Cols: cols}, labels, nil
}

// ForestAUC fits an isolation forest with cfg on every row of x, unsupervised
// as the paper does, scores every row and returns the AUC of the anomaly
// score -ScoreSamples (higher is more anomalous) against labels.
func ForestAUC(x iforest.Matrix, labels []bool, cfg iforest.Config) (float64, error) {
	f, err := iforest.Fit(x, cfg)
	if err != nil {
		return 0, err
	}
	s, err := f.ScoreSamples(x)
	if err != nil {
		return 0, err
	}
	for i := range s {
		s[i] = -s[i]
	}
	return AUC(s, labels)
}

// PaperDataset is one of the datasets of the paper's Table 2 that Debian's
// r-cran-mlbench ships, with the AUC the paper reports for iForest.
type PaperDataset struct {
	Name string  // file stem written by bench/paper-auc.sh
	AUC  float64 // iForest AUC in Table 2 of Liu, Ting & Zhou (2008)
	Rows int     // n in the paper's Table 1
}

// PaperDatasets lists the five datasets in the paper's order.
var PaperDatasets = []PaperDataset{
	{"breastw", 0.99, 683},
	{"ionosphere", 0.85, 351},
	{"pima", 0.67, 768},
	{"satellite", 0.71, 6435},
	{"shuttle", 1.00, 49097},
}
