package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeebo/blake3"
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
			// After a restart (a new Landing), a batch written alone is
			// still found under its content address.
			restarted, err := NewLanding(b, quiet)
			if err != nil {
				t.Fatal(err)
			}
			third, err := restarted.Land(ctx, &again)
			if err != nil || third.Created || third.Key != first.Key {
				t.Fatalf("resend after a restart: %+v %v (first %+v)", third, err, first)
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

// groupBatch is a one-record batch of installation i received at recv
// whose value v makes its content unique.
func groupBatch(i int, recv time.Time, ts, v float64) *Batch {
	return &Batch{
		RequestID: fmt.Sprintf("req-%d-%v", i, v), ReceivedAt: recv, InstallationID: instID(i),
		Model: fmt.Sprintf("MODEL_%d", i%2), Version: "1.0", Records: 1,
		Data: fmt.Appendf(nil, `[{"timestamp":%v,"temp_outside":%v}]`, ts, v),
	}
}

// blockedLanding returns a Landing with one writer whose first write
// blocks until release is closed, so that the batches landed meanwhile
// queue up behind it; started reports when that write is waiting.
func blockedLanding(t *testing.T, b *Bucket, fail error) (l *Landing, started <-chan struct{}, release chan struct{}) {
	t.Helper()
	release = make(chan struct{})
	st := make(chan struct{})
	var once sync.Once
	hooked := *b
	hooked.fault = func(op Op, key string) error {
		first := false
		once.Do(func() { first = true })
		if first {
			close(st)
			<-release
			return nil
		}
		return fail
	}
	l, err := NewLanding(&hooked, quiet)
	if err != nil {
		t.Fatal(err)
	}
	l.writers = make(chan struct{}, 1)
	return l, st, release
}

func queued(l *Landing) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

func waitQueued(t *testing.T, l *Landing, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); queued(l) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d batches queued, want %d", queued(l), n)
		}
	}
}

// Batches that arrive while the writers are busy land together in one
// object; identical batches in flight share one write; compaction reads
// every document of a group object, and of two versions of a record in
// one object (same installation, timestamp and received time) keeps the
// later document's.
func TestLandGroupCommit(t *testing.T) {
	ctx := context.Background()
	for name, b := range testBuckets(t) {
		t.Run(name, func(t *testing.T) {
			l, started, release := blockedLanding(t, b, nil)
			recv := t0.Add(5 * time.Minute)
			ts := float64(dayBase + 3600)
			type result struct {
				i   int
				got Landed
				err error
			}
			results := make(chan result)
			land := func(i int, batch *Batch) {
				got, err := l.Land(ctx, batch)
				results <- result{i, got, err}
			}
			go land(0, groupBatch(0, recv, ts, 0)) // written alone, blocked
			<-started
			// Installation 1 twice with the same timestamp and received
			// time: the later document must win.
			batches := []*Batch{groupBatch(1, recv, ts, 1), groupBatch(1, recv, ts, 2), groupBatch(2, recv, ts, 3),
				groupBatch(3, recv, ts, 4), groupBatch(4, recv.Add(time.Hour), ts, 5)}
			for i, batch := range batches {
				go land(i+1, batch)
				waitQueued(t, l, i+1)
			}
			// Identical to batch 0 (being written) and to batch 1 (queued).
			go land(6, groupBatch(0, recv.Add(time.Minute), ts, 0))
			go land(7, groupBatch(1, recv.Add(time.Minute), ts, 1))
			time.Sleep(20 * time.Millisecond)
			if n := queued(l); n != 5 {
				t.Fatalf("%d batches queued, want 5: identical ones must not queue", n)
			}
			close(release)
			got := map[int]Landed{}
			for range 8 {
				r := <-results
				if r.err != nil {
					t.Fatalf("batch %d: %v", r.i, r.err)
				}
				got[r.i] = r.got
			}
			if got[0].Group != 1 || !got[0].Created || got[0].Key != LandingKey(recv, Digest(groupBatch(0, recv, ts, 0))) {
				t.Fatalf("the first batch is written alone under its digest: %+v", got[0])
			}
			for i := 1; i <= 4; i++ {
				if got[i].Key != got[1].Key || got[i].Group != 4 || !got[i].Created {
					t.Fatalf("batch %d: %+v, want the group of batch 1 (%+v)", i, got[i], got[1])
				}
			}
			if got[5].Group != 1 || got[5].Key == got[1].Key {
				t.Fatalf("a batch of another hour joined the group: %+v", got[5])
			}
			if got[6].Created || got[6].Key != got[0].Key || got[7].Created || got[7].Key != got[1].Key {
				t.Fatalf("identical batches in flight: %+v %+v", got[6], got[7])
			}
			// A resend after the write is remembered.
			again, err := l.Land(ctx, groupBatch(3, recv.Add(2*time.Minute), ts, 4))
			if err != nil || again.Created || again.Key != got[1].Key {
				t.Fatalf("resend: %+v %v", again, err)
			}
			var objects int
			_ = b.List(ctx, LandingPrefix, func(Attributes) error { objects++; return nil })
			if objects != 3 {
				t.Fatalf("%d landing objects, want 3", objects)
			}
			compact(t, b, recv.Add(3*time.Hour))
			rows := readLake(t, b)
			if len(rows) != 5 {
				t.Fatalf("%d rows in the lake, want 5: %v", len(rows), rows)
			}
			for i, want := range map[int]float64{0: 0, 1: 2, 2: 3, 3: 4, 4: 5} {
				r, ok := rows[recKey{instID(i), int64(ts * 1e6)}]
				if !ok || r.vals["temp_outside"] != want {
					t.Fatalf("installation %d: %+v (present %v), want %v", i, r, ok, want)
				}
			}
		})
	}
}

