package parquetbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// arrowSchema is the lake's Arrow schema: keys then one nullable float64
// per metric, in the given (sorted) order.
func arrowSchema(fields []string) *arrow.Schema {
	fs := make([]arrow.Field, 0, numKeys+len(fields))
	fs = append(fs,
		arrow.Field{Name: "installation_id", Type: arrow.BinaryTypes.String},
		// Timestamp_us is TIMESTAMP(MICROS) with TimeZone "UTC": pqarrow writes
		// it as TIMESTAMP(isAdjustedToUTC=true, unit=MICROS). A zone-less
		// arrow timestamp would come out isAdjustedToUTC=false (local time).
		arrow.Field{Name: "timestamp", Type: arrow.FixedWidthTypes.Timestamp_us},
		arrow.Field{Name: "received_at", Type: arrow.FixedWidthTypes.Timestamp_us},
		arrow.Field{Name: "collector_version", Type: arrow.BinaryTypes.String},
	)
	for _, f := range fields {
		fs = append(fs, arrow.Field{Name: f, Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	return arrow.NewSchema(fs, nil)
}

// arrowWriterProps are the lake's writer settings for arrow-go.
func arrowWriterProps(rowGroupRows int, mem memory.Allocator) *parquet.WriterProperties {
	return parquet.NewWriterProperties(
		parquet.WithAllocator(mem),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithDictionaryDefault(false), // doubles: PLAIN (see TestSizes)
		parquet.WithDictionaryFor("installation_id", true),
		parquet.WithDictionaryFor("collector_version", true),
		parquet.WithStats(true), // the default; min/max + null count per chunk
		parquet.WithMaxRowGroupLength(int64(rowGroupRows)),
	)
}

// writeArrow writes d as one Parquet file with arrow-go: one RecordBuilder
// record per row group, FileWriter.Write per record.
func writeArrow(w io.Writer, d *dataset, rowGroupRows int, mem memory.Allocator, props *parquet.WriterProperties) error {
	if props == nil {
		props = arrowWriterProps(rowGroupRows, mem)
	}
	sc := arrowSchema(d.fields)
	fw, err := pqarrow.NewFileWriter(sc, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		return err
	}
	rb := array.NewRecordBuilder(mem, sc)
	defer rb.Release()
	for lo := 0; lo < d.n; lo += rowGroupRows {
		hi := min(lo+rowGroupRows, d.n)
		rb.Reserve(hi - lo)
		rb.Field(0).(*array.StringBuilder).AppendValues(d.inst[lo:hi], nil)
		rb.Field(1).(*array.TimestampBuilder).AppendValues(asTimestamps(d.ts[lo:hi]), nil)
		rb.Field(2).(*array.TimestampBuilder).AppendValues(asTimestamps(d.recv[lo:hi]), nil)
		rb.Field(3).(*array.StringBuilder).AppendValues(d.ver[lo:hi], nil)
		for j := range d.vals {
			rb.Field(numKeys+j).(*array.Float64Builder).AppendValues(d.vals[j][lo:hi], d.valid[j][lo:hi])
		}
		rec := rb.NewRecordBatch()
		err := fw.Write(rec) // one row group per record (≤ MaxRowGroupLength)
		rec.Release()
		if err != nil {
			fw.Close()
			return err
		}
	}
	return fw.Close()
}

func asTimestamps(s []int64) []arrow.Timestamp {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*arrow.Timestamp)(unsafe.Pointer(&s[0])), len(s))
}

// readArrowRecords streams a file with pqarrow, one RecordReader per row
// group (batch = row group), copying each column into the batch's slices.
func readArrowRecords(r parquet.ReaderAtSeeker, mem memory.Allocator, fn func(*batch) error) error {
	pf, err := file.NewParquetReader(r, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return err
	}
	defer pf.Close()
	numMetrics := pf.MetaData().Schema.NumColumns() - numKeys
	maxRows := int64(0)
	for i := 0; i < pf.NumRowGroups(); i++ {
		maxRows = max(maxRows, pf.RowGroup(i).NumRows())
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: max(maxRows, 1)}, mem)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var b batch
	var instIn, verIn interner
	for rg := 0; rg < pf.NumRowGroups(); rg++ {
		rr, err := fr.GetRecordReader(ctx, nil, []int{rg})
		if err != nil {
			return err
		}
		for rr.Next() {
			rec := rr.RecordBatch()
			n := int(rec.NumRows())
			b.reset(numMetrics, n)
			b.n = n
			ids := rec.Column(0).(*array.String)
			vers := rec.Column(3).(*array.String)
			for i := 0; i < n; i++ {
				b.inst = append(b.inst, instIn.str(ids.Value(i)))
				b.ver = append(b.ver, verIn.str(vers.Value(i)))
			}
			b.ts = append(b.ts, fromTimestamps(rec.Column(1).(*array.Timestamp).TimestampValues())...)
			b.recv = append(b.recv, fromTimestamps(rec.Column(2).(*array.Timestamp).TimestampValues())...)
			for j := 0; j < numMetrics; j++ {
				col := rec.Column(numKeys + j).(*array.Float64)
				vals := b.vals[j][:n]
				valid := b.valid[j][:n]
				copy(vals, col.Float64Values())
				if col.NullN() == 0 {
					for i := range valid {
						valid[i] = true
					}
				} else {
					for i := range valid {
						valid[i] = col.IsValid(i)
						if !valid[i] {
							vals[i] = 0
						}
					}
				}
				b.vals[j], b.valid[j] = vals, valid
			}
			if err := fn(&b); err != nil {
				rr.Release()
				return err
			}
		}
		err = rr.Err()
		rr.Release()
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	return nil
}

func fromTimestamps(s []arrow.Timestamp) []int64 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*int64)(unsafe.Pointer(&s[0])), len(s))
}

