//go:build duckdb

package parquetbench

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
)

func TestZZDuckEnc(t *testing.T) {
	d, rg := testData(t)
	dir := t.TempDir()
	db, _ := sql.Open("duckdb", "")
	defer db.Close()
	out := newSink(1 << 30)
	mem := memory.NewGoAllocator()
	props := parquet.NewWriterProperties(parquet.WithAllocator(mem), parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithDictionaryDefault(true), parquet.WithDictionaryFor("timestamp", false), parquet.WithDictionaryFor("received_at", false),
		parquet.WithMaxRowGroupLength(int64(rg)))
	if err := writeArrowColumns(out, d, rg, mem, props); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "a.parquet")
	os.WriteFile(src, out.Bytes(), 0o644)
	dst := filepath.Join(dir, "d.parquet")
	db.Exec(fmt.Sprintf("COPY (SELECT * FROM read_parquet('%s')) TO '%s' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536)", src, dst))
	for _, f := range []string{src, dst} {
		var total int64
		db.QueryRow(fmt.Sprintf(`SELECT sum(total_compressed_size) FROM parquet_metadata('%s')`, f)).Scan(&total)
		t.Logf("%s total %d", f, total)
		rows, err := db.Query(fmt.Sprintf(`SELECT path_in_schema IN ('timestamp','received_at') AS ts, encodings, count(*), sum(total_compressed_size), any_value(created_by) FROM parquet_metadata('%s') m JOIN (SELECT created_by FROM parquet_file_metadata('%s')) ON true GROUP BY ALL ORDER BY 4 DESC`, f, f))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var ts bool
			var enc, cb string
			var n, sz int64
			rows.Scan(&ts, &enc, &n, &sz, &cb)
			t.Logf("%s ts=%v %-40s chunks=%d bytes=%d %s", filepath.Base(f), ts, enc, n, sz, cb)
		}
		rows.Close()
	}
	rows, err := db.Query(fmt.Sprintf(`SELECT a.path_in_schema, a.row_group_id, a.encodings, a.total_compressed_size, b.encodings, b.total_compressed_size, 0 FROM parquet_metadata('%s') a JOIN parquet_metadata('%s') b USING (path_in_schema, row_group_id) WHERE row_group_id = 0 ORDER BY a.total_compressed_size - b.total_compressed_size DESC LIMIT 12`, src, dst))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p, ea, eb string
		var g, sa, sb int64
		var dc int64
		rows.Scan(&p, &g, &ea, &sa, &eb, &sb, &dc)
		t.Logf("%-45s arrow %-30s %8d  duck %-20s %8d", p, ea, sa, eb, sb)
	}
}
