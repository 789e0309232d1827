package parquetbench

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	pq "github.com/parquet-go/parquet-go"
)

// encodings are file-format choices beyond the brief's settings (PLAIN
// doubles, dictionary strings, zstd default level). They are properties of
// the format, available in both libraries; they are measured with arrow-go's
// column writer and read back with both readers.
type encodingChoice struct {
	name string
	opts func(fields []string) []parquet.WriterProperty
}

var encodings = []encodingChoice{
	{"brief", nil},
	{"dict-all", func([]string) []parquet.WriterProperty {
		return []parquet.WriterProperty{parquet.WithDictionaryDefault(true)}
	}},
	{"dict-metrics+cost-fallback", func(fields []string) []parquet.WriterProperty {
		return append(forMetrics(fields, func(f string) parquet.WriterProperty {
			return parquet.WithDictionaryFor(f, true)
		}), forMetrics(fields, func(f string) parquet.WriterProperty {
			return parquet.WithDictionaryCostFallbackFor(f, true)
		})...)
	}},
	{"dict-metrics+limit-32k", func(fields []string) []parquet.WriterProperty {
		return append(forMetrics(fields, func(f string) parquet.WriterProperty {
			return parquet.WithDictionaryFor(f, true)
		}), parquet.WithDictionaryPageSizeLimit(32<<10))
	}},
	{"bss", func(fields []string) []parquet.WriterProperty {
		return forMetrics(fields, func(f string) parquet.WriterProperty {
			return parquet.WithEncodingFor(f, parquet.Encodings.ByteStreamSplit)
		})
	}},
	{"delta-ts", func([]string) []parquet.WriterProperty {
		return []parquet.WriterProperty{
			parquet.WithEncodingFor("timestamp", parquet.Encodings.DeltaBinaryPacked),
			parquet.WithEncodingFor("received_at", parquet.Encodings.DeltaBinaryPacked),
		}
	}},
	{"tuned", func(fields []string) []parquet.WriterProperty { // dict-metrics+cost-fallback+delta-ts
		return append(append(forMetrics(fields, func(f string) parquet.WriterProperty {
			return parquet.WithDictionaryFor(f, true)
		}), forMetrics(fields, func(f string) parquet.WriterProperty {
			return parquet.WithDictionaryCostFallbackFor(f, true)
		})...),
			parquet.WithEncodingFor("timestamp", parquet.Encodings.DeltaBinaryPacked),
			parquet.WithEncodingFor("received_at", parquet.Encodings.DeltaBinaryPacked),
		)
	}},
	{"zstd-1", func([]string) []parquet.WriterProperty {
		return []parquet.WriterProperty{parquet.WithCompressionLevel(1)}
	}},
	{"zstd-7", func([]string) []parquet.WriterProperty {
		return []parquet.WriterProperty{parquet.WithCompressionLevel(7)}
	}},
	{"zstd-11", func([]string) []parquet.WriterProperty {
		return []parquet.WriterProperty{parquet.WithCompressionLevel(11)}
	}},
}

func forMetrics(fields []string, f func(string) parquet.WriterProperty) []parquet.WriterProperty {
	var out []parquet.WriterProperty
	for _, name := range fields {
		out = append(out, f(name))
	}
	return out
}

func encodingProps(i int, fields []string, rowGroupRows int, mem memory.Allocator) *parquet.WriterProperties {
	base := []parquet.WriterProperty{
		parquet.WithAllocator(mem),
	}
	p := arrowWriterProps(rowGroupRows, mem)
	base = append(base,
		parquet.WithCompression(p.Compression()),
		parquet.WithDictionaryDefault(false),
		parquet.WithDictionaryFor("installation_id", true),
		parquet.WithDictionaryFor("collector_version", true),
		parquet.WithStats(true),
		parquet.WithMaxRowGroupLength(int64(rowGroupRows)),
	)
	if encodings[i].opts != nil {
		base = append(base, encodings[i].opts(fields)...)
	}
	return parquet.NewWriterProperties(base...)
}

