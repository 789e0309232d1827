package parquetbench

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding"
)

// orderedGroup is a parquet-go group node whose fields keep the given order.
// parquet.Group is a map and sorts its fields by name, which would put
// collector_version first and interleave the keys with the metrics.
type orderedGroup []orderedField

type orderedField struct {
	parquet.Node
	name string
}

func (f *orderedField) Name() string { return f.name }

func (f *orderedField) Value(base reflect.Value) reflect.Value {
	// Only used when writing Go values (structs/maps); we write parquet.Rows.
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return base.FieldByName(f.name)
}

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return "ordered group" }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }
func (g orderedGroup) Fields() []parquet.Field {
	fs := make([]parquet.Field, len(g))
	for i := range g {
		fs[i] = &g[i]
	}
	return fs
}

// pqgoSchema is the lake's schema for parquet-go, columns in lake order.
func pqgoSchema(fields []string) *parquet.Schema {
	dictString := parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
	g := make(orderedGroup, 0, numKeys+len(fields))
	g = append(g,
		orderedField{dictString, "installation_id"},
		orderedField{parquet.Timestamp(parquet.Microsecond), "timestamp"}, // isAdjustedToUTC=true
		orderedField{parquet.Timestamp(parquet.Microsecond), "received_at"},
		orderedField{dictString, "collector_version"},
	)
	for _, f := range fields {
		g = append(g, orderedField{parquet.Optional(parquet.Leaf(parquet.DoubleType)), f})
	}
	return parquet.NewSchema("schema", g)
}

func pqgoWriterOptions(schema *parquet.Schema, rowGroupRows int) []parquet.WriterOption {
	return []parquet.WriterOption{
		schema,
		parquet.Compression(&zstd.Codec{}), // klauspost zstd, SpeedDefault (as arrow-go)
		parquet.MaxRowsPerRowGroup(int64(rowGroupRows)),
		parquet.PageBufferSize(parquet.DefaultPageBufferSize),
		// Column chunk statistics (min/max/null count) are always written;
		// page statistics and column/offset indexes are on by default.
	}
}

// rowChunk is how many parquet.Rows are built and written per WriteRows call.
const rowChunk = 1024

// writePqgoRows writes d row by row: parquet.Row values built in chunks of
// rowChunk and handed to Writer.WriteRows; MaxRowsPerRowGroup cuts the row
// groups.
func writePqgoRows(w io.Writer, d *dataset, rowGroupRows int, opts []parquet.WriterOption) error {
	if opts == nil {
		opts = pqgoWriterOptions(pqgoSchema(d.fields), rowGroupRows)
	}
	pw := parquet.NewWriter(w, opts...)
	width := numKeys + len(d.vals)
	rows := make([]parquet.Row, rowChunk)
	cells := make([]parquet.Value, rowChunk*width)
	for i := range rows {
		rows[i] = cells[i*width : (i+1)*width : (i+1)*width]
	}
	for lo := 0; lo < d.n; lo += rowChunk {
		hi := min(lo+rowChunk, d.n)
		for r := lo; r < hi; r++ {
			row := rows[r-lo]
			row[0] = parquet.ByteArrayValue(stringBytes(d.inst[r])).Level(0, 0, 0)
			row[1] = parquet.Int64Value(d.ts[r]).Level(0, 0, 1)
			row[2] = parquet.Int64Value(d.recv[r]).Level(0, 0, 2)
			row[3] = parquet.ByteArrayValue(stringBytes(d.ver[r])).Level(0, 0, 3)
			for j := range d.vals {
				c := numKeys + j
				if d.valid[j][r] {
					row[c] = parquet.DoubleValue(d.vals[j][r]).Level(0, 1, c)
				} else {
					row[c] = parquet.NullValue().Level(0, 0, c)
				}
			}
		}
		if _, err := pw.WriteRows(rows[:hi-lo]); err != nil {
			pw.Close()
			return err
		}
	}
	return pw.Close()
}