// A group whose write fails fails every batch in it, nothing is
// remembered, and the batches land when sent again.
func TestLandGroupWriteFails(t *testing.T) {
	ctx := context.Background()
	b := testBuckets(t)["file"]
	l, started, release := blockedLanding(t, b, errors.New("disk on fire"))
	recv := t0.Add(5 * time.Minute)
	ts := float64(dayBase + 3600)
	errs := make([]chan error, 4)
	for i := range errs {
		errs[i] = make(chan error, 1)
	}
	go func() { _, err := l.Land(ctx, groupBatch(0, recv, ts, 0)); errs[0] <- err }()
	<-started
	for i := 1; i <= 3; i++ {
		go func() { _, err := l.Land(ctx, groupBatch(i, recv, ts, float64(i))); errs[i] <- err }()
	}
	waitQueued(t, l, 3)
	close(release)
	if err := <-errs[0]; err != nil {
		t.Fatalf("the first write was allowed: %v", err)
	}
	for i := 1; i <= 3; i++ {
		if err := <-errs[i]; err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("batch %d of the failed group: %v", i, err)
		}
	}
	var objects int
	_ = b.List(ctx, LandingPrefix, func(Attributes) error { objects++; return nil })
	if objects != 1 {
		t.Fatalf("%d landing objects, want 1", objects)
	}
	l2, err := NewLanding(b, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if got, err := l2.Land(ctx, groupBatch(i, recv, ts, float64(i))); err != nil || !got.Created {
			t.Fatalf("resend of batch %d: %+v %v", i, got, err)
		}
	}
}

// A request that ends while its batch waits withdraws it: it is not
// written later, and its content can land again.
func TestLandWithdrawnWhileQueued(t *testing.T) {
	b := testBuckets(t)["mem"]
	l, started, release := blockedLanding(t, b, nil)
	recv := t0.Add(5 * time.Minute)
	ts := float64(dayBase + 3600)
	done := make(chan error, 2)
	go func() { _, err := l.Land(context.Background(), groupBatch(0, recv, ts, 0)); done <- err }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, err := l.Land(ctx, groupBatch(1, recv, ts, 1)); done <- err }()
	waitQueued(t, l, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("withdrawn batch: %v", err)
	}
	if n := queued(l); n != 0 {
		t.Fatalf("%d batches still queued", n)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := l.Land(context.Background(), groupBatch(1, recv, ts, 1))
	if err != nil || !got.Created || got.Group != 1 {
		t.Fatalf("landing the withdrawn content again: %+v %v", got, err)
	}
}

// A group stays within maxGroupJSON of landing documents, so compaction
// never holds a decompressed object larger than a large batch.
func TestLandGroupSizeBound(t *testing.T) {
	ctx := context.Background()
	b := testBuckets(t)["mem"]
	l, started, release := blockedLanding(t, b, nil)
	recv := t0.Add(5 * time.Minute)
	big := func(i int) *Batch {
		var data strings.Builder
		data.WriteByte('[')
		n := 0
		for ; data.Len() < maxGroupJSON*4/10; n++ {
			if n > 0 {
				data.WriteString(",\n")
			}
			fmt.Fprintf(&data, `{"timestamp":%d,"temp_outside":%d}`, dayBase+int64(n), i)
		}
		data.WriteByte(']')
		return &Batch{RequestID: "big", ReceivedAt: recv, InstallationID: instID(i), Model: "M", Version: "1", Records: n, Data: []byte(data.String())}
	}
	type result struct {
		i   int
		got Landed
		err error
	}
	results := make(chan result, 4)
	go func() {
		got, err := l.Land(ctx, groupBatch(9, recv, float64(dayBase), 1))
		results <- result{0, got, err}
	}()
	<-started
	for i := 1; i <= 3; i++ {
		go func() { got, err := l.Land(ctx, big(i)); results <- result{i, got, err} }()
		waitQueued(t, l, i)
	}
	close(release)
	got := map[int]Landed{}
	for range 4 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		got[r.i] = r.got
	}
	if got[1].Group != 2 || got[2].Key != got[1].Key || got[3].Group != 1 {
		t.Fatalf("three batches of 40%% of the bound each: groups %+v, want two together and one alone", got)
	}
}

