package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// readChunk is the room a body without a Content-Length gets, and takes
// budget for, before its first byte: small, so that a stalled upload holds
// little.
const readChunk = 256 << 10

// idleReader sets a read deadline of idle before each read of the request
// body, so that a body that sends nothing for idle fails with
// os.ErrDeadlineExceeded (where the connection supports deadlines).
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	_ = r.rc.SetReadDeadline(time.Now().Add(r.idle))
	return r.r.Read(p)
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

// readBudgeted reads r, a body of size bytes (-1 when unknown), into buf.
// The caller holds budget for room bytes; each time the body fills them,
// grow takes budget for twice as much room (never more than size+1, the +1
// to see the end) before it is made. The handler gives a body of known
// length its whole room up front, so only one without a length grows: it
// holds at most about twice what it has sent, plus readChunk.
func readBudgeted(r io.Reader, buf []byte, size, room int64, grow func(n int64) error) ([]byte, error) {
	if size >= 0 {
		room = min(room, size+1)
	}
	if int64(cap(buf)) < room {
		buf = make([]byte, 0, room)
	}
	for {
		if int64(len(buf)) == room {
			next := max(2*room, readChunk)
			if size >= 0 && room <= size {
				next = min(next, size+1)
			}
			if err := grow(next - room); err != nil {
				return buf, err
			}
			room = next
			if int64(cap(buf)) < room {
				nb := make([]byte, len(buf), room)
				copy(nb, buf)
				buf = nb
			}
		}
		n, err := r.Read(buf[len(buf):room])
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
