package parquetbench

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
)

// encodings are file-format choices beyond the brief's settings (PLAIN
// doubles, dictionary strings, zstd default level). They are properties of
// the format, available in both libraries; they are measured with arrow-go's
// column writer and read back with both readers.
var encodings = []struct {
	name string
	opts func(fields []string) []parquet.WriterProperty
}{
	{"brief", nil},
	{"dict-all", func([]string) []parquet.WriterProperty {
		return []parquet.WriterProperty{parquet.WithDictionaryDefault(true)}
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
	d, rg := testData(t)
	out := newSink(1 << 30)
	var base int
	for i, e := range encodings {
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
}

// BenchmarkEncoding measures write (arrow-go column writer) and read
// (parquet-go pages, arrow-go columns) speed for each encoding choice, 64k-row
// groups.
func BenchmarkEncoding(b *testing.B) {
	d := fleetDay(b)
	const rg = 64 << 10
	for i, e := range encodings {
		out := newSink(1 << 30)
		b.Run(fmt.Sprintf("enc=%s/op=write", e.name), func(b *testing.B) {
			mem := memory.NewGoAllocator()
			props := encodingProps(i, d.fields, rg, mem)
			run(b, d.n, func() error { out.Reset(); return writeArrowColumns(out, d, rg, mem, props) })
			b.SetBytes(int64(out.Len()))
			b.ReportMetric(float64(out.Len())/float64(d.n), "B/row")
		})
		for _, r := range readers[1:] {
			b.Run(fmt.Sprintf("enc=%s/op=read-%s", e.name, r.name), func(b *testing.B) {
				mem := memory.NewGoAllocator()
				run(b, d.n, func() error { return r.read(out.Bytes(), mem, func(*batch) error { return nil }) })
				b.SetBytes(int64(out.Len()))
			})
		}
	}
}
