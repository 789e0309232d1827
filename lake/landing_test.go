package lake

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"
)

func testBatch() *Batch {
	return &Batch{
		RequestID:      "01TESTREQUEST",
		ReceivedAt:     time.Date(2026, 11, 28, 3, 4, 5, 0, time.UTC),
		InstallationID: "550e8400-e29b-41d4-a716-446655440000",
		Model:          "AERO SLM 3-11",
		Version:        `v1 "quoted"`,
		Records:        2,
		Data:           []byte(`[{"timestamp":1764299045.5,"temp_outside":5.4},` + "\n" + `{"timestamp":1764299075.5,"temp_outside":5.3}]`),
	}
}

func TestLandRoundTripAndIdempotence(t *testing.T) {
	ctx := context.Background()
	for name, b := range testBuckets(t) {
		t.Run(name, func(t *testing.T) {
			l, err := NewLanding(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			batch := testBatch()
			first, err := l.Land(ctx, batch)
			if err != nil || !first.Created {
				t.Fatalf("land: %+v %v", first, err)
			}
			// The same content received later in the same hour is the same
			// object: a resend does not land twice.
			again := *batch
			again.RequestID, again.ReceivedAt = "01OTHER", batch.ReceivedAt.Add(10*time.Minute)
			second, err := l.Land(ctx, &again)
			if err != nil || second.Created || second.Key != first.Key {
				t.Fatalf("resend: %+v %v (first %+v)", second, err, first)
			}
			var n int
			_ = b.List(ctx, LandingPrefix, func(Attributes) error { n++; return nil })
			if n != 1 {
				t.Fatalf("%d landing objects, want 1", n)
			}
			data, err := b.Get(ctx, first.Key)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := l.Decompress(data)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Format         int                  `json:"format"`
				RequestID      string               `json:"request_id"`
				ReceivedAt     time.Time            `json:"received_at"`
				InstallationID string               `json:"installation_id"`
				Model          string               `json:"heatpump_model"`
				Version        string               `json:"version"`
				Records        int                  `json:"records"`
				Data           []map[string]float64 `json:"data"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatalf("landing document is not JSON: %v\n%s", err, raw)
			}
			if doc.Format != LandingFormat || doc.RequestID != batch.RequestID || !doc.ReceivedAt.Equal(batch.ReceivedAt) ||
				doc.InstallationID != batch.InstallationID || doc.Model != batch.Model || doc.Version != batch.Version ||
				doc.Records != 2 || len(doc.Data) != 2 || doc.Data[1]["temp_outside"] != 5.3 {
				t.Fatalf("landing document = %+v", doc)
			}
			attrs, err := b.Stat(ctx, first.Key)
			if err != nil || attrs.Metadata["request_id"] != batch.RequestID || attrs.Metadata["records"] != "2" {
				t.Fatalf("metadata = %+v %v", attrs.Metadata, err)
			}
		})
	}
}

// A damaged object under the batch's key (a torn write after a power
// loss) must not make a resend look durable: it is replaced.
func TestLandReplacesDamagedObject(t *testing.T) {
	ctx := context.Background()
	b := testBuckets(t)["file"]
	l, err := NewLanding(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	batch := testBatch()
	key := LandingKey(batch.ReceivedAt, Digest(batch))
	if err := b.Put(ctx, key, []byte{}, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Land(ctx, batch)
	if err != nil || !got.Created || got.Key != key {
		t.Fatalf("land over damaged object: %+v %v", got, err)
	}
	data, _ := b.Get(ctx, key)
	if _, err := l.Decompress(data); err != nil {
		t.Fatalf("object still damaged: %v", err)
	}
}
