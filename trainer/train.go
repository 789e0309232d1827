package trainer

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/trainer/features"
	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// Config sets what the training job trains and on what.
type Config struct {
	// Window is the number of UTC days of lake data, ending with the job's
	// day, a model is trained on (30).
	Window int
	// MinInstallations is the fewest installations a model name needs for
	// its own model (5); below it, its family's model, then the community
	// model, serve it.
	MinInstallations int
	// SampleRows is the size of the uniform reservoir sample of feature
	// vectors per model (65,536): the memory bound of a model's training,
	// whatever the lake's size. Each tree draws ψ rows from it.
	SampleRows int
	// Forest sets the isolation forest (t, ψ, contamination, extension).
	// Its Seed is mixed with each model's name.
	Forest iforest.Config
	// Features sets feature selection.
	Features features.Options
}

// DefaultContamination is the share of training rows the published
// threshold calls anomalous. scikit-learn's "auto" (a score above 0.5)
// suits raw feature spaces; on the trainer's derived features healthy rows
// often score above 0.5, and a collector told that most of its rows are
// anomalous learns to ignore the model. 1% flags rare rows only; AUC, the
// quality measure, does not depend on it.
const DefaultContamination = 0.01

// DefaultExtensionLevel selects the Extended Isolation Forest with one extra
// term per split (hyperplanes through two features). On the trainer's
// derived features, with the default 30-day window, it is the setting with
// which every fault kind but sensor drift reaches AUC 0.90 on all five
// simulated fleets of docs/MODEL_QUALITY.md; the original forest (0) leaves
// frozen records below 0.90 on two of them. A model with a single feature
// falls back to the original forest.
const DefaultExtensionLevel = 1

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Window: 30, MinInstallations: 5, SampleRows: 1 << 16,
		Forest: iforest.Config{Seed: 1, Contamination: DefaultContamination, ExtensionLevel: DefaultExtensionLevel}}
}

// Trained describes one candidate model written by Train.
type Trained struct {
	// Name is the model name (heat-pump model, family or community; storage
	// name) and Key where its document was written.
	Name, Key string
	// Level is "model", "family" or "community".
	Level string
	// Members are the heat-pump models (storage names) whose rows it saw.
	Members       []string
	Rows          int64 // rows streamed
	Sampled       int   // rows in the reservoir it was fitted on
	Installations int
	Features      int
}

// Result is what one training run did.
type Result struct {
	Day        time.Time
	Partitions int
	Rows       int64
	Models     []Trained
	// Skipped maps a model name to why it got no model of its own.
	Skipped map[string]string
}

// Trainer is the nightly training job: per heat-pump model, a uniform
// sample of the last Window days of the lake, features chosen from the
// data, an isolation forest, and a candidate model document in the bucket
// for the publish step.
type Trainer struct {
	bucket *lake.Bucket
	log    *slog.Logger
	cfg    Config
}

// New checks cfg and returns a Trainer.
func New(bucket *lake.Bucket, log *slog.Logger, cfg Config) (*Trainer, error) {
	if cfg.Window < 1 {
		return nil, fmt.Errorf("%w: window must be at least 1 day, got %d", ErrConfig, cfg.Window)
	}
	if cfg.MinInstallations < 1 {
		return nil, fmt.Errorf("%w: minimum installations must be at least 1, got %d", ErrConfig, cfg.MinInstallations)
	}
	psi := cfg.Forest.SampleSize
	if psi == 0 {
		psi = iforest.DefaultSampleSize
	}
	if cfg.SampleRows < psi {
		return nil, fmt.Errorf("%w: sample rows (%d) must be at least the tree sample size ψ (%d)", ErrConfig, cfg.SampleRows, psi)
	}
	return &Trainer{bucket: bucket, log: log, cfg: cfg}, nil
}

