package lake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
	enc    *zstd.Encoder
	dec    *zstd.Decoder
	log    *slog.Logger
}

// NewLanding returns a Landing writing to bucket.
func NewLanding(bucket *Bucket, log *slog.Logger) (*Landing, error) {
	// The fastest level: landing objects live for days, ingest CPU is the
	// hot path, and compaction recompresses into Parquet anyway.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &Landing{bucket: bucket, enc: enc, dec: dec, log: log}, nil
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

// EncodeLanding renders the landing document of b (uncompressed).
func EncodeLanding(dst []byte, b *Batch) ([]byte, error) {
	head, err := json.Marshal(landingHeader{
		Format:         LandingFormat,
		RequestID:      b.RequestID,
		ReceivedAt:     b.ReceivedAt.UTC().Format(time.RFC3339Nano),
		InstallationID: b.InstallationID,
		Model:          b.Model,
		Version:        b.Version,
		Records:        b.Records,
	})
	if err != nil {
		return nil, fmt.Errorf("encode landing header: %w", err)
	}
	dst = append(dst, head[:len(head)-1]...)
	dst = append(dst, `,"data":`...)
	dst = append(dst, b.Data...)
	dst = append(dst, "}\n"...)
	return dst, nil
}

// Land writes b durably under its content-addressed key and returns only
// once the object is committed. An identical batch that already landed is
// not written twice; if the existing object is damaged (a crash between
// rename and fsync on a local disk can leave it so), it is replaced.
func (l *Landing) Land(ctx context.Context, b *Batch) (Landed, error) {
	raw, err := EncodeLanding(make([]byte, 0, len(b.Data)+256), b)
	if err != nil {
		return Landed{}, err
	}
	body := l.enc.EncodeAll(raw, make([]byte, 0, len(raw)/6))
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
