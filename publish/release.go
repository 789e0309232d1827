package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// Release is a published model: the record at lake.ReleaseRecordKey,
// written after its artefacts and before the current pointer.
type Release struct {
	// RecordVersion is the version of this record's layout (1).
	RecordVersion int `json:"record_version"`
	// ID sorts in publishing order: <UTC time>-<first 12 hex digits of the
	// document's SHA-256>.
	ID   string `json:"release"`
	Name string `json:"name"`
	// CreatedAt is when the release was sealed (the envelopes' timestamp).
	CreatedAt      time.Time `json:"created_at"`
	DocumentSHA256 string    `json:"document_sha256"`
	DocumentSize   int64     `json:"document_size"`
	// Source is the candidate the document came from (lake.CandidateKey).
	Source string `json:"source,omitempty"`
	// Artefacts are the envelopes by format.
	Artefacts map[Format]Artefact `json:"artefacts"`
	// KeyID is the Ed25519 key that signed envelope 3.0.
	KeyID string    `json:"key_id,omitempty"`
	Model ModelInfo `json:"model"`
}

// Artefact is one envelope of a release.
type Artefact struct {
	Key string `json:"key"`
	// ModelHash is the lower-case hex SHA-256 of the artefact's bytes,
	// exactly what a download returns.
	ModelHash string `json:"model_hash"`
	Size      int64  `json:"size"`
}

// ModelInfo is the model document's description, from its metadata.
type ModelInfo struct {
	Format        string    `json:"format"`
	FormatVersion int       `json:"format_version"`
	HeatpumpModel string    `json:"heatpump_model"`
	TrainedAt     time.Time `json:"trained_at"`
	WindowFrom    time.Time `json:"window_from"`
	WindowTo      time.Time `json:"window_to"`
	Rows          int64     `json:"rows"`
	Installations int64     `json:"installations"`
	Seed          uint64    `json:"seed"`
	Features      []string  `json:"features"`
	Trees         int       `json:"trees"`
	Threshold     float64   `json:"threshold"`
}

// pointer is the current pointer at lake.CurrentKey, written last.
type pointer struct {
	Name      string    `json:"name"`
	Release   string    `json:"release"`
	UpdatedAt time.Time `json:"updated_at"`
	// Action is "publish" or "rollback"/"promote".
	Action string `json:"action"`
}

// Provenance says where a published document came from.
type Provenance struct {
	// Candidate is the bucket key of the candidate document.
	Candidate string
}

// Outcome says what Publish did.
type Outcome string

// The outcomes of Publish.
const (
	// Published: a new release was written and made current.
	Published Outcome = "published"
	// Resumed: an interrupted publish of the same document was finished.
	Resumed Outcome = "resumed"
	// Unchanged: the document is already the current release; nothing was
	// written.
	Unchanged Outcome = "unchanged"
)

// Config configures a Catalog.
type Config struct {
	// Now is the clock that stamps releases (default time.Now).
	Now func() time.Time
	// Log receives what Watch cannot return (default: discarded).
	Log *slog.Logger
}

// Catalog keeps the releases of every model name in the bucket and serves
// the current ones from memory. Writers (Publish, Rollback, Promote) and
// readers (Refresh, Current) may run in different processes; readers see a
// release only once its artefacts, record and current pointer are written,
// in that order.
type Catalog struct {
	bucket *lake.Bucket
	keys   *Keys
	now    func() time.Time
	log    *slog.Logger

	refreshMu sync.Mutex
	snap      atomic.Pointer[snapshot]
}

// snapshot is what the handler reads: immutable once stored.
type snapshot struct {
	byName map[string]*served
}

// served is a current release with its envelopes in memory.
type served struct {
	release Release
	env     map[Format]*artefactBytes
	// metaJSON is the check response's model_metadata object without its
	// closing brace: the handler appends the request's scope.
	metaJSON []byte
}

type artefactBytes struct {
	data   []byte
	hash   string
	etag   string // the hash, quoted
	length string
}

// NewCatalog returns a catalog over bucket. keys seal new releases; they
// may be nil in a process that only serves.
func NewCatalog(bucket *lake.Bucket, keys *Keys, cfg Config) (*Catalog, error) {
	if bucket == nil {
		return nil, errors.New("publish: nil bucket")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{bucket: bucket, keys: keys, now: cfg.Now, log: cfg.Log}
	c.snap.Store(&snapshot{byName: map[string]*served{}})
	return c, nil
}

// Keys are the catalog's keys (nil in a serving-only process).
func (c *Catalog) Keys() *Keys { return c.keys }

// validateName accepts storage names: a heat-pump model's, a family's or
// "community", as lake.ModelStorageName and lake.ModelFamily produce them.
func validateName(name string) error {
	if err := lake.ValidateModel(name); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidName, name, err)
	}
	if strings.Contains(name, " ") {
		return fmt.Errorf("%w %q: a storage name has _ for spaces", ErrInvalidName, name)
	}
	return nil
}

