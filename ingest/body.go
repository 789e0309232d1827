package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// budget is one request's share of the in-flight byte budget.
type budget struct {
	sem   *semaphore.Weighted
	gauge prometheus.Gauge
	held  int64
}

// grow takes n more bytes of budget, waiting at most wait.
func (b *budget) grow(ctx context.Context, n int64, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := b.sem.Acquire(ctx, n); err != nil {
		return errBudget
	}
	b.held += n
	b.gauge.Add(float64(n))
	return nil
}

func (b *budget) release() {
	if b.held > 0 {
		b.sem.Release(b.held)
		b.gauge.Sub(float64(b.held))
		b.held = 0
	}
}

var (
	errInflateLimit = errors.New("inflated body too large")
	errBudget       = errors.New("in-flight budget exhausted")
)

// limitWriter collects an inflated body, refusing to grow past limit and
// taking budget for every chunk it grows by.
type limitWriter struct {
	buf   []byte
	limit int64
	hold  *budget
	ctx   context.Context
	wait  time.Duration
	taken int64 // budget taken for buf so far
}

const budgetChunk = 1 << 20

// readChunk is the step in which a body as sent takes budget: small, so
// that a stalled upload holds little.
const readChunk = 256 << 10

// budgetReader takes budget for the bytes read from r (footprint per byte,
// readChunk at a time) before they are kept; taken is what the request
// already holds for them.
type budgetReader struct {
	r           io.Reader
	hold        *budget
	ctx         context.Context
	wait        time.Duration
	read, taken int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.read > b.taken {
		more := max(b.read-b.taken, readChunk)
		if gerr := b.hold.grow(b.ctx, footprint*more, b.wait); gerr != nil {
			return n, gerr
		}
		b.taken += more
	}
	return n, err
}

func (w *limitWriter) Write(p []byte) (int, error) {
	need := int64(len(w.buf) + len(p))
	if need > w.limit {
		return 0, errInflateLimit
	}
	if need > w.taken {
		n := max(need-w.taken, budgetChunk)
		if err := w.hold.grow(w.ctx, footprint*n, w.wait); err != nil {
			return 0, err
		}
		w.taken += n
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// readAll reads r into buf, sized up front to size (the part of the length
// known that the request holds budget for).
func readAll(r io.Reader, buf []byte, size int64) ([]byte, error) {
	if size > 0 && int64(cap(buf)) < size+1 {
		buf = make([]byte, 0, size+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
