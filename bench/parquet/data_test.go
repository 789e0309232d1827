package parquetbench

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// Number of key columns before the metrics: installation_id, timestamp,
// received_at, collector_version.
const numKeys = 4

// batch is a column-oriented slice of a partition file: what a merge holds of
// one row group. Null metric cells have valid[j][i] == false and vals[j][i] == 0.
// The big slices of the generated dataset live outside the Go heap (see
// offHeap) so that heap figures measure the libraries, not the input.
type batch struct {
	n     int
	inst  []string // installation_id
	ts    []int64  // timestamp, µs since the epoch, UTC
	recv  []int64  // received_at, µs
	ver   []string // collector_version
	vals  [][]float64
	valid [][]bool
}

func (b *batch) reset(numMetrics, capacity int) {
	b.n = 0
	b.inst = slices.Grow(b.inst[:0], capacity)
	b.ts = slices.Grow(b.ts[:0], capacity)
	b.recv = slices.Grow(b.recv[:0], capacity)
	b.ver = slices.Grow(b.ver[:0], capacity)
	if len(b.vals) != numMetrics {
		b.vals = make([][]float64, numMetrics)
		b.valid = make([][]bool, numMetrics)
	}
	for j := range b.vals {
		b.vals[j] = slices.Grow(b.vals[j][:0], capacity)
		b.valid[j] = slices.Grow(b.valid[j][:0], capacity)
	}
}

// dataset is one partition file's rows plus its metric names (sorted).
type dataset struct {
	fields []string
	batch
}

var (
	dataOnce sync.Once
	data     *dataset
	dataErr  error
)

// fleetDay returns the benchmark partition: 100 installations of one model,
// one UTC day at 30 s (about 288k rows), sorted by (installation_id, timestamp).
func fleetDay(tb testing.TB) *dataset {
	tb.Helper()
	dataOnce.Do(func() {
		t0 := time.Now()
		data, dataErr = generate(1, 100)
		if dataErr == nil {
			tb.Logf("generated %d rows × %d metrics in %s", data.n, len(data.fields), time.Since(t0).Round(time.Millisecond))
		}
	})
	if dataErr != nil {
		tb.Fatal(dataErr)
	}
	return data
}

var (
	smallOnce sync.Once
	small     *dataset
	smallErr  error
)

// testData returns the dataset and row group size for correctness tests:
// the full partition with 64k-row groups normally, and 3 installations with
// 1k-row groups under -short or -race (make test), which still spans
// several row groups, pages, nulls and all-null chunks.
func testData(tb testing.TB) (*dataset, int) {
	tb.Helper()
	if !testing.Short() && !raceEnabled {
		return fleetDay(tb), 64 << 10
	}
	smallOnce.Do(func() { small, smallErr = generate(1, 3) })
	if smallErr != nil {
		tb.Fatal(smallErr)
	}
	return small, 1 << 10
}

var versions = []string{"idm-collector/1.4.2", "idm-collector/1.5.0", "idm-collector/1.5.1"}

