package publish

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// writeLog records the keys a bucket commits, in order.
type writeLog struct {
	mu   sync.Mutex
	keys []string
}

func (l *writeLog) hook(op lake.Op, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, string(op)+" "+key)
	return nil
}

func (l *writeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.keys
	l.keys = nil
	return k
}

func TestPublishWritesArtefactsRecordPointer(t *testing.T) {
	st := memStore(t)
	var log writeLog
	c := newClock(time.Date(2026, 11, 27, 4, 30, 0, 0, time.UTC))
	cat := newCatalog(t, st.open(lake.WithFault(log.hook)), testKeys(t), c)
	doc := smallDoc(t, 42)
	res, err := cat.Publish(context.Background(), "AERO_SLM_3-11", doc, Provenance{Candidate: lake.CandidateKey(c.Now(), "AERO_SLM_3-11")})
	if err != nil {
		t.Fatal(err)
	}
	rel := res.Release
	if res.Outcome != Published || rel.ID != "20261127T043000Z-"+hashHex(doc)[:12] {
		t.Fatalf("result %s %s", res.Outcome, rel.ID)
	}
	want := []string{
		"write " + lake.ReleaseArtefactKey("AERO_SLM_3-11", rel.ID, "2"),
		"write " + lake.ReleaseArtefactKey("AERO_SLM_3-11", rel.ID, "3"),
		"write " + lake.ReleaseRecordKey("AERO_SLM_3-11", rel.ID),
		"write " + lake.CurrentKey("AERO_SLM_3-11"),
	}
	if got := log.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rel.Source != "_models/candidates/2026-11-27/AERO_SLM_3-11.json" || rel.Model.HeatpumpModel != "AERO SLM 3-11" ||
		rel.Model.Rows != 4000 || len(rel.Model.Features) != 2 || rel.DocumentSHA256 != hashHex(doc) || rel.KeyID == "" {
		t.Errorf("record %+v", rel)
	}
	// The record in the bucket says the same, and each hash is of the
	// stored bytes.
	stored, err := cat.readRecord(context.Background(), "AERO_SLM_3-11", rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Format{V2, V3} {
		data, err := st.open().Get(context.Background(), stored.Artefacts[f].Key)
		if err != nil {
			t.Fatal(err)
		}
		if hashHex(data) != stored.Artefacts[f].ModelHash || int64(len(data)) != stored.Artefacts[f].Size {
			t.Errorf("format %s: record does not describe the stored bytes", f)
		}
	}
}

func TestPublishRerunConverges(t *testing.T) {
	st := memStore(t)
	var log writeLog
	c := newClock(testNow)
	keys := testKeys(t)
	cat := newCatalog(t, st.open(lake.WithFault(log.hook)), keys, c)
	doc := smallDoc(t, 42)
	first, err := cat.Publish(context.Background(), "community", doc, Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	log.take()
	c.Add(time.Hour)
	again, err := cat.Publish(context.Background(), "community", doc, Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Outcome != Unchanged || again.Release.ID != first.Release.ID {
		t.Errorf("rerun: %s %s, want unchanged %s", again.Outcome, again.Release.ID, first.Release.ID)
	}
	if w := log.take(); len(w) != 0 {
		t.Errorf("rerun wrote %v", w)
	}
	rels, err := cat.Releases(context.Background(), "community")
	if err != nil || len(rels) != 1 {
		t.Fatalf("releases %d, %v", len(rels), err)
	}
	// A new document is a new release; the old one is kept.
	c.Add(time.Hour)
	second, err := cat.Publish(context.Background(), "community", smallDoc(t, 43), Provenance{})
	if err != nil || second.Outcome != Published || second.Release.ID <= first.Release.ID {
		t.Fatalf("second document: %v %+v", err, second)
	}
	if rels, _ := cat.Releases(context.Background(), "community"); len(rels) != 2 {
		t.Errorf("releases %d, want 2", len(rels))
	}
}

// TestReleaseIDsSortInPublishingOrder publishes within one second and
// with a clock that goes back: IDs still sort in publishing order.
func TestReleaseIDsSortInPublishingOrder(t *testing.T) {
	c := newClock(testNow)
	cat := newCatalog(t, memStore(t).open(), testKeys(t), c)
	var ids []string
	for i := range 4 {
		if i == 2 {
			c.Add(-time.Hour)
		}
		res, err := cat.Publish(context.Background(), "community", smallDoc(t, 100+i), Provenance{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Release.ID)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids out of order: %v", ids)
		}
	}
	rels, _ := cat.Releases(context.Background(), "community")
	for i := range rels {
		if rels[i].ID != ids[i] {
			t.Fatalf("Releases order %v", rels)
		}
	}
}

// failAt makes the nth commit (1-based) fail and runs check before every
// commit, so check sees the bucket between every two steps.
type failAt struct {
	mu    sync.Mutex
	n, at int
	check func(key string)
}

var errInjected = errors.New("injected fault")

func (f *failAt) hook(op lake.Op, key string) error {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	if f.check != nil {
		f.check(key)
	}
	if n == f.at {
		return errInjected
	}
	return nil
}

// TestPublishCrashAtEveryWrite fails the Nth write of a publish, for every
// N, on mem:// and file:// buckets. Before every write and after the
// failure, a fresh reader and a long-lived server see either the previous
// release or the new one, complete, with model_hash equal to the SHA-256
// of the bytes downloaded. Publishing again without faults converges to
// the state of an uninterrupted run: two releases, the new one current.
func TestPublishCrashAtEveryWrite(t *testing.T) {
	for _, kind := range []string{"mem", "file"} {
		t.Run(kind, func(t *testing.T) {
			for n := 1; ; n++ {
				if done := crashAt(t, kind, n); done {
					if n < 4 {
						t.Fatalf("publish finished with %d writes, want at least 4", n-1)
					}
					return
				}
			}
		})
	}
}

// crashAt runs one crash scenario; it reports true when the publish made
// fewer than n writes (nothing left to fail).
func crashAt(t *testing.T, kind string, n int) (done bool) {
	ctx := context.Background()
	st := memStore(t)
	if kind == "file" {
		st = fileStore(t)
	}
	keys := testKeys(t)
	c := newClock(testNow)
	h := newHarness(t, st.open(), keys, c)
	docA, docB := smallDoc(t, 1), smallDoc(t, 2)
	relA := h.publish(t, "AERO_SLM_3-11", docA).Release
	c.Add(24 * time.Hour)

	allowed := map[string]bool{relA.ID: true}
	// observe checks what readers see now: a fresh catalog and the
	// long-lived server (refreshed first).
	observe := func(step string) {
		t.Helper()
		fresh := newCatalog(t, st.open(), nil, c)
		if err := fresh.Refresh(ctx); err != nil {
			t.Fatalf("N=%d %s: fresh refresh: %v", n, step, err)
		}
		for _, cat := range []*Catalog{fresh, h.cat} {
			if cat == h.cat {
				if err := cat.Refresh(ctx); err != nil {
					t.Fatalf("N=%d %s: refresh: %v", n, step, err)
				}
			}
			rel, ok := cat.Current("AERO_SLM_3-11")
			if !ok || !allowed[rel.ID] {
				t.Fatalf("N=%d %s: reader sees %q (present %v)", n, step, rel.ID, ok)
			}
			for _, f := range []Format{V2, V3} {
				data, hash, ok := cat.Envelope("AERO_SLM_3-11", f)
				if !ok || hashHex(data) != hash || hash != rel.Artefacts[f].ModelHash {
					t.Fatalf("N=%d %s: format %s: served bytes do not match the hash", n, step, f)
				}
			}
		}
		resp, body := h.get(t, "/api/v1/model/check?installation_id="+eligibleID+"&model=AERO+SLM+3-11")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("N=%d %s: check %d %s", n, step, resp.StatusCode, body)
		}
		hash := jsonField(t, body, "model_hash")
		resp, data := h.get(t, "/api/v1/model/download?installation_id="+eligibleID+"&model=AERO+SLM+3-11", "Authorization", "Bearer "+testToken)
		if resp.StatusCode != http.StatusOK || hashHex(data) != hash || resp.Header.Get("X-Model-Hash") != hash {
			t.Fatalf("N=%d %s: download %d, check hash %v, sha256 %s", n, step, resp.StatusCode, hash, hashHex(data))
		}
		o, err := Open(keys, data)
		if err != nil || !(bytes.Equal(o.Document, docA) || bytes.Equal(o.Document, docB)) {
			t.Fatalf("N=%d %s: downloaded envelope: %v", n, step, err)
		}
	}

	fault := &failAt{at: n, check: func(key string) { observe("before writing " + key) }}
	faulty := newCatalog(t, st.open(lake.WithFault(fault.hook)), keys, c)
	_, err := faulty.Publish(ctx, "AERO_SLM_3-11", docB, Provenance{})
	if err == nil {
		return true
	}
	if !errors.Is(err, errInjected) {
		t.Fatalf("N=%d: publish: %v", n, err)
	}
	observe("after the failure")

	// The crash may have left release B's folder; B becomes visible only
	// through the rerun, which must reuse that folder.
	c.Add(time.Hour)
	clean := newCatalog(t, st.open(), keys, c)
	res, err := clean.Publish(ctx, "AERO_SLM_3-11", docB, Provenance{})
	if err != nil {
		t.Fatalf("N=%d: rerun: %v", n, err)
	}
	allowed[res.Release.ID] = true
	observe("after the rerun")
	rels, err := clean.Releases(ctx, "AERO_SLM_3-11")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := clean.scan(ctx, "AERO_SLM_3-11")
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || len(dirs) != 2 || rels[0].ID != relA.ID || rels[1].ID != res.Release.ID {
		t.Fatalf("N=%d: %d releases in %d folders after the rerun, want 2 in 2", n, len(rels), len(dirs))
	}
	if rel, _ := h.cat.Current("AERO_SLM_3-11"); rel.ID != res.Release.ID || rel.DocumentSHA256 != hashHex(docB) {
		t.Fatalf("N=%d: current is %s after the rerun", n, rel.ID)
	}
	again, err := clean.Publish(ctx, "AERO_SLM_3-11", docB, Provenance{})
	if err != nil || again.Outcome != Unchanged {
		t.Fatalf("N=%d: second rerun: %v %s", n, err, again.Outcome)
	}
	return false
}

func TestRollback(t *testing.T) {
	ctx := context.Background()
	c := newClock(testNow)
	h := newHarness(t, memStore(t).open(), testKeys(t), c)
	if _, err := h.cat.Rollback(ctx, "community"); !errors.Is(err, ErrNoRelease) {
		t.Fatalf("rollback without releases: %v", err)
	}
	var ids []string
	for i := range 3 {
		ids = append(ids, h.publish(t, "community", smallDoc(t, i)).Release.ID)
		c.Add(24 * time.Hour)
	}
	download := func() string {
		resp, body := h.get(t, "/api/v1/model/download?installation_id="+eligibleID, "Authorization", "Bearer "+testToken)
		if resp.StatusCode != http.StatusOK || hashHex(body) != resp.Header.Get("X-Model-Hash") {
			t.Fatalf("download %d", resp.StatusCode)
		}
		return resp.Header.Get("X-Model-Release")
	}
	if got := download(); got != ids[2] {
		t.Fatalf("serving %s, want %s", got, ids[2])
	}
	for _, want := range []string{ids[1], ids[0]} {
		rel, err := h.cat.Rollback(ctx, "community")
		if err != nil || rel.ID != want {
			t.Fatalf("rollback: %v, %s, want %s", err, rel.ID, want)
		}
		if err := h.cat.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if got := download(); got != want {
			t.Fatalf("serving %s after rollback, want %s", got, want)
		}
	}
	if _, err := h.cat.Rollback(ctx, "community"); !errors.Is(err, ErrNoPreviousRelease) {
		t.Fatalf("rollback past the first release: %v", err)
	}
	if rels, _ := h.cat.Releases(ctx, "community"); len(rels) != 3 {
		t.Errorf("%d releases kept, want 3", len(rels))
	}
	if _, err := h.cat.Promote(ctx, "community", ids[2]); err != nil {
		t.Fatal(err)
	}
	h.cat.Refresh(ctx)
	if got := download(); got != ids[2] {
		t.Fatalf("serving %s after promote, want %s", got, ids[2])
	}
}

// TestPublishAfterKeyRotation: a document published before a rotation
// and published again after it gets a new release sealed with the new
// key, instead of reusing envelopes new collectors cannot open.
func TestPublishAfterKeyRotation(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	c := newClock(testNow)
	old := testKeys(t)
	doc := smallDoc(t, 42)
	first, err := newCatalog(t, st.open(), old, c).Publish(ctx, "community", doc, Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	next, _ := NewFernetKey()
	rotated, err := NewKeys(next, WithPreviousFernetKey(old.current.text), WithSigningKey(old.signing))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour)
	cat := newCatalog(t, st.open(), rotated, c)
	res, err := cat.Publish(ctx, "community", doc, Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Published || res.Release.ID == first.Release.ID {
		t.Fatalf("publish after rotation: %s %s", res.Outcome, res.Release.ID)
	}
	cat.Refresh(ctx)
	data, _, _ := cat.Envelope("community", V2)
	newOnly, _ := NewKeys(next)
	if _, err := Open(newOnly, data); err != nil {
		t.Fatalf("new release does not open with the new key: %v", err)
	}
}

func TestPublishRejects(t *testing.T) {
	cat := newCatalog(t, memStore(t).open(), testKeys(t), newClock(testNow))
	ctx := context.Background()
	for _, name := range []string{"", "AERO SLM 3-11", "../x", "a/b", strings.Repeat("x", 101)} {
		if _, err := cat.Publish(ctx, name, smallDoc(t, 42), Provenance{}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Publish(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	for _, doc := range []string{"", "{}", `{"format": "idmt-iforest", "format_version": 1}`, "pickle"} {
		if _, err := cat.Publish(ctx, "community", []byte(doc), Provenance{}); !errors.Is(err, ErrInvalidDocument) {
			t.Errorf("Publish(%q) = %v, want ErrInvalidDocument", doc, err)
		}
	}
	nokeys := newCatalog(t, memStore(t).open(), nil, newClock(testNow))
	if _, err := nokeys.Publish(ctx, "community", smallDoc(t, 42), Provenance{}); err == nil {
		t.Error("publish without keys succeeded")
	}
}

// TestRefreshRefusesCorruptRelease: a release whose stored envelope does
// not hash to its record is never served; the previous one stays.
func TestRefreshRefusesCorruptRelease(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	c := newClock(testNow)
	h := newHarness(t, st.open(), testKeys(t), c)
	a := h.publish(t, "community", smallDoc(t, 1)).Release
	c.Add(time.Hour)
	b, err := h.cat.Publish(ctx, "community", smallDoc(t, 2), Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	key := b.Release.Artefacts[V2].Key
	if err := st.open().Put(ctx, key, []byte(`{"version": "2.0"}`), lake.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := h.cat.Refresh(ctx); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("refresh: %v, want ErrInconsistent", err)
	}
	if rel, _ := h.cat.Current("community"); rel.ID != a.ID {
		t.Fatalf("serving %s, want the previous release %s", rel.ID, a.ID)
	}
	resp, body := h.get(t, "/api/v1/model/download?installation_id="+eligibleID, "Authorization", "Bearer "+testToken)
	if resp.StatusCode != 200 || hashHex(body) != a.Artefacts[V2].ModelHash {
		t.Fatalf("download %d", resp.StatusCode)
	}
}

// TestWatchRefreshes: a release published by another process shows up
// once Watch refreshes.
func TestWatchRefreshes(t *testing.T) {
	st := memStore(t)
	c := newClock(testNow)
	server := newCatalog(t, st.open(), nil, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { server.Watch(ctx, 5*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	res, err := newCatalog(t, st.open(), testKeys(t), c).Publish(context.Background(), "community", smallDoc(t, 42), Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if rel, ok := server.Current("community"); ok && rel.ID == res.Release.ID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Watch did not pick up the release")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func jsonField(t testing.TB, body []byte, key string) string {
	t.Helper()
	m := decodeJSON(t, body)
	v, ok := m[key].(string)
	if !ok {
		t.Fatalf("%s is %v in %s", key, m[key], body)
	}
	return v
}
