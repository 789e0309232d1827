package parquetbench

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

var rowGroupSizes = map[string]int{"64k": 64 << 10, "128k": 128 << 10, "1M": 1 << 20}

// writeMatrix: the row-group trade-off for the main candidates, 64k (the
// brief's default) for the rest, to keep a -count 3 run near two minutes.
var writeMatrix = []struct {
	writer string
	rgs    []string
}{
	{"arrow", []string{"64k", "1M"}},
	{"arrow-buffered", []string{"64k", "128k", "1M"}},
	{"arrow-cols", []string{"64k", "128k", "1M"}},
	{"pqgo-rows", []string{"64k", "128k", "1M"}},
	{"pqgo-cols", []string{"64k"}},
}

// BenchmarkWrite writes the 288k-row partition (input already in memory,
// off heap) into an off-heap buffer. MB/s is Parquet bytes out per second.
func BenchmarkWrite(b *testing.B) {
	d := fleetDay(b)
	out := newSink(1 << 30)
	for _, m := range writeMatrix {
		w := writerNamed(m.writer)
		for _, rg := range m.rgs {
			b.Run(fmt.Sprintf("lib=%s/rg=%s", w.name, rg), func(b *testing.B) {
				mem := memory.NewGoAllocator()
				run(b, d.n, func() error {
					out.Reset()
					return w.write(out, d, rowGroupSizes[rg], mem)
				})
				b.SetBytes(int64(out.Len()))
				b.ReportMetric(float64(out.Len())/float64(d.n), "B/row")
			})
		}
	}
}

// BenchmarkRead streams a file back row group by row group into per-column
// slices. Each reader reads the file of each library (64k-row groups), and
// the arrow file with 1M-row groups (one row group) to show the memory cost
// of big groups. MB/s is Parquet bytes in per second.
func BenchmarkRead(b *testing.B) {
	d := fleetDay(b)
	type input struct {
		name string
		buf  []byte
	}
	var inputs []input
	for _, f := range []struct {
		writer string
		rg     int
		name   string
	}{{"arrow-cols", 64 << 10, "arrow/rg=64k"}, {"pqgo-rows", 64 << 10, "pqgo/rg=64k"}, {"arrow-cols", 1 << 20, "arrow/rg=1M"}} {
		s := newSink(1 << 30)
		if err := writerNamed(f.writer).write(s, d, f.rg, memory.NewGoAllocator()); err != nil {
			b.Fatal(err)
		}
		inputs = append(inputs, input{f.name, s.Bytes()})
	}
	for _, in := range inputs {
		for _, r := range readers {
			b.Run(fmt.Sprintf("file=%s/lib=%s", in.name, r.name), func(b *testing.B) {
				mem := memory.NewGoAllocator()
				rows := 0
				count := func(bt *batch) error { rows += bt.n; return nil }
				run(b, d.n, func() error {
					rows = 0
					if err := r.read(in.buf, mem, count); err != nil {
						return err
					}
					if rows != d.n {
						return fmt.Errorf("read %d rows, want %d", rows, d.n)
					}
					return nil
				})
				b.SetBytes(int64(len(in.buf)))
			})
		}
	}
}

func writerNamed(name string) namedWriter {
	for _, w := range writers {
		if w.name == name {
			return w
		}
	}
	panic("no writer " + name)
}

// run times op b.N times, each after a GC outside the timer, and reports
// rows/s and the heap high-water marks above the post-GC baseline:
// peak-heap-MB samples the heap's object bytes (live + not yet collected
// garbage, i.e. what default GOGC lets the heap grow to), peak-live-MB the
// live heap measured by the GC marks that ran during the op.
func run(b *testing.B, rows int, op func() error) {
	b.Helper()
	var peakHeap, peakLive uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		base := readHeap()
		stop := sampleHeap(base.objects)
		b.StartTimer()
		err := op()
		b.StopTimer()
		ph, pl := stop()
		if err != nil {
			b.Fatal(err)
		}
		peakHeap = max(peakHeap, ph-min(ph, base.objects))
		peakLive = max(peakLive, pl-min(pl, base.live))
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(peakLive)/(1<<20), "peak-live-MB")
}

type heap struct{ objects, live uint64 }

var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/gc/heap/live:bytes"},
}

func readHeap() heap {
	s := make([]metrics.Sample, len(heapSamples))
	copy(s, heapSamples)
	metrics.Read(s)
	return heap{s[0].Value.Uint64(), s[1].Value.Uint64()}
}

// sampleHeap polls the heap every millisecond until the returned function is
// called, which returns the peaks.
func sampleHeap(base uint64) func() (objects, live uint64) {
	var (
		mu   sync.Mutex
		peak = heap{base, 0}
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			h := readHeap()
			mu.Lock()
			peak.objects = max(peak.objects, h.objects)
			peak.live = max(peak.live, h.live)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		h := readHeap()
		return max(peak.objects, h.objects), max(peak.live, h.live)
	}
}
