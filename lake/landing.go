package lake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
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
	// Bytes is the compressed size written.
	Bytes int
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

// Landing writes accepted batches into the landing zone.
type Landing struct {
	bucket *Bucket
	encs   sync.Pool // *zstd.Encoder, streaming, one per concurrent Land
	bufs   sync.Pool // *bytes.Buffer for compressed output
	dec    *zstd.Decoder
	log    *slog.Logger
}

// NewLanding returns a Landing writing to bucket.
func NewLanding(bucket *Bucket, log *slog.Logger) (*Landing, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &Landing{bucket: bucket, dec: dec, log: log}, nil
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
	h := sha256.New()
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

// compress returns the zstd landing object of b in a pooled buffer that
// the caller returns with l.bufs.Put.
func (l *Landing) compress(b *Batch) (*bytes.Buffer, error) {
	head, tail, err := landingParts(b)
	if err != nil {
		return nil, err
	}
	buf, ok := l.bufs.Get().(*bytes.Buffer)
	if !ok {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	enc, err := l.encoder(buf)
	if err != nil {
		return nil, err
	}
	defer l.encs.Put(enc)
	for _, p := range [][]byte{head, b.Data, tail} {
		if _, err := enc.Write(p); err != nil {
			return nil, fmt.Errorf("compress landing object: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("compress landing object: %w", err)
	}
	return buf, nil
}

// Land writes b durably under its content-addressed key and returns only
// once the object is committed. An identical batch that already landed is
// not written twice; if the existing object is damaged (a crash between
// rename and fsync on a local disk can leave it so), it is replaced.
func (l *Landing) Land(ctx context.Context, b *Batch) (Landed, error) {
	buf, err := l.compress(b)
	if err != nil {
		return Landed{}, err
	}
	defer l.bufs.Put(buf)
	body := buf.Bytes()
	key := LandingKey(b.ReceivedAt, Digest(b))
	opts := PutOptions{
		ContentType: "application/zstd",
		IfNotExist:  true,
		Metadata: map[string]string{
			"format":      strconv.Itoa(LandingFormat),
			"request_id":  b.RequestID,
			"received_at": b.ReceivedAt.UTC().Format(time.RFC3339Nano),
			"records":     strconv.Itoa(b.Records),
		},
	}
	err = l.bucket.Put(ctx, key, body, opts)
	if err == nil {
		return Landed{Key: key, Created: true, Bytes: len(body)}, nil
	}
	if !errors.Is(err, ErrExists) {
		return Landed{}, err
	}
	if l.intact(ctx, key) {
		return Landed{Key: key, Created: false, Bytes: len(body)}, nil
	}
	l.log.WarnContext(ctx, "replacing damaged landing object", "key", key)
	opts.IfNotExist = false
	if err := l.bucket.Put(ctx, key, body, opts); err != nil {
		return Landed{}, err
	}
	return Landed{Key: key, Created: true, Bytes: len(body)}, nil
}

// intact reports whether the object at key decompresses completely with a
// valid checksum and ends like a landing document.
func (l *Landing) intact(ctx context.Context, key string) bool {
	data, err := l.bucket.Get(ctx, key)
	if err != nil {
		return false
	}
	raw, err := l.dec.DecodeAll(data, nil)
	return err == nil && bytes.HasPrefix(raw, []byte(`{"format":`)) && bytes.HasSuffix(raw, []byte("}\n"))
}

// Decompress returns the landing document stored in a landing object.
func (l *Landing) Decompress(data []byte) ([]byte, error) {
	raw, err := l.dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress landing object: %w", err)
	}
	return raw, nil
}
