package parquetbench

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// TestFooter inspects every writer's footer with both libraries: column
// order, TIMESTAMP(MICROS, UTC) logical types, min/max statistics on the
// timestamp and key columns, exact and non-negative null counts (arrow/go/v15
// wrote negative ones for dictionary columns), encodings, and page indexes.
func TestFooter(t *testing.T) {
	d, rg := testData(t)
	out := newSink(1 << 30)
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			out.Reset()
			if err := w.write(out, d, rg, memory.NewGoAllocator()); err != nil {
				t.Fatal(err)
			}
			buf := out.Bytes()
			wantGroups := (d.n + rg - 1) / rg

			// parquet-go's view of the raw thrift footer.
			f, err := parquet.OpenFile(bytesReader(buf), int64(len(buf)))
			if err != nil {
				t.Fatal(err)
			}
			md := f.Metadata()
			if len(md.RowGroups) != wantGroups {
				t.Errorf("row groups: %d, want %d", len(md.RowGroups), wantGroups)
			}
			var names []string
			for _, e := range md.Schema[1:] {
				names = append(names, e.Name)
			}
			wantNames := append([]string{"installation_id", "timestamp", "received_at", "collector_version"}, d.fields...)
			if !slices.Equal(names, wantNames) {
				t.Errorf("column order: %v…, want %v…", names[:6], wantNames[:6])
			}
			for _, c := range []int{1, 2} {
				lt := md.Schema[1+c].LogicalType
				ts, _ := lt.Value.(*format.TimestampType)
				if _, micros := ts.Unit.Value.(*format.MicroSeconds); ts == nil || !ts.IsAdjustedToUTC || !micros {
					t.Errorf("%s logical type: %+v, want TIMESTAMP(MICROS, UTC)", names[c], lt)
				}
			}
			indexed, ok := 0, 0
			for _, cc := range f.RowGroups()[0].ColumnChunks() {
				if _, err := cc.ColumnIndex(); err == nil {
					indexed++
				}
			}
			lo := 0
			for g, rgm := range md.RowGroups {
				hi := lo + int(rgm.NumRows)
				for c, col := range rgm.Columns {
					st := col.MetaData.Statistics
					wantNulls := int64(0)
					if c >= numKeys {
						for _, v := range d.valid[c-numKeys][lo:hi] {
							if !v {
								wantNulls++
							}
						}
					}
					if st.NullCount != wantNulls {
						t.Errorf("rg %d %s: null count %d, want %d", g, names[c], st.NullCount, wantNulls)
					}
					if wantNulls < int64(hi-lo) && (st.MinValue == nil || st.MaxValue == nil) {
						t.Errorf("rg %d %s: no min/max", g, names[c])
					}
				}
				ts := rgm.Columns[1].MetaData.Statistics
				if len(ts.MinValue) == 8 && len(ts.MaxValue) == 8 {
					mn, mx := int64(binary.LittleEndian.Uint64(ts.MinValue)), int64(binary.LittleEndian.Uint64(ts.MaxValue))
					if mn != slices.Min(d.ts[lo:hi]) || mx != slices.Max(d.ts[lo:hi]) {
						t.Errorf("rg %d timestamp min/max %d/%d, want %d/%d", g, mn, mx, slices.Min(d.ts[lo:hi]), slices.Max(d.ts[lo:hi]))
					} else {
						ok++
					}
				}
				lo = hi
			}
			enc := func(c int) string {
				var s []string
				for _, e := range md.RowGroups[0].Columns[c].MetaData.Encoding {
					s = append(s, e.String())
				}
				return strings.Join(s, ",")
			}
			pageTypes := map[string]int{}
			for _, es := range md.RowGroups[0].Columns[numKeys].MetaData.EncodingStats {
				pageTypes[es.PageType.String()] += int(es.Count)
			}

			// arrow-go's view.
			pf, err := file.NewParquetReader(bytesReader(buf))
			if err != nil {
				t.Fatal(err)
			}
			defer pf.Close()
			sc := pf.MetaData().Schema
			arrowTS := sc.Column(1).LogicalType().String()
			rgm := pf.MetaData().RowGroup(0)
			var stats []string
			for _, c := range []int{0, 1, 3, numKeys + len(d.fields) - 1} {
				cc, err := rgm.ColumnChunk(c)
				if err != nil {
					t.Fatal(err)
				}
				st, err := cc.Statistics()
				if err != nil {
					t.Fatal(err)
				}
				if st == nil {
					stats = append(stats, names[c]+": none")
					continue
				}
				if st.NullCount() < 0 {
					t.Errorf("%s: negative null count %d", names[c], st.NullCount())
				}
				s := fmt.Sprintf("%s: nulls=%d minmax=%v", names[c], st.NullCount(), st.HasMinMax())
				if is, ok := st.(*metadata.Int64Statistics); ok && st.HasMinMax() {
					s += fmt.Sprintf(" [%d..%d]", is.Min(), is.Max())
				}
				stats = append(stats, s)
			}
			t.Logf("%s: %d bytes, %d row groups, created_by %q", w.name, len(buf), len(md.RowGroups), md.CreatedBy)
			t.Logf("  timestamp: %s (arrow view), %d/%d row groups with exact min/max", arrowTS, ok, len(md.RowGroups))
			t.Logf("  encodings: installation_id %s; timestamp %s; metric %s; metric pages %v", enc(0), enc(1), enc(numKeys), pageTypes)
			t.Logf("  column index on %d/%d columns; rg0 stats (arrow view): %s", indexed, len(names), strings.Join(stats, "; "))
			if ok != len(md.RowGroups) {
				t.Errorf("timestamp min/max on %d of %d row groups", ok, len(md.RowGroups))
			}
		})
	}
}
