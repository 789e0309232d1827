// Command duckconvert is the peer of the compaction benchmark: DuckDB
// (through its Go driver) converts the same landing objects to a
// Hive-partitioned, zstd Parquet lake with one COPY statement.
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"log"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

func main() {
	landing := flag.String("landing", "", "folder of the bucket's landing/ objects")
	out := flag.String("out", "", "output folder")
	flag.Parse()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	q := func(s string) string { return strings.ReplaceAll(s, "'", "''") }
	stmt := fmt.Sprintf(`COPY (
		SELECT installation_id,
		       make_timestamp(CAST(round(r."timestamp" * 1e6) AS BIGINT)) AS "timestamp",
		       CAST(received_at AS TIMESTAMPTZ) AS received_at,
		       version AS collector_version,
		       replace(heatpump_model, ' ', '_') AS heatpump_model,
		       CAST(to_timestamp(r."timestamp") AS DATE) AS "date",
		       r.* EXCLUDE ("timestamp")
		FROM (SELECT installation_id, heatpump_model, version, received_at, unnest(data) AS r
		      FROM read_json('%s/*/*/*.json.zst', compression = 'zstd', maximum_object_size = 268435456))
	) TO '%s' (FORMAT parquet, PARTITION_BY (heatpump_model, "date"), COMPRESSION zstd)`, q(*landing), q(*out))
	start := time.Now()
	res, err := db.Exec(stmt)
	if err != nil {
		log.Fatal(err)
	}
	n, _ := res.RowsAffected()
	secs := time.Since(start).Seconds()
	fmt.Printf("duckdb converted %d records in %.1fs, %.0f records/s\n", n, secs, float64(n)/secs)
}
