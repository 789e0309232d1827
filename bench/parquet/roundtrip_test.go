package parquetbench

import (
	"fmt"
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// writers and readers under test. Each reader reads each writer's file.
type writerFunc func(s *sink, d *dataset, rowGroupRows int, mem memory.Allocator) error

type namedWriter struct {
	name  string
	write writerFunc
}

var writers = []namedWriter{
	{"arrow", func(s *sink, d *dataset, rg int, mem memory.Allocator) error { return writeArrow(s, d, rg, mem, nil) }},
	{"arrow-buffered", func(s *sink, d *dataset, rg int, mem memory.Allocator) error {
		return writeArrowBuffered(s, d, rg, mem, nil)
	}},
	{"arrow-cols", func(s *sink, d *dataset, rg int, mem memory.Allocator) error {
		return writeArrowColumns(s, d, rg, mem, nil)
	}},
	{"pqgo-rows", func(s *sink, d *dataset, rg int, _ memory.Allocator) error { return writePqgoRows(s, d, rg, nil) }},
	{"pqgo-cols", func(s *sink, d *dataset, rg int, _ memory.Allocator) error { return writePqgoColumns(s, d, rg, nil) }},
}

type readerFunc func(buf []byte, mem memory.Allocator, fn func(*batch) error) error

var readers = []struct {
	name string
	read readerFunc
}{
	{"arrow-records", func(buf []byte, mem memory.Allocator, fn func(*batch) error) error {
		return readArrowRecords(bytesReader(buf), mem, fn)
	}},
	{"arrow-columns", func(buf []byte, mem memory.Allocator, fn func(*batch) error) error {
		return readArrowColumns(bytesReader(buf), mem, fn)
	}},
	{"pqgo-pages", func(buf []byte, _ memory.Allocator, fn func(*batch) error) error {
		return readPqgoPages(bytesReader(buf), int64(len(buf)), fn)
	}},
}

// TestRoundTrip writes the partition with every writer and reads every file
// back with every reader, comparing every value and null, so that the
// benchmarks measure complete, correct work.
func TestRoundTrip(t *testing.T) {
	d, rg := testData(t)
	out := newSink(1 << 30)
	for _, w := range writers {
		// One file with several row groups, one with a single row group
		// (under -short/-race only for one writer per library).
		rgs := []int{rg, 1 << 20}
		if (testing.Short() || raceEnabled) && w.name != "arrow-cols" && w.name != "pqgo-rows" {
			rgs = rgs[:1]
		}
		for _, rg := range rgs {
			out.Reset()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			if err := w.write(out, d, rg, mem); err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			mem.AssertSize(t, 0)
			for _, r := range readers {
				t.Run(fmt.Sprintf("%s/rg=%d/%s", w.name, rg, r.name), func(t *testing.T) {
					var got dataset
					mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
					if err := r.read(out.Bytes(), mem, collect(d.fields, &got)); err != nil {
						t.Fatal(err)
					}
					mem.AssertSize(t, 0)
					compare(t, d, &got)
				})
			}
		}
	}
}

func compare(t *testing.T, want, got *dataset) {
	t.Helper()
	if got.n != want.n {
		t.Fatalf("rows: got %d, want %d", got.n, want.n)
	}
	if len(got.vals) != len(want.vals) {
		t.Fatalf("metrics: got %d, want %d", len(got.vals), len(want.vals))
	}
	bad := 0
	fail := func(format string, args ...any) {
		t.Helper()
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	for i := 0; i < want.n; i++ {
		if got.inst[i] != want.inst[i] || got.ts[i] != want.ts[i] || got.recv[i] != want.recv[i] || got.ver[i] != want.ver[i] {
			fail("row %d keys: got (%s %d %d %s), want (%s %d %d %s)", i,
				got.inst[i], got.ts[i], got.recv[i], got.ver[i], want.inst[i], want.ts[i], want.recv[i], want.ver[i])
		}
	}
	nulls := 0
	for j := range want.vals {
		if len(got.vals[j]) != want.n || len(got.valid[j]) != want.n {
			t.Fatalf("%s: %d values, %d validity, want %d", want.fields[j], len(got.vals[j]), len(got.valid[j]), want.n)
		}
		for i := 0; i < want.n; i++ {
			if got.valid[j][i] != want.valid[j][i] {
				fail("%s row %d: valid %v, want %v", want.fields[j], i, got.valid[j][i], want.valid[j][i])
				continue
			}
			if !want.valid[j][i] {
				nulls++
				continue
			}
			if math.Float64bits(got.vals[j][i]) != math.Float64bits(want.vals[j][i]) {
				fail("%s row %d: %v, want %v", want.fields[j], i, got.vals[j][i], want.vals[j][i])
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d mismatches in all", bad)
	}
	if nulls == 0 {
		t.Error("no nulls in the data: the test would not catch null handling")
	}
}
