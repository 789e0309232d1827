package lake

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// source is a decoded landing object: the fields its records share and
// the arena of their metric values, so a record costs 24 bytes plus 12 a
// value while it waits for its merge.
type source struct {
	inst, ver, key string
	seq            int32 // the document's position in its landing object
	recv           int64 // microseconds since the epoch
	cols           []int32
	vals           []float64
}

// row is one record on its way into a partition file.
type row struct {
	src    *source
	ts     int64 // microseconds since the epoch
	off, n int32 // its metrics: src.cols/vals[off:off+n]
}

// partition gathers the new rows of one partition file.
type partition struct {
	key  string
	rows []row
	cols []bool // by chunk name id: metrics present in rows
}

// names interns metric names.
type names struct {
	ids  map[string]int32
	list []string
}

func newNames() *names { return &names{ids: map[string]int32{}} }

func (n *names) id(name string) int32 {
	if id, ok := n.ids[name]; ok {
		return id
	}
	id := int32(len(n.list))
	name = strings.Clone(name) // it may alias landing bytes
	n.ids[name] = id
	n.list = append(n.list, name)
	return id
}

// decoded is one landing object read and parsed by a decode worker.
type decoded struct {
	key   string
	srcs  []*source        // one per landing document, in object order
	parts map[string][]row // by partition file
	rows  int
	names []string // the object's own name table, which the srcs' cols index
	json  int64    // landing JSON bytes
	bad   error    // why it cannot be decoded: quarantine it
	data  []byte   // the stored object, kept only when bad
	err   error    // a storage error: the run fails
}

type decodeJob struct {
	key string
	res chan decoded
}

// rawBufs recycles the buffers landing objects are decompressed into;
// nothing decoded keeps a reference to them.
var rawBufs = sync.Pool{New: func() any { return new([]byte) }}

// decodeAhead is how many landing objects the decode workers may run
// ahead of the merge; it bounds the memory they hold beyond a chunk.
const decodeAhead = 4

// decodeAll decodes keys on GOMAXPROCS workers and hands out the results
// in key order, each on its own channel, so the consumer can stop
// anywhere. Cancel ctx to stop the workers early.
func (c *Compactor) decodeAll(ctx context.Context, keys []Attributes) <-chan chan decoded {
	out := make(chan chan decoded, decodeAhead)
	jobs := make(chan decodeJob, decodeAhead)
	for w := 0; w < max(1, min(runtime.GOMAXPROCS(0), len(keys))); w++ {
		go func() {
			for j := range jobs {
				j.res <- c.decode(ctx, j.key)
			}
		}()
	}
	go func() {
		defer close(out)
		defer close(jobs)
		for _, a := range keys {
			j := decodeJob{a.Key, make(chan decoded, 1)}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
			select {
			case out <- j.res:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// decode reads one landing object into rows.
func (c *Compactor) decode(ctx context.Context, key string) decoded {
	d := decoded{key: key}
	data, err := c.bucket.Get(ctx, key)
	if err != nil {
		d.err = err
		return d
	}
	buf := rawBufs.Get().(*[]byte)
	defer rawBufs.Put(buf)
	raw, err := c.landing.dec.DecodeAll(data, (*buf)[:0])
	if err != nil {
		err = fmt.Errorf("decompress landing object: %w", err)
	}
	*buf = raw[:0] // keep the grown buffer for the next object
	if err == nil {
		err = d.records(raw, key)
	}
	if err != nil {
		if ctx.Err() != nil {
			d.err = ctx.Err()
			return d
		}
		d.srcs, d.parts, d.rows, d.bad, d.data = nil, nil, 0, err, data
		return d
	}
	d.json = int64(len(raw))
	return d
}

// records parses every landing document of raw into d.
func (d *decoded) records(raw []byte, key string) error {
	nt := newNames()
	d.parts = map[string][]row{}
	defer func() { d.names = nt.list }()
	dayRoute := map[dayOf]string{} // (model, UTC day number) → partition file
	// Collectors repeat one layout, so the names of the previous record,
	// position by position, resolve almost every name without a lookup.
	var prevNames []string
	var prevIDs []int32
	for seq := int32(0); len(raw) > 0; seq++ {
		doc, rest, err := parseLanding(raw)
		if err != nil {
			return err
		}
		raw = rest
		model, err := ModelStorageName(doc.header.Model)
		if err != nil {
			return err
		}
		src := &source{inst: doc.header.InstallationID, ver: doc.header.Version, key: key, seq: seq, recv: doc.receivedAt.UnixMicro()}
		d.srcs = append(d.srcs, src)
		err = eachRecord(doc.data, func(ts float64, ns []string, vs []float64) error {
			us := int64(math.Round(ts * 1e6))
			day := dayOf{model, floorDiv(us, 86400e6)}
			route, ok := dayRoute[day]
			if !ok {
				route = PartitionFile(model, time.UnixMicro(us))
				dayRoute[day] = route
			}
			if src.cols == nil {
				// Size the arenas once from the first record's width.
				n := doc.header.Records * len(ns)
				src.cols, src.vals = make([]int32, 0, n), make([]float64, 0, n)
			}
			r := row{src: src, ts: us, off: int32(len(src.cols)), n: int32(len(ns))}
			for i, n := range ns {
				var id int32
				if i < len(prevNames) && prevNames[i] == n {
					id = prevIDs[i]
				} else {
					id = nt.id(n)
					if i < len(prevNames) {
						prevNames[i], prevIDs[i] = nt.list[id], id
					} else {
						prevNames, prevIDs = append(prevNames, nt.list[id]), append(prevIDs, id)
					}
				}
				src.cols = append(src.cols, id)
			}
			src.vals = append(src.vals, vs...)
			d.parts[route] = append(d.parts[route], r)
			d.rows++
			return nil
		})
		// Trim the arenas' growth slack: they live until the merge.
		src.cols, src.vals = slices.Clip(src.cols), slices.Clip(src.vals)
		if err != nil {
			return err
		}
	}
	if len(d.srcs) == 0 {
		return fmt.Errorf("%w: empty", errLanding)
	}
	return nil
}

// dayOf names a partition: a model's storage name and a UTC day number.
type dayOf struct {
	model string
	day   int64
}

// add routes a decoded object's rows to their partitions, renumbering
// its metric names into the chunk's table.
func add(parts map[string]*partition, nt *names, d *decoded) {
	remap := make([]int32, len(d.names))
	for i, n := range d.names {
		remap[i] = nt.id(n)
	}
	for _, src := range d.srcs {
		for i, c := range src.cols {
			src.cols[i] = remap[c]
		}
	}
	for key, rows := range d.parts {
		p := parts[key]
		if p == nil {
			p = &partition{key: key}
			parts[key] = p
		}
		if len(p.cols) < len(nt.list) {
			p.cols = append(p.cols, make([]bool, len(nt.list)-len(p.cols))...)
		}
		for _, r := range rows {
			for _, c := range r.src.cols[r.off : r.off+r.n] {
				p.cols[c] = true
			}
		}
		p.rows = append(p.rows, rows...)
	}
}