// idTime is the time part of release IDs: UTC seconds, sorting as text.
const idTime = "20060102T150405Z"

// releaseDir is what a listing shows of one release folder.
type releaseDir struct {
	id        string
	record    bool
	artefacts map[Format]bool
}

// scan lists the release folders of name in ID order, complete or not.
func (c *Catalog) scan(ctx context.Context, name string) ([]releaseDir, error) {
	prefix := lake.ReleasePrefix(name)
	byID := map[string]*releaseDir{}
	err := c.bucket.List(ctx, prefix, func(a lake.Attributes) error {
		id, file, ok := strings.Cut(strings.TrimPrefix(a.Key, prefix), "/")
		if !ok || strings.Contains(file, "/") {
			return nil
		}
		d := byID[id]
		if d == nil {
			d = &releaseDir{id: id, artefacts: map[Format]bool{}}
			byID[id] = d
		}
		switch a.Key {
		case lake.ReleaseRecordKey(name, id):
			d.record = true
		case lake.ReleaseArtefactKey(name, id, string(V2)):
			d.artefacts[V2] = true
		case lake.ReleaseArtefactKey(name, id, string(V3)):
			d.artefacts[V3] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// IDs have one length, so text order is publishing order; sort rather
	// than rely on a driver's listing order.
	dirs := make([]releaseDir, 0, len(byID))
	for _, d := range byID {
		dirs = append(dirs, *d)
	}
	slices.SortFunc(dirs, func(a, b releaseDir) int { return strings.Compare(a.id, b.id) })
	return dirs, nil
}

// PublishResult is what Publish did.
type PublishResult struct {
	Release Release
	Outcome Outcome
}

// Publish makes a plaintext model document the current release of name
// (a storage name). It seals the document in envelope 2.0 (and 3.0 when
// the keys can sign), writes the artefacts, then the release record, then
// the current pointer: a reader sees the new release only once everything
// it needs is in the bucket.
//
// Publish converges when run again after a crash: if the latest release of
// name holds the same document and its artefacts open with the current
// keys, it is finished and reused instead of sealing another; a complete
// one that is current already is left alone (Unchanged). Earlier releases
// are kept for Rollback. The caller refreshes serving catalogs afterwards.
func (c *Catalog) Publish(ctx context.Context, name string, document []byte, prov Provenance) (PublishResult, error) {
	if c.keys == nil {
		return PublishResult{}, errors.New("publish: no keys; load the keys folder")
	}
	if err := validateName(name); err != nil {
		return PublishResult{}, err
	}
	doc, err := model.Unmarshal(document)
	if err != nil {
		return PublishResult{}, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	sum := sha256.Sum256(document)
	docHash := hex.EncodeToString(sum[:])
	dirs, err := c.scan(ctx, name)
	if err != nil {
		return PublishResult{}, err
	}
	formats := []Format{V2}
	if c.keys.CanSign() {
		formats = append(formats, V3)
	}

	var rel *Release
	outcome := Published
	in := sealInput{name: name, document: document, docHash: docHash, doc: doc, prov: prov, formats: formats}
	if n := len(dirs); n > 0 && strings.HasSuffix(dirs[n-1].id, "-"+docHash[:12]) {
		rel, err = c.resume(ctx, in, dirs[n-1])
		if err != nil {
			return PublishResult{}, err
		}
		if rel != nil {
			outcome = Resumed
		}
	}
	if rel == nil {
		var latest string
		if len(dirs) > 0 {
			latest = dirs[len(dirs)-1].id
		}
		id := nextID(c.now(), latest, docHash)
		rel, err = c.write(ctx, in, id, nil)
		if err != nil {
			return PublishResult{}, err
		}
	}

	if outcome == Resumed {
		cur, err := c.readPointer(ctx, name)
		if err != nil && !errors.Is(err, lake.ErrNotFound) {
			return PublishResult{}, err
		}
		if err == nil && cur.Release == rel.ID {
			return PublishResult{Release: *rel, Outcome: Unchanged}, nil
		}
	}
	if err := c.writePointer(ctx, name, rel.ID, "publish"); err != nil {
		return PublishResult{}, err
	}
	return PublishResult{Release: *rel, Outcome: outcome}, nil
}

// sealInput is what a release is made of.
type sealInput struct {
	name     string
	document []byte
	docHash  string
	doc      *model.Document
	prov     Provenance
	formats  []Format
}

// nextID names a new release: the clock's UTC second and the document
// hash. Should the clock not be past the latest release (two publishes in
// one second, a host with a slow clock), the time is moved just after it,
// so IDs keep sorting in publishing order.
func nextID(now time.Time, latest, docHash string) string {
	t := now.UTC().Truncate(time.Second)
	if ts, _, ok := strings.Cut(latest, "-"); ok {
		if lt, err := time.Parse(idTime, ts); err == nil && !t.After(lt) {
			t = lt.Add(time.Second)
		}
	}
	return t.Format(idTime) + "-" + docHash[:12]
}

// resume finishes or reuses the release folder dir, which holds the same
// document, when everything in it opens with the current keys. It returns
// nil when the folder cannot be reused (keys rotated, an artefact of
// another document): the caller then starts a new release.
func (c *Catalog) resume(ctx context.Context, in sealInput, dir releaseDir) (*Release, error) {
	name := in.name
	if dir.record {
		rel, err := c.readRecord(ctx, name, dir.id)
		if err != nil {
			return nil, err
		}
		if rel.DocumentSHA256 != in.docHash {
			return nil, nil
		}
		for _, f := range in.formats {
			a, ok := rel.Artefacts[f]
			if !ok {
				return nil, nil
			}
			data, err := c.bucket.Get(ctx, a.Key)
			if err != nil {
				return nil, err
			}
			if hashHex(data) != a.ModelHash || !c.opensTo(data, f, in.document) {
				return nil, nil
			}
		}
		return &rel, nil
	}
	// Artefacts without a record: a publish that stopped before its
	// record. Keep what opens to this document with the current keys and
	// seal the rest.
	have := map[Format][]byte{}
	for _, f := range in.formats {
		if !dir.artefacts[f] {
			continue
		}
		data, err := c.bucket.Get(ctx, lake.ReleaseArtefactKey(name, dir.id, string(f)))
		if errors.Is(err, lake.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if c.opensTo(data, f, in.document) {
			have[f] = data
		}
	}
	return c.write(ctx, in, dir.id, have)
}

// opensTo reports whether an envelope of format f opens with the current
// keys only (not the previous Fernet key) to exactly document.
func (c *Catalog) opensTo(envelope []byte, f Format, document []byte) bool {
	k := *c.keys
	k.previous = nil
	o, err := Open(&k, envelope)
	return err == nil && o.Format == f && bytes.Equal(o.Document, document)
}

// write seals and writes the artefacts of release id that have lacks,
// then its record.
func (c *Catalog) write(ctx context.Context, in sealInput, id string, have map[Format][]byte) (*Release, error) {
	name, at := in.name, c.now()
	var s sealed
	for _, f := range in.formats {
		if have[f] == nil {
			var err error
			if s, err = seal(c.keys, name, in.document, at); err != nil {
				return nil, err
			}
			break
		}
	}
	rel := &Release{
		RecordVersion:  1,
		ID:             id,
		Name:           name,
		CreatedAt:      at.UTC().Truncate(time.Second),
		DocumentSHA256: in.docHash,
		DocumentSize:   int64(len(in.document)),
		Source:         in.prov.Candidate,
		Artefacts:      map[Format]Artefact{},
		KeyID:          c.keys.KeyID(),
		Model:          modelInfo(in.doc),
	}
	for _, f := range in.formats {
		data := have[f]
		key := lake.ReleaseArtefactKey(name, id, string(f))
		if data == nil {
			data = s.v2
			if f == V3 {
				data = s.v3
			}
			if err := c.bucket.Put(ctx, key, data, lake.PutOptions{ContentType: "application/octet-stream"}); err != nil {
				return nil, err
			}
		} else if o, err := Open(c.keys, data); err == nil {
			// A reused envelope keeps its own seal time.
			rel.CreatedAt = time.Unix(o.Metadata.Timestamp, 0).UTC()
		}
		rel.Artefacts[f] = Artefact{Key: key, ModelHash: hashHex(data), Size: int64(len(data))}
	}
	return rel, c.writeRecord(ctx, rel)
}

func (c *Catalog) writeRecord(ctx context.Context, rel *Release) error {
	b, err := json.MarshalIndent(rel, "", "  ")
	if err != nil {
		return err
	}
	return c.bucket.Put(ctx, lake.ReleaseRecordKey(rel.Name, rel.ID), append(b, '\n'), lake.PutOptions{ContentType: "application/json"})
}

func modelInfo(d *model.Document) ModelInfo {
	names := make([]string, len(d.Features))
	for i := range d.Features {
		names[i] = d.Features[i].Name
	}
	m := d.Metadata
	return ModelInfo{
		Format: model.Format, FormatVersion: model.FormatVersion,
		HeatpumpModel: m.HeatpumpModel, TrainedAt: m.CreatedAt.UTC(),
		WindowFrom: m.WindowFrom.UTC(), WindowTo: m.WindowTo.UTC(),
		Rows: m.Rows, Installations: m.Installations, Seed: m.Seed,
		Features: names, Trees: len(d.Forest.Trees), Threshold: d.Forest.Threshold,
	}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (c *Catalog) readRecord(ctx context.Context, name, id string) (Release, error) {
	b, err := c.bucket.Get(ctx, lake.ReleaseRecordKey(name, id))
	if err != nil {
		return Release{}, err
	}
	var rel Release
	if err := json.Unmarshal(b, &rel); err != nil {
		return Release{}, fmt.Errorf("release record %s: %w", lake.ReleaseRecordKey(name, id), err)
	}
	if rel.ID != id || rel.Name != name {
		return Release{}, fmt.Errorf("%w: record %s names release %s/%s", ErrInconsistent, lake.ReleaseRecordKey(name, id), rel.Name, rel.ID)
	}
	return rel, nil
}

func (c *Catalog) readPointer(ctx context.Context, name string) (pointer, error) {
	b, err := c.bucket.Get(ctx, lake.CurrentKey(name))
	if err != nil {
		return pointer{}, err
	}
	var p pointer
	if err := json.Unmarshal(b, &p); err != nil || p.Release == "" {
		return pointer{}, fmt.Errorf("current pointer %s: not a pointer", lake.CurrentKey(name))
	}
	return p, nil
}

func (c *Catalog) writePointer(ctx context.Context, name, id, action string) error {
	b, err := json.Marshal(pointer{Name: name, Release: id, UpdatedAt: c.now().UTC(), Action: action})
	if err != nil {
		return err
	}
	return c.bucket.Put(ctx, lake.CurrentKey(name), append(b, '\n'), lake.PutOptions{ContentType: "application/json"})
}

// Releases lists the complete releases of name (those with a record),
// oldest first.
func (c *Catalog) Releases(ctx context.Context, name string) ([]Release, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	dirs, err := c.scan(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []Release
	for _, d := range dirs {
		if !d.record {
			continue
		}
		rel, err := c.readRecord(ctx, name, d.id)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, nil
}

// Rollback points the current release of name at the complete release
// published before it and returns that release. Rolling back twice goes
// back two releases; Promote or Publish goes forward again.
func (c *Catalog) Rollback(ctx context.Context, name string) (Release, error) {
	if err := validateName(name); err != nil {
		return Release{}, err
	}
	cur, err := c.readPointer(ctx, name)
	if errors.Is(err, lake.ErrNotFound) {
		return Release{}, fmt.Errorf("rollback %s: %w", name, ErrNoRelease)
	}
	if err != nil {
		return Release{}, err
	}
	dirs, err := c.scan(ctx, name)
	if err != nil {
		return Release{}, err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if d := dirs[i]; d.record && d.id < cur.Release {
			return c.promote(ctx, name, d.id, "rollback")
		}
	}
	return Release{}, fmt.Errorf("rollback %s from %s: %w", name, cur.Release, ErrNoPreviousRelease)
}

// Promote makes the complete release id of name current.
func (c *Catalog) Promote(ctx context.Context, name, id string) (Release, error) {
	if err := validateName(name); err != nil {
		return Release{}, err
	}
	return c.promote(ctx, name, id, "promote")
}

func (c *Catalog) promote(ctx context.Context, name, id, action string) (Release, error) {
	rel, err := c.readRecord(ctx, name, id)
	if err != nil {
		return Release{}, err
	}
	// The pointer must never name a release whose bytes are gone.
	for _, a := range rel.Artefacts {
		if _, err := c.bucket.Stat(ctx, a.Key); err != nil {
			return Release{}, fmt.Errorf("%w: %w", ErrInconsistent, err)
		}
	}
	if err := c.writePointer(ctx, name, id, action); err != nil {
		return Release{}, err
	}
	return rel, nil
}

// Current is the current release of name (a storage name) as of the last
// Refresh.
func (c *Catalog) Current(name string) (Release, bool) {
	s := c.snap.Load().byName[name]
	if s == nil {
		return Release{}, false
	}
	return s.release, true
}

// Envelope returns the served bytes of the current release of name in
// format f as of the last Refresh, and their model_hash. The bytes are
// shared: do not modify them.
func (c *Catalog) Envelope(name string, f Format) (data []byte, hash string, ok bool) {
	s := c.snap.Load().byName[name]
	if s == nil || s.env[f] == nil {
		return nil, "", false
	}
	return s.env[f].data, s.env[f].hash, true
}

// Refresh reloads the current releases from the bucket: one listing of the
// current pointers and one small read per model name, plus the record and
// envelopes of a release not in memory yet. A release whose envelopes do
// not hash to its record is not served (the previous one stays); the
// error says which. If the listing fails, nothing changes.
func (c *Catalog) Refresh(ctx context.Context) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	var names []string
	err := c.bucket.List(ctx, lake.CurrentPrefix, func(a lake.Attributes) error {
		name, ok := strings.CutSuffix(strings.TrimPrefix(a.Key, lake.CurrentPrefix), ".json")
		if ok && lake.CurrentKey(name) == a.Key && validateName(name) == nil {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("refresh releases: %w", err)
	}
	old := c.snap.Load()
	next := &snapshot{byName: make(map[string]*served, len(names))}
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		prev := old.byName[name]
		p, err := c.readPointer(ctx, name)
		if err == nil && prev != nil && prev.release.ID == p.Release {
			next.byName[name] = prev
			continue
		}
		var s *served
		if err == nil {
			s, err = c.load(ctx, name, p.Release)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("model %s: %w", name, err))
			if prev != nil {
				next.byName[name] = prev
			}
			continue
		}
		next.byName[name] = s
	}
	c.snap.Store(next)
	return errors.Join(errs...)
}

// load reads a release and its envelopes and checks each envelope's hash
// against the record: what is served always hashes to what check says.
func (c *Catalog) load(ctx context.Context, name, id string) (*served, error) {
	rel, err := c.readRecord(ctx, name, id)
	if err != nil {
		return nil, err
	}
	if _, ok := rel.Artefacts[V2]; !ok {
		return nil, fmt.Errorf("%w: release %s has no envelope 2.0", ErrInconsistent, id)
	}
	s := &served{release: rel, env: map[Format]*artefactBytes{}}
	for f, a := range rel.Artefacts {
		data, err := c.bucket.Get(ctx, a.Key)
		if err != nil {
			return nil, err
		}
		if h := hashHex(data); h != a.ModelHash {
			return nil, fmt.Errorf("%w: %s hashes to %s, record says %s", ErrInconsistent, a.Key, h, a.ModelHash)
		}
		s.env[f] = &artefactBytes{data: data, hash: a.ModelHash, etag: `"` + a.ModelHash + `"`, length: strconv.Itoa(len(data))}
	}
	if s.metaJSON, err = checkMetadata(&rel); err != nil {
		return nil, err
	}
	return s, nil
}

// checkMetadata is the model_metadata object of the check response,
// without its closing brace.
func checkMetadata(rel *Release) ([]byte, error) {
	m := rel.Model
	b, err := json.Marshal(struct {
		Name          string    `json:"name"`
		Release       string    `json:"release"`
		PublishedAt   time.Time `json:"published_at"`
		HeatpumpModel string    `json:"heatpump_model"`
		TrainedAt     time.Time `json:"trained_at"`
		WindowFrom    time.Time `json:"window_from"`
		WindowTo      time.Time `json:"window_to"`
		Rows          int64     `json:"rows"`
		Installations int64     `json:"installations"`
		Features      int       `json:"features"`
		Format        string    `json:"format"`
		FormatVersion int       `json:"format_version"`
		SizeOriginal  int64     `json:"size_original"`
	}{rel.Name, rel.ID, rel.CreatedAt, m.HeatpumpModel, m.TrainedAt, m.WindowFrom, m.WindowTo,
		m.Rows, m.Installations, len(m.Features), m.Format, m.FormatVersion, rel.DocumentSize})
	if err != nil {
		return nil, err
	}
	return b[:len(b)-1], nil
}

// Watch calls Refresh every interval until ctx ends, logging failures
// (serving goes on with what it has).
func (c *Catalog) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("refresh model releases", "err", err)
			}
		}
	}
}

// resolve returns the most specific current release for a storage name:
// the exact name, then its family, then the community model. scope says
// which matched.
func (c *Catalog) resolve(storage string) (s *served, scope string) {
	m := c.snap.Load().byName
	if storage != "" {
		if s := m[storage]; s != nil {
			return s, "exact"
		}
		if fam := lake.ModelFamily(storage); fam != storage {
			if s := m[fam]; s != nil {
				return s, "family"
			}
		}
	}
	if s := m[lake.CommunityModel]; s != nil {
		return s, "community"
	}
	return nil, ""
}
