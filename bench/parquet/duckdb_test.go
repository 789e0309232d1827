//go:build duckdb

// DuckDB as an independent reader (cgo; opt-in so that plain `go test` and
// `make test` do not link libduckdb for this package):
//
//	go test -tags duckdb -run TestDuckDB -v ./bench/parquet/

package parquetbench

import (
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	_ "github.com/duckdb/duckdb-go/v2"
)

// TestDuckDB writes the partition with every writer and checks what DuckDB
// reads: row count, column types (timestamps as TIMESTAMP WITH TIME ZONE),
// keys, and per metric the non-null count and sum. It then has DuckDB
// rewrite the same rows (COPY … COMPRESSION zstd) to compare file sizes.
func TestDuckDB(t *testing.T) {
	d, rg := testData(t)
	dir := t.TempDir()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("SET threads = 1"); err != nil {
		t.Fatal(err)
	}

	// What the Go side knows.
	wantCount := make([]int64, len(d.fields))
	wantSum := make([]float64, len(d.fields))
	for j := range d.fields {
		for i, ok := range d.valid[j] {
			if ok {
				wantCount[j]++
				wantSum[j] += d.vals[j][i]
			}
		}
	}
	minTS, maxTS := d.ts[0], d.ts[0]
	for _, v := range d.ts {
		minTS, maxTS = min(minTS, v), max(maxTS, v)
	}

	out := newSink(1 << 30)
	sizes := map[string]int{}
	var arrowPath string
	files := writers
	tunedIdx := slices.IndexFunc(encodings, func(e encodingChoice) bool { return e.name == "tuned" })
	files = append(files[:len(files):len(files)],
		namedWriter{"arrow-cols tuned", func(s *sink, d *dataset, rg int, mem memory.Allocator) error {
			return writeArrowColumns(s, d, rg, mem, encodingProps(tunedIdx, d.fields, rg, mem))
		}},
		namedWriter{"pqgo-rows tuned", func(s *sink, d *dataset, rg int, _ memory.Allocator) error {
			return writePqgoRows(s, d, rg, pqgoTuned(d.fields, rg))
		}},
	)
	for _, w := range files {
		out.Reset()
		if err := w.write(out, d, rg, memory.NewGoAllocator()); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, strings.ReplaceAll(w.name, " ", "-")+".parquet")
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if w.name == "arrow-cols" {
			arrowPath = path
		}
		sizes[w.name] = out.Len()
		t.Run(w.name, func(t *testing.T) {
			src := fmt.Sprintf("read_parquet('%s')", path)
			var types []string
			rows, err := db.Query(fmt.Sprintf("SELECT column_type FROM (DESCRIBE SELECT * FROM %s) LIMIT 4", src))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				rows.Scan(&s)
				types = append(types, s)
			}
			rows.Close()
			if want := "VARCHAR,TIMESTAMP WITH TIME ZONE,TIMESTAMP WITH TIME ZONE,VARCHAR"; strings.Join(types, ",") != want {
				t.Errorf("key types %v, want %s", types, want)
			}
			var n, ids int64
			var lo, hi time.Time
			if err := db.QueryRow(fmt.Sprintf(`SELECT count(*), count(DISTINCT installation_id), min("timestamp"), max("timestamp") FROM %s`, src)).Scan(&n, &ids, &lo, &hi); err != nil {
				t.Fatal(err)
			}
			if n != int64(d.n) || lo.UnixMicro() != minTS || hi.UnixMicro() != maxTS {
				t.Errorf("count %d, ts %v..%v; want %d, %v..%v", n, lo, hi, d.n, time.UnixMicro(minTS).UTC(), time.UnixMicro(maxTS).UTC())
			}
			var sel []string
			for _, f := range d.fields {
				sel = append(sel, fmt.Sprintf(`count("%s"), coalesce(sum("%s"), 0)`, f, f))
			}
			dst := make([]any, 2*len(d.fields))
			gotCount := make([]int64, len(d.fields))
			gotSum := make([]float64, len(d.fields))
			for j := range d.fields {
				dst[2*j], dst[2*j+1] = &gotCount[j], &gotSum[j]
			}
			if err := db.QueryRow(fmt.Sprintf("SELECT %s FROM %s", strings.Join(sel, ", "), src)).Scan(dst...); err != nil {
				t.Fatal(err)
			}
			for j, f := range d.fields {
				if gotCount[j] != wantCount[j] || math.Abs(gotSum[j]-wantSum[j]) > 1e-6*math.Max(1, math.Abs(wantSum[j])) {
					t.Errorf("%s: count %d sum %v, want %d %v", f, gotCount[j], gotSum[j], wantCount[j], wantSum[j])
				}
			}
			start := time.Now()
			if _, err := db.Exec(fmt.Sprintf("SELECT * FROM %s", src)); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: DuckDB read %d rows in %s (1 thread, SELECT *)", w.name, n, time.Since(start).Round(time.Millisecond))
		})
	}

	// DuckDB writing the same rows, for the lake's "≤ 1.1× DuckDB" target.
	for _, c := range []struct{ name, opts string }{
		{"duckdb zstd (defaults)", "FORMAT parquet, COMPRESSION zstd"},
		{"duckdb zstd, 64k-row groups", fmt.Sprintf("FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE %d", rg)},
	} {
		path := filepath.Join(dir, "duck.parquet")
		start := time.Now()
		if _, err := db.Exec(fmt.Sprintf("COPY (SELECT * FROM read_parquet('%s')) TO '%s' (%s)", arrowPath, path, c.opts)); err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		var groups int64
		db.QueryRow(fmt.Sprintf("SELECT count(DISTINCT row_group_id) FROM parquet_metadata('%s')", path)).Scan(&groups)
		t.Logf("%-30s %9d bytes  %5.2f B/row  %d row groups  (read+write %s, 1 thread)",
			c.name, fi.Size(), float64(fi.Size())/float64(d.n), groups, el.Round(time.Millisecond))
		for _, w := range []string{"arrow-cols", "pqgo-rows", "arrow-cols tuned", "pqgo-rows tuned"} {
			t.Logf("    %-18s %5.2f B/row = %.3f× DuckDB's", w, float64(sizes[w])/float64(d.n), float64(sizes[w])/float64(fi.Size()))
		}
	}
}