// writePqgoColumns writes d column by column: for each row group, each
// column's values go to its ColumnWriter with WriteRowValues, then Flush
// closes the row group.
func writePqgoColumns(w io.Writer, d *dataset, rowGroupRows int, opts []parquet.WriterOption) error {
	if opts == nil {
		opts = pqgoWriterOptions(pqgoSchema(d.fields), rowGroupRows)
	}
	pw := parquet.NewWriter(w, opts...)
	cols := pw.ColumnWriters()
	vals := make([]parquet.Value, rowChunk)
	for lo := 0; lo < d.n; lo += rowGroupRows {
		hi := min(lo+rowGroupRows, d.n)
		for c, cw := range cols {
			for clo := lo; clo < hi; clo += rowChunk {
				chi := min(clo+rowChunk, hi)
				v := vals[:chi-clo]
				switch c {
				case 0:
					for i := range v {
						v[i] = parquet.ByteArrayValue(stringBytes(d.inst[clo+i])).Level(0, 0, c)
					}
				case 1:
					for i := range v {
						v[i] = parquet.Int64Value(d.ts[clo+i]).Level(0, 0, c)
					}
				case 2:
					for i := range v {
						v[i] = parquet.Int64Value(d.recv[clo+i]).Level(0, 0, c)
					}
				case 3:
					for i := range v {
						v[i] = parquet.ByteArrayValue(stringBytes(d.ver[clo+i])).Level(0, 0, c)
					}
				default:
					j := c - numKeys
					fv, ok := d.vals[j][clo:chi], d.valid[j][clo:chi]
					for i := range v {
						if ok[i] {
							v[i] = parquet.DoubleValue(fv[i]).Level(0, 1, c)
						} else {
							v[i] = parquet.NullValue().Level(0, 0, c)
						}
					}
				}
				if _, err := cw.WriteRowValues(v); err != nil {
					pw.Close()
					return err
				}
			}
		}
		if err := pw.Flush(); err != nil { // ends the row group
			pw.Close()
			return err
		}
	}
	return pw.Close()
}

func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// readPqgoPages streams a file with parquet-go, row group by row group and
// page by page: dense values from Page.Data(), nulls from the definition
// levels, strings through the page's dictionary.
func readPqgoPages(r io.ReaderAt, size int64, fn func(*batch) error) error {
	f, err := parquet.OpenFile(r, size, parquet.SkipBloomFilters(true))
	if err != nil {
		return err
	}
	numMetrics := len(f.Schema().Columns()) - numKeys
	var b batch
	var instIn, verIn interner
	var dictStrs []string
	var scratch []uint64
	var lastDict parquet.Dictionary
	for _, rg := range f.RowGroups() {
		n := int(rg.NumRows())
		b.reset(numMetrics, n)
		b.n = n
		for c, cc := range rg.ColumnChunks() {
			pages := cc.Pages()
			row := 0
			for {
				p, err := pages.ReadPage()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					pages.Close()
					return err
				}
				switch c {
				case 0, 3:
					in, dst := &instIn, &b.inst
					if c == 3 {
						in, dst = &verIn, &b.ver
					}
					if dict := p.Dictionary(); dict != nil {
						if dict != lastDict {
							dictStrs = dictStrs[:0]
							for k := 0; k < dict.Len(); k++ {
								dictStrs = append(dictStrs, string(dict.Index(int32(k)).ByteArray()))
							}
							lastDict = dict
						}
						data := p.Data()
						for _, k := range data.Int32() {
							*dst = append(*dst, in.str(dictStrs[k]))
						}
					} else {
						values := p.Data()
						data, offsets := values.ByteArray()
						for k := 0; k+1 < len(offsets); k++ {
							*dst = append(*dst, in.bytes(data[offsets[k]:offsets[k+1]]))
						}
					}
				case 1:
					b.ts = append(b.ts, pageInt64s(p, &scratch)...)
				case 2:
					b.recv = append(b.recv, pageInt64s(p, &scratch)...)
				default:
					j := c - numKeys
					def := p.DefinitionLevels()
					k := len(def)
					scatter(b.vals[j][row:row+k], b.valid[j][row:row+k], pageDoubles(p, &scratch), def)
					row += k
					b.vals[j], b.valid[j] = b.vals[j][:row], b.valid[j][:row]
				}
				parquet.Release(p)
			}
			pages.Close()
			if c >= numKeys && row != n {
				return fmt.Errorf("column %d: %d of %d rows", c, row, n)
			}
		}
		if err := fn(&b); err != nil {
			return err
		}
	}
	return nil
}

// pageInt64s returns the dense (non-null) values of an INT64 page. Pages of
// dictionary-encoded chunks hold indexes into the chunk's dictionary
// (Data() is then INT32), which are resolved here.
func pageInt64s(p parquet.Page, scratch *[]uint64) []int64 {
	data := p.Data()
	dict := p.Dictionary()
	if dict == nil {
		return data.Int64()
	}
	dv := dict.Page().Data()
	values := dv.Int64()
	idx := data.Int32()
	out := unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(grow(scratch, len(idx))))), len(idx))
	for i, k := range idx {
		out[i] = values[k]
	}
	return out
}

// pageDoubles is pageInt64s for DOUBLE pages.
func pageDoubles(p parquet.Page, scratch *[]uint64) []float64 {
	data := p.Data()
	dict := p.Dictionary()
	if dict == nil {
		return data.Double()
	}
	dv := dict.Page().Data()
	values := dv.Double()
	idx := data.Int32()
	out := unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(grow(scratch, len(idx))))), len(idx))
	for i, k := range idx {
		out[i] = values[k]
	}
	return out
}

func grow(s *[]uint64, n int) []uint64 {
	if cap(*s) < n {
		*s = make([]uint64, n)
	}
	return (*s)[:n]
}
