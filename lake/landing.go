package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// LandingFormat is the version of the landing document written by Land.
const LandingFormat = 1

// Batch is one submission as ingest accepted it: validated, normalized and
// ready to land. Data is a JSON array of flat records, each with a numeric
// "timestamp" (seconds) and numeric metrics only.
type Batch struct {
	RequestID      string
	ReceivedAt     time.Time
	InstallationID string
	Model          string
	Version        string
	Records        int
	Data           []byte
}

// Landed describes where a batch landed.
type Landed struct {
	Key string
	// Created is false when an identical batch had already landed under the
	// same key; the batch is durable either way.
	Created bool
	// Bytes is the compressed size of the batch.
	Bytes int
	// Group is how many batches the object holds (1 when written alone).
	Group int
}

// landingHeader is the landing document without its data. Field order is
// the order in the file; the compactor reads it back.
type landingHeader struct {
	Format         int    `json:"format"`
	RequestID      string `json:"request_id"`
	ReceivedAt     string `json:"received_at"`
	InstallationID string `json:"installation_id"`
	Model          string `json:"heatpump_model"`
	Version        string `json:"version"`
	Records        int    `json:"records"`
}

// Group commit limits (see Land).
const (
	// landingWriters is how many landing objects are written at once.
	landingWriters = 4
	// maxGroupBatches and maxGroupJSON (landing documents before
	// compression) bound one object; compaction holds a whole object
	// decompressed, so a group is never larger than a large batch.
	maxGroupBatches = 64
	maxGroupJSON    = 16 << 20
	// landingWriteTimeout bounds one object's write.
	landingWriteTimeout = time.Minute
	// remember and maxRemembered bound the memory of landed digests that
	// makes a resend a no-op: about 100 bytes each.
	remember      = 24 * time.Hour
	maxRemembered = 1 << 18
)

// Landing writes accepted batches into the landing zone.
type Landing struct {
	bucket  *Bucket
	encs    sync.Pool // *zstd.Encoder, streaming, one per concurrent Land
	bufs    sync.Pool // *bytes.Buffer for compressed output
	dec     *zstd.Decoder
	log     *slog.Logger
	writers chan struct{} // a token per landing write in progress

	mu       sync.Mutex
	queue    []*pendingBatch            // waiting for a writer, oldest first
	inflight map[[32]byte]*pendingBatch // queued or being written, by digest
	memory   landingMemory              // landed recently
}

// NewLanding returns a Landing writing to bucket.
func NewLanding(bucket *Bucket, log *slog.Logger) (*Landing, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &Landing{bucket: bucket, dec: dec, log: log, writers: make(chan struct{}, landingWriters),
		inflight: map[[32]byte]*pendingBatch{}}, nil
}

// encoder returns a pooled streaming zstd encoder. The fastest level:
// landing objects live for days, ingest CPU is the hot path, and
// compaction recompresses into Parquet anyway. A 1 MiB window keeps each
// encoder small; JSON records repeat within far less.
func (l *Landing) encoder(w io.Writer) (*zstd.Encoder, error) {
	if e, ok := l.encs.Get().(*zstd.Encoder); ok {
		e.Reset(w)
		return e, nil
	}
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true),
		zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
}

