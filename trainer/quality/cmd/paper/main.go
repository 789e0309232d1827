// Command paper reproduces Table 2 of Liu, Ting & Zhou (ICDM 2008) with the
// isolation forest of trainer/iforest on the CSVs that bench/paper-auc.sh
// exports from R's mlbench, and prints one table that sets its AUCs (mean ± sd
// over seeds) against the paper's and, when --sklearn names the file the
// script's Python step wrote, against scikit-learn's on the same CSVs.
//
//	go run ./trainer/quality/cmd/paper --dir DIR [--sklearn DIR/sklearn.tsv] [--seeds 10]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
	"github.com/idmtelemetry/idmtelemetry/trainer/quality"
)

func main() {
	dir := flag.String("dir", "", "folder with <dataset>.csv files (features, then label 0/1)")
	skl := flag.String("sklearn", "", "optional TSV of scikit-learn results: dataset, mean, sd")
	seeds := flag.Int("seeds", 10, "number of seeds (1…N) to average over")
	trees := flag.Int("trees", 100, "t, trees per forest")
	psi := flag.Int("psi", 256, "ψ, subsample size (capped at the number of rows)")
	flag.Parse()
	if *dir == "" || *seeds < 1 {
		flag.Usage()
		os.Exit(2)
	}
	ref := map[string][2]float64{}
	if *skl != "" {
		var err error
		if ref, err = readSklearn(*skl); err != nil {
			fail(err)
		}
	}
	fmt.Printf("%-11s %6s %6s %6s  %-15s  %-15s  %12s  %13s\n",
		"dataset", "rows", "anom%", "paper", "ours (mean±sd)", "sklearn", "|ours-paper|", "|ours-sklearn|")
	for _, ds := range quality.PaperDatasets {
		x, y, err := quality.ReadLabelled(filepath.Join(*dir, ds.Name+".csv"))
		if err != nil {
			fail(fmt.Errorf("%s: %w", ds.Name, err))
		}
		anom := 0
		for _, a := range y {
			if a {
				anom++
			}
		}
		aucs := make([]float64, *seeds)
		for s := range aucs {
			cfg := iforest.Config{Trees: *trees, SampleSize: min(*psi, x.Rows), Seed: uint64(s + 1)}
			if aucs[s], err = quality.ForestAUC(x, y, cfg); err != nil {
				fail(fmt.Errorf("%s seed %d: %w", ds.Name, s+1, err))
			}
		}
		m, sd := quality.MeanSD(aucs)
		sk, dsk := "-", "-"
		if r, ok := ref[ds.Name]; ok {
			sk = fmt.Sprintf("%.3f ± %.3f", r[0], r[1])
			dsk = fmt.Sprintf("%.3f", math.Abs(m-r[0]))
		}
		fmt.Printf("%-11s %6d %5.1f%% %6.2f  %.3f ± %.3f    %-15s  %12.3f  %13s\n",
			ds.Name, x.Rows, 100*float64(anom)/float64(x.Rows), ds.AUC, m, sd, sk, math.Abs(m-ds.AUC), dsk)
	}
}

// readSklearn reads lines "dataset<TAB>mean<TAB>sd".
func readSklearn(path string) (map[string][2]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][2]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		m, err1 := strconv.ParseFloat(fs[1], 64)
		sd, err2 := strconv.ParseFloat(fs[2], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		out[fs[0]] = [2]float64{m, sd}
	}
	return out, sc.Err()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "paper:", err)
	os.Exit(1)
}