// A batch waiting for an identical one that its request then abandons
// lands itself instead of failing.
func TestLandDuplicateOfAbandonedBatch(t *testing.T) {
	b := testBuckets(t)["mem"]
	l, started, release := blockedLanding(t, b, nil)
	recv := t0.Add(5 * time.Minute)
	ts := float64(dayBase + 3600)
	first := make(chan error, 1)
	go func() { _, err := l.Land(context.Background(), groupBatch(0, recv, ts, 0)); first <- err }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := make(chan error, 1)
	go func() { _, err := l.Land(ctx, groupBatch(1, recv, ts, 1)); abandoned <- err }()
	waitQueued(t, l, 1)
	type result struct {
		got Landed
		err error
	}
	dup := make(chan result, 1)
	go func() {
		got, err := l.Land(context.Background(), groupBatch(1, recv.Add(time.Minute), ts, 1))
		dup <- result{got, err}
	}()
	time.Sleep(20 * time.Millisecond) // the duplicate waits for the queued batch
	cancel()
	if err := <-abandoned; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned batch: %v", err)
	}
	waitQueued(t, l, 1) // the duplicate, queued in its place
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if r := <-dup; r.err != nil || !r.got.Created {
		t.Fatalf("duplicate of an abandoned batch: %+v %v", r.got, r.err)
	}
}

// An object under a group's key that holds only some of its documents (a
// write cut off between frames) is not taken for the group: it is replaced.
func TestLandReplacesPartialGroup(t *testing.T) {
	ctx := context.Background()
	b := testBuckets(t)["file"]
	l, started, release := blockedLanding(t, b, nil)
	recv := t0.Add(5 * time.Minute)
	ts := float64(dayBase + 3600)
	a, c := groupBatch(1, recv, ts, 1), groupBatch(2, recv, ts, 2)
	da, dc := Digest(a), Digest(c)
	h := blake3.New()
	h.Write(da[:])
	h.Write(dc[:])
	var sum [32]byte
	h.Sum(sum[:0])
	key := LandingKey(recv, sum)
	frame, _, err := l.compress(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, key, frame.Bytes(), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	go func() { _, err := l.Land(ctx, groupBatch(0, recv, ts, 0)); errs <- err }()
	<-started
	var got [2]Landed
	for i, batch := range []*Batch{a, c} {
		go func() { var err error; got[i], err = l.Land(ctx, batch); errs <- err }()
		waitQueued(t, l, i+1)
	}
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got[0].Key != key || !got[0].Created || !got[1].Created {
		t.Fatalf("group over a partial object: %+v, key %s", got, key)
	}
	data, err := b.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := l.Decompress(data)
	if err != nil || bytes.Count(raw, []byte(`{"format":`)) != 2 {
		t.Fatalf("replaced object: %v\n%s", err, raw)
	}
}

// A write that panics fails its group and frees its writer slot.
func TestLandWritePanics(t *testing.T) {
	ctx := context.Background()
	b := testBuckets(t)["mem"]
	hooked := *b
	var calls atomic.Int32
	hooked.fault = func(op Op, key string) error {
		if calls.Add(1) == 1 {
			panic("driver bug")
		}
		return nil
	}
	l, err := NewLanding(&hooked, quiet)
	if err != nil {
		t.Fatal(err)
	}
	l.writers = make(chan struct{}, 1)
	recv := t0.Add(5 * time.Minute)
	ts := float64(dayBase + 3600)
	func() {
		defer func() {
			if r := recover(); r != "driver bug" {
				t.Fatalf("recovered %v, want the driver's panic", r)
			}
		}()
		_, _ = l.Land(ctx, groupBatch(0, recv, ts, 0))
		t.Fatal("Land returned instead of panicking")
	}()
	done := make(chan error, 1)
	go func() { _, err := l.Land(ctx, groupBatch(0, recv, ts, 0)); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("landing after the panic: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("landing after the panic hangs: the writer slot or the batch is still held")
	}
}