// Levels of the fallback from a heat-pump model to its family to the
// community.
const (
	LevelModel     = "model"
	LevelFamily    = "family"
	LevelCommunity = "community"
)

// target is one model being trained and the heat-pump models feeding it.
type target struct {
	name, level   string
	members       []string
	installations int
	profile       *features.Profile
	feats         []model.Feature
	stream        *model.Stream
	res           *reservoir
	vec           []float64
	rows          int64
}

// partition is a lake partition and the rows each read it streamed.
type partition struct {
	lake.Partition
	rows int64
}

// Train trains the candidates for day: each heat-pump model with at least
// MinInstallations installations in the window gets its own model; a
// family gets one when a member has too few installations of its own; the
// community model, trained on every row, is the last fallback (also for
// heat-pump models first seen after training). The same lake and Config
// give the same candidate bytes: inputs are read in a fixed order, every
// random choice is seeded, and the documents' times come from day.
func (t *Trainer) Train(ctx context.Context, day time.Time) (Result, error) {
	day = day.UTC().Truncate(24 * time.Hour)
	from := day.AddDate(0, 0, -(t.cfg.Window - 1))
	res := Result{Day: day, Skipped: map[string]string{}}
	listed, err := lake.ListPartitions(ctx, t.bucket, from, day)
	if err != nil {
		return res, err
	}
	parts := make([]partition, len(listed))
	for i, p := range listed {
		parts[i].Partition = p
	}
	res.Partitions = len(parts)
	if len(parts) == 0 {
		return res, nil
	}

	// Pass 1: installations per heat-pump model, from the installation
	// column alone, to decide which models, families and the community get
	// a model.
	perModel := map[string]map[string]struct{}{}
	for _, p := range parts {
		counts, err := lake.Installations(ctx, t.bucket, p.Key)
		if err != nil {
			return res, err
		}
		set := perModel[p.Model]
		if set == nil {
			set = map[string]struct{}{}
			perModel[p.Model] = set
		}
		for id := range counts {
			set[id] = struct{}{}
		}
	}
	targets, routes := t.plan(perModel, res.Skipped)
	if len(targets) == 0 {
		return res, nil
	}

	// Pass 2: profile the rows of each target, then choose its features.
	err = t.each(ctx, parts, routes, func(tg *target, b *batch, i int) {
		tg.profile.AddValues(b.inst[i], b.ts[i], b.metrics, b.row(i))
	})
	if err != nil {
		return res, err
	}
	var trainable []*target
	for _, tg := range targets {
		feats, err := tg.profile.Choose(t.cfg.Features)
		if err != nil || len(feats) == 0 {
			res.Skipped[tg.name] = fmt.Sprintf("no usable features (%v)", err)
			continue
		}
		tg.feats = feats
		tg.stream = model.NewStream(feats)
		tg.res = newReservoir(t.cfg.SampleRows, len(feats), t.seed(tg.name))
		trainable = append(trainable, tg)
	}

	// Pass 3: stream each target's feature vectors in (installation, time)
	// order into its reservoir.
	err = t.each(ctx, parts, routes, func(tg *target, b *batch, i int) {
		if tg.stream == nil {
			return
		}
		tg.vec = tg.stream.VectorValues(tg.vec[:0], b.inst[i], b.ts[i], b.metrics, b.row(i))
		tg.res.add(tg.vec)
		tg.rows++
	})
	if err != nil {
		return res, err
	}
	for _, p := range parts {
		res.Rows += p.rows
	}

	for _, tg := range trainable {
		tr, err := t.fit(ctx, day, from, tg)
		if err != nil {
			if errors.Is(err, errTooFewRows) {
				res.Skipped[tg.name] = err.Error()
				continue
			}
			return res, fmt.Errorf("train %s: %w", tg.name, err)
		}
		res.Models = append(res.Models, tr)
		t.log.Info("model trained", "model", tr.Name, "level", tr.Level, "rows", tr.Rows,
			"sampled", tr.Sampled, "installations", tr.Installations, "features", tr.Features)
	}
	return res, nil
}