func generate(seed uint64, installations int) (*dataset, error) {
	fleet, err := simulate.NewFleet(seed, installations, 1)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(fleet, func(a, b simulate.Installation) int { return strings.Compare(a.ID, b.ID) })
	until := simulate.DefaultStart.Add(24 * time.Hour)

	// Generate one installation at a time, keeping only the columns.
	type inst struct {
		recs   []simulate.Record
		fields []string
	}
	per := make([]inst, len(fleet))
	var wg sync.WaitGroup
	errs := make([]error, len(fleet))
	sem := make(chan struct{}, 2)
	for i := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			g, err := simulate.NewGenerator(fleet[i], simulate.Config{})
			if err != nil {
				errs[i] = err
				return
			}
			per[i] = inst{recs: g.Generate(nil, until), fields: g.Fields()}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}

	// The lake's columns: the union of metric names, sorted.
	var fields []string
	for _, p := range per {
		fields = append(fields, p.fields...)
	}
	slices.Sort(fields)
	fields = slices.Compact(fields)
	index := make(map[string]int, len(fields))
	for j, f := range fields {
		index[f] = j
	}
	n := 0
	for _, p := range per {
		n += len(p.recs)
	}

	d := &dataset{fields: fields}
	d.n = n
	d.inst = make([]string, 0, n) // strings must stay on the Go heap
	d.ver = make([]string, 0, n)
	d.ts = offHeap[int64](n)[:0]
	d.recv = offHeap[int64](n)[:0]
	d.vals = make([][]float64, len(fields))
	d.valid = make([][]bool, len(fields))
	for j := range fields {
		d.vals[j] = offHeap[float64](n)
		d.valid[j] = offHeap[bool](n)
	}
	row := 0
	for i, p := range per {
		id := fleet[i].ID
		col := make([]int, len(p.fields))
		for k, f := range p.fields {
			col[k] = index[f]
		}
		for k, r := range p.recs {
			ms := int64(math.Round(r.Timestamp * 1000))
			ts := ms * 1000
			// Collectors send a batch every 5 minutes; the server stamps
			// arrival with µs precision.
			recv := (ms/300_000+1)*300_000_000 + int64(mix(uint64(i), uint64(k))%2_000_000)
			d.inst = append(d.inst, id)
			d.ts = append(d.ts, ts)
			d.recv = append(d.recv, recv)
			v := versions[i%len(versions)]
			if i%7 == 3 && k >= len(p.recs)/2 { // upgraded at noon
				v = versions[len(versions)-1]
			}
			d.ver = append(d.ver, v)
			for f, x := range r.Values {
				j := col[f]
				null := false
				switch {
				case j%13 == 5: // flaky registers: ~5% of reads fail
					null = mix(uint64(row), uint64(j))%20 == 0
				case j == len(fields)-1: // a metric newer collectors added
					null = i < len(fleet)/2
				case j == 7 && i%10 == 0: // a sensor some installations lack
					null = true
				}
				if !null {
					d.vals[j][row] = x
					d.valid[j][row] = true
				}
			}
			row++
		}
	}
	if row != n {
		return nil, fmt.Errorf("generated %d rows, want %d", row, n)
	}
	return d, nil
}

func mix(a, b uint64) uint64 {
	x := a*0x9E3779B97F4A7C15 ^ (b + 0x632BE59BD9B4E019)
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 29
	return x
}

// offHeap returns a zeroed slice in anonymous mmap'd memory, invisible to the
// Go heap (and never freed). Only pointer-free element types. Under the race
// detector (tests only) it returns heap memory: the detector is slow on
// large foreign mappings.
func offHeap[T int64 | float64 | bool | byte](n int) []T {
	if raceEnabled {
		return make([]T, n)
	}
	var zero T
	size := max(int(unsafe.Sizeof(zero))*n, 1)
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic(err)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[0])), n)
}

// sink is an io.Writer into a fixed off-heap buffer, so that the written file
// does not count as writer memory (in the lake it streams to a blob writer).
type sink struct{ buf []byte }

func newSink(capacity int) *sink {
	if raceEnabled {
		return &sink{buf: make([]byte, 0, 1<<20)}
	}
	return &sink{buf: offHeap[byte](capacity)[:0]}
}

func (s *sink) Write(p []byte) (int, error) {
	if len(s.buf)+len(p) > cap(s.buf) && !raceEnabled {
		return 0, fmt.Errorf("sink full (%d bytes)", cap(s.buf))
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *sink) Reset()                { s.buf = s.buf[:0] }
func (s *sink) Bytes() []byte         { return s.buf }
func (s *sink) Len() int              { return len(s.buf) }
func (s *sink) Reader() *bytes.Reader { return bytes.NewReader(s.buf) }

// collect returns a reader callback that appends every batch to a new dataset
// (for round-trip checks).
func collect(fields []string, out *dataset) func(*batch) error {
	out.fields = fields
	out.reset(len(fields), 0)
	return func(b *batch) error {
		out.n += b.n
		out.inst = append(out.inst, b.inst...)
		out.ts = append(out.ts, b.ts...)
		out.recv = append(out.recv, b.recv...)
		out.ver = append(out.ver, b.ver...)
		for j := range b.vals {
			out.vals[j] = append(out.vals[j], b.vals[j]...)
			out.valid[j] = append(out.valid[j], b.valid[j]...)
		}
		return nil
	}
}

// interner turns the bytes of a sorted string column into strings, allocating
// only when the value changes (dictionary columns of sorted files change
// rarely), like a merge would.
type interner struct{ last string }

func (in *interner) bytes(b []byte) string {
	if string(b) != in.last {
		in.last = string(b)
	}
	return in.last
}

func (in *interner) str(s string) string {
	if s != in.last {
		in.last = strings.Clone(s)
	}
	return in.last
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
