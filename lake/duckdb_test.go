package lake

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// The lake is read by a reader we did not write: DuckDB globs it with Hive
// partitioning and union_by_name and gets exactly the submitted records,
// timestamps as UTC timestamps, nulls where a field was absent.
func TestDuckDBReadsLake(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBucket(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	landBatch(t, b, "AERO SLM 3-11", t0, r(1, 0, map[string]float64{"temp_outside": 5.5, "state": 1}), r(1, 30, map[string]float64{"temp_outside": -0.25}))
	landBatch(t, b, "AERO SLM 3-11", t0.Add(time.Hour), r(2, 15, map[string]float64{"humidity": 61}))
	landBatch(t, b, "TERRA SW 6-17", t0.Add(time.Hour), r(3, 86400-1, map[string]float64{"brine": 2.5}))
	compact(t, b, t0.Add(2*time.Hour))
	// A second run adds a column to an existing file.
	landBatch(t, b, "AERO SLM 3-11", t0.Add(3*time.Hour), r(1, 60, map[string]float64{"new_metric": 7}))
	compact(t, b, t0.Add(4*time.Hour))

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	glob := strings.ReplaceAll(dir, "'", "''") + "/lake/telemetry/**/*.parquet"
	rows, err := db.Query(`SELECT installation_id, "timestamp", received_at, collector_version, heatpump_model, CAST("date" AS VARCHAR),
		temp_outside, state, humidity, brine, new_metric
		FROM read_parquet('` + glob + `', hive_partitioning=true, union_by_name=true)
		ORDER BY installation_id, "timestamp"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type out struct {
		inst           string
		ts, recv       time.Time
		ver, model, dt string
		vals           [5]sql.NullFloat64
	}
	var got []out
	for rows.Next() {
		var o out
		if err := rows.Scan(&o.inst, &o.ts, &o.recv, &o.ver, &o.model, &o.dt, &o.vals[0], &o.vals[1], &o.vals[2], &o.vals[3], &o.vals[4]); err != nil {
			t.Fatal(err)
		}
		got = append(got, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	n := func(v float64) sql.NullFloat64 { return sql.NullFloat64{Float64: v, Valid: true} }
	null := sql.NullFloat64{}
	ts := func(sec int64) time.Time { return time.Unix(dayBase+sec, 125e6).UTC() }
	want := []out{
		{instID(1), ts(0), t0, "1.0", "AERO_SLM_3-11", "2026-11-26", [5]sql.NullFloat64{n(5.5), n(1), null, null, null}},
		{instID(1), ts(30), t0, "1.0", "AERO_SLM_3-11", "2026-11-26", [5]sql.NullFloat64{n(-0.25), null, null, null, null}},
		{instID(1), ts(60), t0.Add(3 * time.Hour), "1.0", "AERO_SLM_3-11", "2026-11-26", [5]sql.NullFloat64{null, null, null, null, n(7)}},
		{instID(2), ts(15), t0.Add(time.Hour), "1.0", "AERO_SLM_3-11", "2026-11-26", [5]sql.NullFloat64{null, null, n(61), null, null}},
		{instID(3), ts(86400 - 1), t0.Add(time.Hour), "1.0", "TERRA_SW_6-17", "2026-11-26", [5]sql.NullFloat64{null, null, null, n(2.5), null}},
	}
	if len(got) != len(want) {
		t.Fatalf("DuckDB read %d rows, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.inst != w.inst || !g.ts.Equal(w.ts) || !g.recv.Equal(w.recv) || g.ver != w.ver || g.model != w.model || g.dt != w.dt || g.vals != w.vals {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, g, w)
		}
		if g.ts.Location() != time.UTC && g.ts.Format("-07:00") != "+00:00" {
			t.Errorf("row %d timestamp not UTC: %v", i, g.ts)
		}
	}
	// Readers prune by time: every row group carries timestamp min/max;
	// installation_id is dictionary-encoded.
	var groups, withStats int
	if err := db.QueryRow(`SELECT count(*), count(stats_min_value) FROM parquet_metadata('`+glob+`') WHERE path_in_schema = 'timestamp'`).Scan(&groups, &withStats); err != nil {
		t.Fatal(err)
	}
	if groups == 0 || withStats != groups {
		t.Fatalf("timestamp statistics in %d of %d row groups", withStats, groups)
	}
	var enc string
	if err := db.QueryRow(`SELECT encodings FROM parquet_metadata('` + glob + `') WHERE path_in_schema = 'installation_id' LIMIT 1`).Scan(&enc); err != nil || !strings.Contains(enc, "DICTIONARY") {
		t.Fatalf("installation_id encodings %q %v", enc, err)
	}
	// The timestamp column is a real TIMESTAMP WITH TIME ZONE, not text.
	var typ string
	if err := db.QueryRow(`SELECT typeof("timestamp") FROM read_parquet('` + glob + `') LIMIT 1`).Scan(&typ); err != nil || !strings.HasPrefix(typ, "TIMESTAMP") {
		t.Fatalf("timestamp type %q %v", typ, err)
	}
}

// Landing objects stay readable by DuckDB's read_json, also those that
// hold a group of batches (one zstd frame and JSON document each).
func TestDuckDBReadsGroupedLanding(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBucket(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l, started, release := blockedLanding(t, b, nil)
	recv := t0.Add(5 * time.Minute)
	ts := float64(dayBase + 3600)
	errs := make(chan error, 4)
	go func() { _, err := l.Land(context.Background(), groupBatch(0, recv, ts, 0.5)); errs <- err }()
	<-started
	for i := 1; i <= 3; i++ {
		go func() { _, err := l.Land(context.Background(), groupBatch(i, recv, ts, float64(i)+0.5)); errs <- err }()
		waitQueued(t, l, i)
	}
	close(release)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	glob := strings.ReplaceAll(dir, "'", "''") + "/landing/*/*/*.json.zst"
	var files, docs, records int
	var sum float64
	err = db.QueryRow(`SELECT count(DISTINCT filename), count(*), sum(len(data)), sum(data[1].temp_outside)
		FROM read_json('`+glob+`', compression = 'zstd', filename = true)`).Scan(&files, &docs, &records, &sum)
	if err != nil {
		t.Fatal(err)
	}
	if files != 2 || docs != 4 || records != 4 || sum != 8 {
		t.Fatalf("DuckDB read %d files, %d documents, %d records, sum %v; want 2, 4, 4, 8", files, docs, records, sum)
	}
}