// plan decides the targets and, per heat-pump model, the targets its rows
// feed.
func (t *Trainer) plan(perModel map[string]map[string]struct{}, skipped map[string]string) ([]*target, map[string][]*target) {
	minInst := t.cfg.MinInstallations
	routes := map[string][]*target{}
	var targets []*target
	add := func(name, level string, members []string, inst int) {
		tg := &target{name: name, level: level, members: members, installations: inst, profile: features.NewProfile()}
		targets = append(targets, tg)
		for _, m := range members {
			routes[m] = append(routes[m], tg)
		}
	}
	families := map[string][]string{}
	all := map[string]struct{}{}
	models := slices.Sorted(maps.Keys(perModel))
	for _, m := range models {
		n := len(perModel[m])
		maps.Copy(all, perModel[m])
		if n >= minInst {
			add(m, LevelModel, []string{m}, n)
		} else {
			skipped[m] = fmt.Sprintf("%d of %d installations needed for its own model", n, minInst)
		}
		if f := lake.ModelFamily(m); f != m {
			families[f] = append(families[f], m)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(families)) {
		members := families[f]
		needed := slices.ContainsFunc(members, func(m string) bool { return len(perModel[m]) < minInst })
		if _, own := perModel[f]; own || !needed {
			continue // a family named like a model, or every member has its own model
		}
		set := map[string]struct{}{}
		for _, m := range members {
			maps.Copy(set, perModel[m])
		}
		if len(set) >= minInst {
			add(f, LevelFamily, members, len(set))
		} else {
			skipped[f] = fmt.Sprintf("family: %d of %d installations needed", len(set), minInst)
		}
	}
	if len(all) >= minInst {
		add(lake.CommunityModel, LevelCommunity, models, len(all))
	} else {
		skipped[lake.CommunityModel] = fmt.Sprintf("%d of %d installations needed", len(all), minInst)
	}
	return targets, routes
}

// batch is a read-only copy of rows of one partition, shared by the
// targets that consume it.
type batch struct {
	inst    []string
	ts      []time.Time
	metrics []string
	vals    []float64 // row after row, each in metrics order; NaN when null
}

// row returns the values of row i, which its readers share.
func (b *batch) row(i int) []float64 {
	n := len(b.metrics)
	return b.vals[i*n : (i+1)*n : (i+1)*n]
}

// each streams every row of parts, in order, to the targets its model
// routes to: fn gets the target and row i of a batch. Each target runs in
// its own goroutine, so targets train in parallel while each still sees its
// rows in the one fixed order that makes results reproducible; the batch is
// shared and read-only. It counts the rows of each partition into
// parts[i].rows.
func (t *Trainer) each(ctx context.Context, parts []partition, routes map[string][]*target, fn func(tg *target, b *batch, i int)) error {
	feeds := map[*target]chan *batch{}
	g, gctx := errgroup.WithContext(ctx)
	for _, tgs := range routes {
		for _, tg := range tgs {
			if feeds[tg] != nil {
				continue
			}
			ch := make(chan *batch, 2)
			feeds[tg] = ch
			g.Go(func() error {
				for b := range ch {
					for i := range b.inst {
						fn(tg, b, i)
					}
				}
				return nil
			})
		}
	}
	g.Go(func() error {
		defer func() {
			for _, ch := range feeds {
				close(ch)
			}
		}()
		for pi := range parts {
			p := &parts[pi]
			p.rows = 0
			err := lake.Scan(gctx, t.bucket, p.Key, func(c *lake.Columns) error {
				n := len(c.Metrics)
				b := &batch{inst: make([]string, c.Rows), ts: make([]time.Time, c.Rows), metrics: c.Metrics, vals: make([]float64, c.Rows*n)}
				for i := range c.Rows {
					b.inst[i] = c.Installation.Value(i)
					b.ts[i] = time.UnixMicro(int64(c.Timestamp.Value(i))).UTC()
				}
				for j, col := range c.Values {
					for i := range c.Rows {
						v := math.NaN()
						if col.IsValid(i) {
							v = col.Value(i)
						}
						b.vals[i*n+j] = v
					}
				}
				p.rows += int64(c.Rows)
				for _, tg := range routes[p.Model] {
					select {
					case feeds[tg] <- b:
					case <-gctx.Done():
						return gctx.Err()
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
}

var errTooFewRows = errors.New("too few rows")

// fit imputes, scales and fits the target's sample, and writes its
// candidate document.
func (t *Trainer) fit(ctx context.Context, day, from time.Time, tg *target) (Trained, error) {
	psi := t.cfg.Forest.SampleSize
	if psi == 0 {
		psi = iforest.DefaultSampleSize
	}
	n := tg.res.len()
	if n < psi {
		return Trained{}, fmt.Errorf("%w: %d rows sampled, ψ = %d needed", errTooFewRows, n, psi)
	}
	sample := tg.res.rows()
	feats := features.Fit(tg.feats, sample)
	features.PrepareSample(feats, sample)
	x, err := iforest.Dense(sample)
	if err != nil {
		return Trained{}, err
	}
	cfg := t.cfg.Forest
	cfg.Seed = t.seed(tg.name)
	// A hyperplane needs ExtensionLevel+1 distinct features.
	cfg.ExtensionLevel = min(cfg.ExtensionLevel, x.Cols-1)
	forest, err := iforest.Fit(x, cfg)
	if err != nil {
		return Trained{}, err
	}
	doc, err := forest.Document(feats, "robust", model.Metadata{
		HeatpumpModel: tg.name,
		WindowFrom:    from,
		WindowTo:      day.AddDate(0, 0, 1),
		Rows:          int64(n),
		Installations: int64(tg.installations),
		Seed:          cfg.Seed,
		CreatedAt:     day.AddDate(0, 0, 1),
	})
	if err != nil {
		return Trained{}, err
	}
	b, err := model.Marshal(doc)
	if err != nil {
		return Trained{}, err
	}
	key := lake.CandidateKey(day, tg.name)
	if err := t.bucket.Put(ctx, key, b, lake.PutOptions{ContentType: "application/json"}); err != nil {
		return Trained{}, fmt.Errorf("write candidate %s: %w", key, err)
	}
	return Trained{
		Name: tg.name, Key: key, Level: tg.level, Members: tg.members, Rows: tg.rows,
		Sampled: n, Installations: tg.installations, Features: len(feats),
	}, nil
}

// seed mixes the configured seed with a model name, so that each model
// gets its own random stream and keeps it when other models come and go.
func (t *Trainer) seed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return t.cfg.Forest.Seed ^ h.Sum64()
}

// reservoir is a uniform sample of fixed size of a stream of vectors
// (Vitter's algorithm R), seeded so that the same stream gives the same
// sample.
type reservoir struct {
	size, width int
	seen        int64
	data        []float64
	rng         *rand.Rand
}

func newReservoir(size, width int, seed uint64) *reservoir {
	return &reservoir{size: size, width: width, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

func (r *reservoir) add(v []float64) {
	r.seen++
	if r.len() < r.size {
		r.data = append(r.data, v...)
		return
	}
	if j := r.rng.Int64N(r.seen); j < int64(r.size) {
		copy(r.data[int(j)*r.width:], v)
	}
}

func (r *reservoir) len() int { return len(r.data) / max(r.width, 1) }

// rows returns the sample as rows sharing the reservoir's memory.
func (r *reservoir) rows() [][]float64 {
	out := make([][]float64, r.len())
	for i := range out {
		out[i] = r.data[i*r.width : (i+1)*r.width : (i+1)*r.width]
	}
	return out
}