// readArrowColumns streams a file with arrow-go's low-level column chunk
// readers (no Arrow arrays): ReadBatch gives dense values and definition
// levels, which are scattered into the batch.
func readArrowColumns(r parquet.ReaderAtSeeker, mem memory.Allocator, fn func(*batch) error) error {
	pf, err := file.NewParquetReader(r, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return err
	}
	defer pf.Close()
	numMetrics := pf.MetaData().Schema.NumColumns() - numKeys
	var (
		b      batch
		dense  []float64
		defLvl []int16
		bas    []parquet.ByteArray
	)
	var instIn, verIn interner
	for rg := 0; rg < pf.NumRowGroups(); rg++ {
		rgr := pf.RowGroup(rg)
		n := int(rgr.NumRows())
		b.reset(numMetrics, n)
		b.n = n
		if cap(dense) < n {
			dense = make([]float64, n)
			defLvl = make([]int16, n)
			bas = make([]parquet.ByteArray, n)
		}
		for c := 0; c < numKeys+numMetrics; c++ {
			cr, err := rgr.Column(c)
			if err != nil {
				return err
			}
			err = readArrowColumn(cr, c, n, &b, &instIn, &verIn, bas, dense, defLvl)
			// Pitfall: column chunk readers hold allocator buffers (pages,
			// decompression) until closed.
			if cerr := cr.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
		if err := fn(&b); err != nil {
			return err
		}
	}
	return nil
}

// readArrowColumn reads column c (n rows) of a row group into b.
func readArrowColumn(cr file.ColumnChunkReader, c, n int, b *batch, instIn, verIn *interner, bas []parquet.ByteArray, dense []float64, defLvl []int16) error {
	switch c {
	case 0, 3:
		ccr := cr.(*file.ByteArrayColumnChunkReader)
		got, err := readAll(n, func(lo int) (int64, int, error) {
			return ccr.ReadBatch(int64(n-lo), bas[lo:n], nil, nil)
		})
		if err != nil {
			return err
		}
		in, dst := instIn, &b.inst
		if c == 3 {
			in, dst = verIn, &b.ver
		}
		for _, v := range bas[:got] {
			*dst = append(*dst, in.bytes(v))
		}
	case 1, 2:
		ccr := cr.(*file.Int64ColumnChunkReader)
		dst := &b.ts
		if c == 2 {
			dst = &b.recv
		}
		*dst = (*dst)[:n]
		if _, err := readAll(n, func(lo int) (int64, int, error) {
			return ccr.ReadBatch(int64(n-lo), (*dst)[lo:n], nil, nil)
		}); err != nil {
			return err
		}
	default:
		ccr := cr.(*file.Float64ColumnChunkReader)
		// ReadBatch packs the non-null values at the front of its
		// chunk; track both offsets.
		levels, values := 0, 0
		for levels < n {
			total, nv, err := ccr.ReadBatch(int64(n-levels), dense[values:n], defLvl[levels:n], nil)
			if err != nil {
				return err
			}
			if total == 0 {
				return fmt.Errorf("column %d: short read %d of %d", c, levels, n)
			}
			levels += int(total)
			values += nv
		}
		j := c - numKeys
		scatter(b.vals[j][:n], b.valid[j][:n], dense[:values], defLvl[:n])
		b.vals[j], b.valid[j] = b.vals[j][:n], b.valid[j][:n]
	}
	return nil
}

// readAll calls read until n values have been read (ReadBatch may stop at
// page boundaries).
func readAll(n int, read func(lo int) (int64, int, error)) (int, error) {
	lo := 0
	for lo < n {
		total, _, err := read(lo)
		if err != nil {
			return lo, err
		}
		if total == 0 {
			return lo, fmt.Errorf("short read: %d of %d", lo, n)
		}
		lo += int(total)
	}
	return lo, nil
}

// scatter expands dense non-null values by definition levels (1 = present).
func scatter[L int16 | byte](vals []float64, valid []bool, dense []float64, def []L) {
	k := 0
	for i, l := range def {
		if l != 0 {
			vals[i] = dense[k]
			valid[i] = true
			k++
		} else {
			vals[i] = 0
			valid[i] = false
		}
	}
}

// arrowParquetSchema is the lake's schema for arrow-go's low-level file
// writer (no Arrow arrays involved).
func arrowParquetSchema(fields []string) (*schema.GroupNode, error) {
	must := func(n *schema.PrimitiveNode, err error) schema.Node {
		if err != nil {
			panic(err)
		}
		return n
	}
	ts := schema.NewTimestampLogicalType(true, schema.TimeUnitMicros) // isAdjustedToUTC
	nodes := schema.FieldList{
		must(schema.NewPrimitiveNodeLogical("installation_id", parquet.Repetitions.Required, schema.StringLogicalType{}, parquet.Types.ByteArray, -1, -1)),
		must(schema.NewPrimitiveNodeLogical("timestamp", parquet.Repetitions.Required, ts, parquet.Types.Int64, -1, -1)),
		must(schema.NewPrimitiveNodeLogical("received_at", parquet.Repetitions.Required, ts, parquet.Types.Int64, -1, -1)),
		must(schema.NewPrimitiveNodeLogical("collector_version", parquet.Repetitions.Required, schema.StringLogicalType{}, parquet.Types.ByteArray, -1, -1)),
	}
	for _, f := range fields {
		nodes = append(nodes, schema.NewFloat64Node(f, parquet.Repetitions.Optional, -1))
	}
	return schema.NewGroupNode("schema", parquet.Repetitions.Required, nodes, -1)
}

// writeArrowColumns writes d with arrow-go's low-level file writer: one
// SerialRowGroupWriter per row group, each column written with its typed
// ColumnChunkWriter.WriteBatch (dense values + definition levels).
func writeArrowColumns(w io.Writer, d *dataset, rowGroupRows int, mem memory.Allocator, props *parquet.WriterProperties) error {
	if props == nil {
		props = arrowWriterProps(rowGroupRows, mem)
	}
	sc, err := arrowParquetSchema(d.fields)
	if err != nil {
		return err
	}
	pw, err := file.NewParquetWriterWithError(w, sc, file.WithWriterProps(props))
	if err != nil {
		return err
	}
	n := min(rowGroupRows, d.n)
	bas := make([]parquet.ByteArray, n)
	dense := make([]float64, n)
	def := make([]int16, n)
	for lo := 0; lo < d.n; lo += rowGroupRows {
		hi := min(lo+rowGroupRows, d.n)
		rgw, err := pw.AppendRowGroupChecked()
		if err != nil {
			pw.Close()
			return err
		}
		for c := 0; c < numKeys+len(d.vals); c++ {
			cw, err := rgw.NextColumn()
			if err != nil {
				pw.Close()
				return err
			}
			switch c {
			case 0, 3:
				src := d.inst[lo:hi]
				if c == 3 {
					src = d.ver[lo:hi]
				}
				for i, s := range src {
					bas[i] = stringBytes(s)
				}
				_, err = cw.(*file.ByteArrayColumnChunkWriter).WriteBatch(bas[:hi-lo], nil, nil)
			case 1:
				_, err = cw.(*file.Int64ColumnChunkWriter).WriteBatch(d.ts[lo:hi], nil, nil)
			case 2:
				_, err = cw.(*file.Int64ColumnChunkWriter).WriteBatch(d.recv[lo:hi], nil, nil)
			default:
				j := c - numKeys
				k := 0
				for i, ok := range d.valid[j][lo:hi] {
					if ok {
						dense[k] = d.vals[j][lo+i]
						def[i] = 1
						k++
					} else {
						def[i] = 0
					}
				}
				_, err = cw.(*file.Float64ColumnChunkWriter).WriteBatch(dense[:k], def[:hi-lo], nil)
			}
			if err == nil {
				err = cw.Close()
			}
			if err != nil {
				pw.Close()
				return err
			}
		}
		if err := rgw.Close(); err != nil {
			pw.Close()
			return err
		}
	}
	return pw.Close()
}

// streamChunk is the record size of the streaming writers: a merge emits
// rows in small sorted batches, not a row group at a time.
const streamChunk = 4096

// writeArrowBuffered writes d the way a streaming merge would with pqarrow:
// small records (streamChunk rows) appended with FileWriter.WriteBuffered,
// which keeps the current row group's encoded columns in memory and starts
// a new one when MaxRowGroupLength is reached.
func writeArrowBuffered(w io.Writer, d *dataset, rowGroupRows int, mem memory.Allocator, props *parquet.WriterProperties) error {
	if props == nil {
		props = arrowWriterProps(rowGroupRows, mem)
	}
	sc := arrowSchema(d.fields)
	fw, err := pqarrow.NewFileWriter(sc, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		return err
	}
	rb := array.NewRecordBuilder(mem, sc)
	defer rb.Release()
	for lo := 0; lo < d.n; lo += streamChunk {
		hi := min(lo+streamChunk, d.n)
		rb.Field(0).(*array.StringBuilder).AppendValues(d.inst[lo:hi], nil)
		rb.Field(1).(*array.TimestampBuilder).AppendValues(asTimestamps(d.ts[lo:hi]), nil)
		rb.Field(2).(*array.TimestampBuilder).AppendValues(asTimestamps(d.recv[lo:hi]), nil)
		rb.Field(3).(*array.StringBuilder).AppendValues(d.ver[lo:hi], nil)
		for j := range d.vals {
			rb.Field(numKeys+j).(*array.Float64Builder).AppendValues(d.vals[j][lo:hi], d.valid[j][lo:hi])
		}
		rec := rb.NewRecordBatch()
		err := fw.WriteBuffered(rec)
		rec.Release()
		if err != nil {
			fw.Close()
			return err
		}
	}
	return fw.Close()
}
