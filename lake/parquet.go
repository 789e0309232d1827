package lake

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// RowGroupRows is the row-group size of lake files: DuckDB's own default
// (122,880 rows), so its parallel scan gets one row group per task, and a
// day of 100 installations (288,000 rows) makes three groups, each a few
// MB of compressed columns, large enough for efficient reads from object
// storage and small enough to merge one at a time.
const RowGroupRows = 122880

// The fixed columns, before the metrics (sorted by name).
const (
	colInstallation = "installation_id"
	colTimestamp    = "timestamp"
	colReceived     = "received_at"
	colVersion      = "collector_version"
)

var tsType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

func lakeSchema(metrics []string) *arrow.Schema {
	fields := []arrow.Field{
		{Name: colInstallation, Type: arrow.BinaryTypes.String},
		{Name: colTimestamp, Type: tsType},
		{Name: colReceived, Type: tsType},
		{Name: colVersion, Type: arrow.BinaryTypes.String},
	}
	for _, m := range metrics {
		fields = append(fields, arrow.Field{Name: m, Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}

// writerProps are fixed so that the same rows always give the same bytes.
//
// Metrics get a dictionary with arrow-go's cost-based fallback: enum
// codes, flags and rounded sensor values repeat within a column chunk and
// shrink to a few bits, while a chunk of high-cardinality values (energy
// counters) falls back to plain instead of carrying a dictionary as large
// as the data. Timestamps are delta-encoded (30 s steps). Measured in
// bench/parquet (README): this reaches DuckDB's file size, where plain
// metrics were 1.14× and plain dictionaries larger still.
func writerProps(metrics []string) *parquet.WriterProperties {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(RowGroupRows),
		parquet.WithStats(true),
		parquet.WithDictionaryDefault(false),
		parquet.WithDictionaryFor(colInstallation, true),
		parquet.WithDictionaryFor(colVersion, true),
		parquet.WithEncodingFor(colTimestamp, parquet.Encodings.DeltaBinaryPacked),
		parquet.WithEncodingFor(colReceived, parquet.Encodings.DeltaBinaryPacked),
		parquet.WithCreatedBy("idmtelemetry lake"),
	}
	for _, m := range metrics {
		opts = append(opts, parquet.WithDictionaryFor(m, true), parquet.WithDictionaryCostFallbackFor(m, true))
	}
	return parquet.NewWriterProperties(opts...)
}

// partWriter writes one partition file a row group at a time.
type partWriter struct {
	fw      *pqarrow.FileWriter
	schema  *arrow.Schema
	b       *array.RecordBuilder // the four fixed columns
	inst    *array.StringBuilder
	ts, rcv *array.TimestampBuilder
	ver     *array.StringBuilder
	// The metric columns are staged in plain slices and handed to Arrow
	// without a builder: a builder's per-value Append (capacity check,
	// bitmap update) cost more than the Parquet encoding of the value.
	vals    [][]float64 // vals[j][i]: metric j of pending row i
	bits    [][]byte    // validity bitmaps, like vals
	nulls   []int
	pending int
	rows    int64
}

// sinkOnly hides Close from the Parquet writer: the caller commits or
// aborts the object itself.
type sinkOnly struct{ io.Writer }

func newPartWriter(w io.Writer, metrics []string) (*partWriter, error) {
	schema := lakeSchema(metrics)
	fw, err := pqarrow.NewFileWriter(schema, sinkOnly{w}, writerProps(metrics), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	fixed := arrow.NewSchema(schema.Fields()[:4], nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, fixed)
	pw := &partWriter{
		fw: fw, schema: schema, b: b,
		inst:  b.Field(0).(*array.StringBuilder),
		ts:    b.Field(1).(*array.TimestampBuilder),
		rcv:   b.Field(2).(*array.TimestampBuilder),
		ver:   b.Field(3).(*array.StringBuilder),
		vals:  make([][]float64, len(metrics)),
		bits:  make([][]byte, len(metrics)),
		nulls: make([]int, len(metrics)),
	}
	for j := range metrics {
		pw.vals[j] = make([]float64, batchRows)
		pw.bits[j] = make([]byte, bitutil.BytesForBits(batchRows))
	}
	return pw, nil
}

// add appends one row; vals and valid are indexed like the metrics.
func (pw *partWriter) add(inst string, ts, rcv int64, ver string, vals []float64, valid []bool) error {
	pw.inst.Append(inst)
	pw.ts.Append(arrow.Timestamp(ts))
	pw.rcv.Append(arrow.Timestamp(rcv))
	pw.ver.Append(ver)
	n := pw.pending
	for j, ok := range valid {
		if ok {
			pw.vals[j][n] = vals[j]
			bitutil.SetBit(pw.bits[j], n)
		} else {
			pw.vals[j][n] = 0
			bitutil.ClearBit(pw.bits[j], n)
			pw.nulls[j]++
		}
	}
	pw.pending++
	pw.rows++
	if pw.pending == batchRows {
		return pw.flush()
	}
	return nil
}

// batchRows is how many rows are built before they are encoded into the
// open row group: the builder holds raw values (134 columns × 8 bytes a
// row), the row group only encoded and compressed pages.
const batchRows = 8192

func (pw *partWriter) flush() error {
	n := pw.pending
	if n == 0 {
		return nil
	}
	fixed := pw.b.NewRecordBatch()
	defer fixed.Release()
	cols := make([]arrow.Array, 0, len(pw.schema.Fields()))
	cols = append(cols, fixed.Columns()...)
	for j := range pw.vals {
		var bitmap *memory.Buffer
		if pw.nulls[j] > 0 {
			bitmap = memory.NewBufferBytes(pw.bits[j][:bitutil.BytesForBits(int64(n))])
		}
		values := memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(pw.vals[j][:n]))
		data := array.NewData(arrow.PrimitiveTypes.Float64, n, []*memory.Buffer{bitmap, values}, nil, pw.nulls[j], 0)
		col := array.NewFloat64Data(data)
		data.Release()
		defer col.Release()
		cols = append(cols, col)
		pw.nulls[j] = 0
	}
	rec := array.NewRecordBatch(pw.schema, cols, int64(n))
	defer rec.Release()
	pw.pending = 0
	// WriteBuffered encodes the batch into the open row group (and starts
	// a new one at RowGroupRows, so row groups have the same size as with
	// Write); the staging slices are reused once it returns.
	if err := pw.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("write row group: %w", err)
	}
	return nil
}

// close writes the last row group and the footer (it does not commit).
func (pw *partWriter) close() error {
	defer pw.b.Release()
	if err := pw.flush(); err != nil {
		return err
	}
	return pw.fw.Close()
}

// partReader streams an existing partition file a row group at a time.
type partReader struct {
	src     *RandomReader
	rr      pqarrow.RecordReader
	metrics []string // the file's metric columns, sorted
	rec     arrow.RecordBatch
	i       int
	inst    *array.String
	ts, rcv *array.Timestamp
	ver     *array.String
	cols    []*array.Float64 // indexed like metrics
}

// openParquet opens a lake file for Arrow reads; close the returned source.
func openParquet(ctx context.Context, b *Bucket, key string) (*RandomReader, *pqarrow.FileReader, error) {
	src, err := b.OpenRandom(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	// A read error is the bucket's (retry later); bytes that are not a
	// Parquet file are a broken invariant (ErrCorrupt).
	var magic [4]byte
	if src.Size() < 12 {
		src.Close()
		return nil, nil, fmt.Errorf("%w: %s has %d bytes, too few for Parquet", ErrCorrupt, key, src.Size())
	}
	if _, err := src.ReadAt(magic[:], src.Size()-4); err != nil {
		src.Close()
		return nil, nil, fmt.Errorf("read %s: %w", key, err)
	}
	if string(magic[:]) != "PAR1" {
		src.Close()
		return nil, nil, fmt.Errorf("%w: %s does not end in Parquet's magic bytes", ErrCorrupt, key)
	}
	pf, err := file.NewParquetReader(src)
	if err != nil {
		src.Close()
		return nil, nil, fmt.Errorf("%w: open parquet %s: %v", ErrCorrupt, key, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: batchRows}, memory.DefaultAllocator)
	if err != nil {
		src.Close()
		return nil, nil, fmt.Errorf("open parquet %s: %w", key, err)
	}
	return src, fr, nil
}

func openPartReader(ctx context.Context, b *Bucket, key string) (*partReader, error) {
	src, fr, err := openParquet(ctx, b, key)
	if err != nil {
		return nil, err
	}
	schema, err := fr.Schema()
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("parquet schema %s: %w", key, err)
	}
	r := &partReader{src: src}
	for i, f := range schema.Fields() {
		want := []string{colInstallation, colTimestamp, colReceived, colVersion}
		if i < len(want) {
			if f.Name != want[i] {
				src.Close()
				return nil, fmt.Errorf("%w: parquet %s: column %d is %q, want %q", ErrCorrupt, key, i, f.Name, want[i])
			}
			continue
		}
		r.metrics = append(r.metrics, f.Name)
	}
	if !slices.IsSorted(r.metrics) {
		src.Close()
		return nil, fmt.Errorf("%w: parquet %s: metric columns are not sorted", ErrCorrupt, key)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("read parquet %s: %w", key, err)
	}
	r.rr = rr
	return r, nil
}

// next advances to the next row; false at the end (check err).
func (r *partReader) next() (bool, error) {
	r.i++
	for r.rec == nil || r.i >= int(r.rec.NumRows()) {
		if !r.rr.Next() {
			return false, r.rr.Err()
		}
		r.rec = r.rr.RecordBatch()
		r.i = 0
		r.inst = r.rec.Column(0).(*array.String)
		r.ts = r.rec.Column(1).(*array.Timestamp)
		r.rcv = r.rec.Column(2).(*array.Timestamp)
		r.ver = r.rec.Column(3).(*array.String)
		r.cols = r.cols[:0]
		for j := range r.metrics {
			r.cols = append(r.cols, r.rec.Column(4+j).(*array.Float64))
		}
	}
	return true, nil
}

func (r *partReader) close() {
	if r.rr != nil {
		r.rr.Release()
	}
	r.src.Close()
}