// TestEncodings writes the partition with each encoding choice, checks that
// both readers return every value and null, and logs the sizes.
func TestEncodings(t *testing.T) {
	if raceEnabled {
		t.Skip("a size study; slow under the race detector, and single-goroutine")
	}
	d, rg := testData(t)
	out := newSink(1 << 30)
	var base int
	for i, e := range encodings {
		if testing.Short() && e.name != "brief" && e.name != "tuned" {
			continue
		}
		out.Reset()
		mem := memory.NewGoAllocator()
		if err := writeArrowColumns(out, d, rg, mem, encodingProps(i, d.fields, rg, mem)); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if i == 0 {
			base = out.Len()
		}
		t.Logf("%-24s %9d bytes  %5.2f B/row  %.3f× brief", e.name, out.Len(), float64(out.Len())/float64(d.n), float64(out.Len())/float64(base))
		for _, r := range readers[1:] { // arrow-columns, pqgo-pages
			t.Run(fmt.Sprintf("%s/%s", e.name, r.name), func(t *testing.T) {
				var got dataset
				if err := r.read(out.Bytes(), memory.NewGoAllocator(), collect(d.fields, &got)); err != nil {
					t.Fatal(err)
				}
				compare(t, d, &got)
			})
		}
	}
	// The same choices with parquet-go (row writer).
	for _, c := range []struct {
		name string
		opts []pq.WriterOption
	}{{"pqgo brief", nil}, {"pqgo tuned", pqgoTuned(d.fields, rg)}} {
		out.Reset()
		if err := writePqgoRows(out, d, rg, c.opts); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Logf("%-24s %9d bytes  %5.2f B/row  %.3f× brief", c.name, out.Len(), float64(out.Len())/float64(d.n), float64(out.Len())/float64(base))
		for _, r := range readers[1:] {
			t.Run(fmt.Sprintf("%s/%s", c.name, r.name), func(t *testing.T) {
				var got dataset
				if err := r.read(out.Bytes(), memory.NewGoAllocator(), collect(d.fields, &got)); err != nil {
					t.Fatal(err)
				}
				compare(t, d, &got)
			})
		}
	}
}

// pqgoTuned is the "tuned" encoding with parquet-go: dictionary-encoded
// metrics that fall back to PLAIN past DictionaryMaxBytes, and
// DELTA_BINARY_PACKED timestamps.
func pqgoTuned(fields []string, rowGroupRows int) []pq.WriterOption {
	dictString := pq.Encoded(pq.String(), &pq.RLEDictionary)
	ts := pq.Encoded(pq.Timestamp(pq.Microsecond), &pq.DeltaBinaryPacked)
	g := orderedGroup{{dictString, "installation_id"}, {ts, "timestamp"}, {ts, "received_at"}, {dictString, "collector_version"}}
	for _, f := range fields {
		g = append(g, orderedField{pq.Optional(pq.Encoded(pq.Leaf(pq.DoubleType), &pq.RLEDictionary)), f})
	}
	return append(pqgoWriterOptions(pq.NewSchema("schema", g), rowGroupRows), pq.DictionaryMaxBytes(32<<10))
}

// BenchmarkEncoding measures write (arrow-go column writer) and read
// (parquet-go pages) speed for the encoding choices, 64k-row groups.
func BenchmarkEncoding(b *testing.B) {
	d := fleetDay(b)
	const rg = 64 << 10
	out := newSink(1 << 30)
	for i, e := range encodings {
		switch e.name {
		case "dict-all", "dict-metrics+limit-32k":
			continue // sizes only (TestEncodings)
		}
		b.Run(fmt.Sprintf("enc=%s/op=write", e.name), func(b *testing.B) {
			mem := memory.NewGoAllocator()
			props := encodingProps(i, d.fields, rg, mem)
			run(b, d.n, func() error { out.Reset(); return writeArrowColumns(out, d, rg, mem, props) })
			b.SetBytes(int64(out.Len()))
			b.ReportMetric(float64(out.Len())/float64(d.n), "B/row")
		})
		r := readers[2] // pqgo-pages
		b.Run(fmt.Sprintf("enc=%s/op=read-%s", e.name, r.name), func(b *testing.B) {
			run(b, d.n, func() error { return r.read(out.Bytes(), nil, func(*batch) error { return nil }) })
			b.SetBytes(int64(out.Len()))
		})
	}
}