// Digest is the content address of a batch: it covers what the collector
// sent (installation, model, version, records), not when or how it arrived,
// so a resent batch gets the same digest.
func Digest(b *Batch) [32]byte {
	h := blake3.New()
	for _, s := range []string{b.InstallationID, b.Model, b.Version} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(b.Data)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// landingParts renders the landing document of b as the three parts it is
// written in (head, b.Data, tail), so the data is never copied.
func landingParts(b *Batch) (head, tail []byte, err error) {
	head, err = json.Marshal(landingHeader{
		Format:         LandingFormat,
		RequestID:      b.RequestID,
		ReceivedAt:     b.ReceivedAt.UTC().Format(time.RFC3339Nano),
		InstallationID: b.InstallationID,
		Model:          b.Model,
		Version:        b.Version,
		Records:        b.Records,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("encode landing header: %w", err)
	}
	head = append(head[:len(head)-1], `,"data":`...)
	return head, []byte("}\n"), nil
}

// compress returns the zstd frame of b's landing document in a pooled
// buffer that the caller returns with l.bufs.Put, and the document's size.
func (l *Landing) compress(b *Batch) (*bytes.Buffer, int, error) {
	head, tail, err := landingParts(b)
	if err != nil {
		return nil, 0, err
	}
	buf, ok := l.bufs.Get().(*bytes.Buffer)
	if !ok {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	enc, err := l.encoder(buf)
	if err != nil {
		return nil, 0, err
	}
	defer l.encs.Put(enc)
	for _, p := range [][]byte{head, b.Data, tail} {
		if _, err := enc.Write(p); err != nil {
			return nil, 0, fmt.Errorf("compress landing object: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, 0, fmt.Errorf("compress landing object: %w", err)
	}
	return buf, len(head) + len(b.Data) + len(tail), nil
}

// Land writes b durably into the landing zone and returns only once the
// object holding it is committed.
//
// Concurrent batches are committed together (group commit): while the
// landing writers are busy, arriving batches queue, and the next free
// writer puts every queued batch of one received hour into one object,
// each batch its own zstd frame. A batch that arrives while a writer is
// free is written alone, so an idle server adds no latency. On a local
// disk one file per batch costs a file creation and two fsyncs; a group
// shares them.
//
// A batch whose content already landed (an identical resend) is not
// written again: the digests of recently landed batches are remembered
// (landingMemory), identical batches in flight share one write, and a
// batch written alone gets its own content address with IfNotExist, which
// also catches a resend after a restart within the received hour. If an
// existing object under that key is damaged (a crash between rename and
// fsync on a local disk can leave it so), it is replaced.
func (l *Landing) Land(ctx context.Context, b *Batch) (Landed, error) {
	p, err := l.prepare(b)
	if err != nil {
		return Landed{}, err
	}
	for {
		l.mu.Lock()
		if key, ok := l.memory.lookup(p.digest); ok {
			l.mu.Unlock()
			l.bufs.Put(p.buf)
			return Landed{Key: key, Bytes: p.size}, nil
		}
		first, ok := l.inflight[p.digest]
		if !ok {
			break // with l.mu held
		}
		l.mu.Unlock()
		select {
		case <-first.done:
		case <-ctx.Done():
			l.bufs.Put(p.buf)
			return Landed{}, ctx.Err()
		}
		if !errors.Is(first.err, errAbandoned) {
			l.bufs.Put(p.buf)
			return Landed{Key: first.key, Bytes: first.size, Group: first.group}, first.err
		}
		// The identical batch's request ended before it was written:
		// land this one after all.
	}
	l.inflight[p.digest] = p
	l.queue = append(l.queue, p)
	l.mu.Unlock()
	if err := l.await(ctx, p); err != nil {
		return Landed{}, err
	}
	return Landed{Key: p.key, Created: p.created, Bytes: p.size, Group: p.group}, p.err
}

// errAbandoned fails a batch withdrawn before it was written, for anyone
// waiting on the same content.
var errAbandoned = errors.New("landing abandoned: the request ended before its batch was written")

// await returns once p is written, writing queued groups (p's or others')
// whenever a writer slot is free, or once ctx ends.
func (l *Landing) await(ctx context.Context, p *pendingBatch) error {
	for {
		select {
		case <-p.done:
			return nil
		default:
		}
		select {
		case <-p.done:
			return nil
		case l.writers <- struct{}{}:
			group := l.writeNext(ctx)
			if len(group) == 0 {
				// The queue is empty, so p is in another writer's group.
				select {
				case <-p.done:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		case <-ctx.Done():
			if l.withdraw(p) {
				l.bufs.Put(p.buf)
			}
			return ctx.Err()
		}
	}
}

// pendingBatch is a batch between Land's call and its commit.
type pendingBatch struct {
	digest   [32]byte
	received time.Time
	buf      *bytes.Buffer // its compressed frame, from l.bufs
	size     int           // compressed
	json     int           // uncompressed
	done     chan struct{} // closed once the fields below are set
	taken    bool          // by a writer; guarded by l.mu
	key      string
	created  bool
	group    int
	err      error
}

// prepare compresses b into its own frame, on the caller's goroutine so
// that concurrent batches compress in parallel.
func (l *Landing) prepare(b *Batch) (*pendingBatch, error) {
	buf, docLen, err := l.compress(b)
	if err != nil {
		return nil, err
	}
	return &pendingBatch{digest: Digest(b), received: b.ReceivedAt, buf: buf, size: buf.Len(),
		json: docLen, done: make(chan struct{})}, nil
}

// take removes the next group from the queue: the oldest batch and every
// queued batch received in the same hour (they share a key prefix), in
// arrival order, within maxGroupBatches and maxGroupJSON.
func (l *Landing) take() []*pendingBatch {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		return nil
	}
	hour := l.queue[0].received.UTC().Truncate(time.Hour)
	var group []*pendingBatch
	rest, size := l.queue[:0], 0
	for _, p := range l.queue {
		if len(group) < maxGroupBatches && (len(group) == 0 || size+p.json <= maxGroupJSON) &&
			p.received.UTC().Truncate(time.Hour).Equal(hour) {
			p.taken = true
			group = append(group, p)
			size += p.json
			continue
		}
		rest = append(rest, p)
	}
	clear(l.queue[len(rest):])
	l.queue = rest
	return group
}

// withdraw removes p from the queue if no writer has taken it, and fails
// it for anyone waiting on the same content. It reports whether p was
// withdrawn; a taken batch is written anyway.
func (l *Landing) withdraw(p *pendingBatch) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.taken {
		return false
	}
	l.queue = slices.DeleteFunc(l.queue, func(q *pendingBatch) bool { return q == p })
	delete(l.inflight, p.digest)
	p.err = errAbandoned
	close(p.done)
	return true
}

// writeNext writes the next group, if any, in the writer slot its caller
// holds, and releases the slot.
func (l *Landing) writeNext(ctx context.Context) []*pendingBatch {
	defer func() { <-l.writers }()
	group := l.take()
	if len(group) > 0 {
		l.write(ctx, group)
	}
	return group
}

// write commits one group as one object and reports the outcome to each
// of its batches. The write is not cancelled with the request that
// happens to perform it: the group holds other requests' batches. If it
// panics, the group's batches fail before the panic goes on, so that no
// one waits for them forever.
func (l *Landing) write(ctx context.Context, group []*pendingBatch) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), landingWriteTimeout)
	defer cancel()
	reported := false
	defer func() {
		if !reported {
			r := recover()
			l.report(group, "", false, fmt.Errorf("landing write failed: %v", r))
			if r != nil {
				panic(r)
			}
		}
	}()
	sum := group[0].digest
	if len(group) > 1 {
		h := blake3.New()
		for _, p := range group {
			h.Write(p.digest[:])
		}
		h.Sum(sum[:0])
	}
	key := LandingKey(group[0].received, sum)
	created, err := l.put(ctx, key, group)
	reported = true
	l.report(group, key, created, err)
}

// report hands the outcome of a group's write to its batches.
func (l *Landing) report(group []*pendingBatch, key string, created bool, err error) {
	l.mu.Lock()
	for _, p := range group {
		p.key, p.created, p.group, p.err = key, created, len(group), err
		delete(l.inflight, p.digest)
		if err == nil {
			l.memory.add(p.digest, key)
		}
		close(p.done)
	}
	l.mu.Unlock()
	for _, p := range group {
		l.bufs.Put(p.buf)
	}
}

// put writes the frames of group under key unless an intact object is
// there already (the same content, landed before), replacing a damaged one.
func (l *Landing) put(ctx context.Context, key string, group []*pendingBatch) (created bool, err error) {
	opts := PutOptions{ContentType: "application/zstd", IfNotExist: true}
	for {
		w, err := l.bucket.NewWriter(ctx, key, opts)
		if err != nil {
			return false, err
		}
		for _, p := range group {
			if _, err := w.Write(p.buf.Bytes()); err != nil {
				w.Abort()
				return false, fmt.Errorf("write %s: %w", key, err)
			}
		}
		err = w.Close()
		if !errors.Is(err, ErrExists) || !opts.IfNotExist {
			return err == nil, err
		}
		if l.intact(ctx, key, len(group)) {
			return false, nil
		}
		l.log.WarnContext(ctx, "replacing damaged landing object", "key", key)
		opts.IfNotExist = false
	}
}

// landingMemory remembers the digests of recently landed batches and the
// keys they landed under, at most maxRemembered of them: two generations
// of a map, the older dropped whole when the newer is older than
// remember/2 or full. An entry is remembered for at least remember/2
// (unless the maps fill first) and forgotten once both generations are
// older than remember.
type landingMemory struct {
	cur, prev map[[32]byte]string
	since     time.Time // when cur started
}

func (m *landingMemory) lookup(d [32]byte) (string, bool) {
	m.age(time.Now())
	if k, ok := m.cur[d]; ok {
		return k, true
	}
	k, ok := m.prev[d]
	return k, ok
}

func (m *landingMemory) add(d [32]byte, key string) {
	m.age(time.Now())
	if len(m.cur) >= maxRemembered/2 {
		m.prev, m.cur = m.cur, map[[32]byte]string{}
	}
	m.cur[d] = key
}

func (m *landingMemory) age(now time.Time) {
	switch idle := now.Sub(m.since); {
	case m.cur == nil || idle > remember:
		m.prev, m.cur, m.since = nil, map[[32]byte]string{}, now
	case idle > remember/2:
		m.prev, m.cur, m.since = m.cur, map[[32]byte]string{}, now
	}
}

// intact reports whether the object at key decompresses completely with
// valid checksums into docs landing documents: a write cut off between two
// frames would otherwise pass.
func (l *Landing) intact(ctx context.Context, key string, docs int) bool {
	data, err := l.bucket.Get(ctx, key)
	if err != nil {
		return false
	}
	raw, err := l.dec.DecodeAll(data, nil)
	for ; err == nil && len(raw) > 0; docs-- {
		_, raw, err = parseLanding(raw)
	}
	return err == nil && docs == 0
}

// Decompress returns the landing document stored in a landing object.
func (l *Landing) Decompress(data []byte) ([]byte, error) {
	raw, err := l.dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress landing object: %w", err)
	}
	return raw, nil
}
