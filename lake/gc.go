package lake

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ExpireResult is what an Expire run removed.
type ExpireResult struct {
	Landing   int // consumed landing objects deleted
	Hours     int // consumed lists deleted with their hour
	Kept      int // landing objects past retention kept because unconsumed
	TempFiles int // abandoned temporary files of crashed local writes
}

// tempAge is how old a temporary file must be before it is taken for
// abandoned: far longer than any write takes.
const tempAge = time.Hour

// Expire deletes landing objects that are consumed and whose received
// hour ended more than the retention ago, then the consumed list of every
// hour left empty. Unconsumed objects are never deleted, whatever their
// age. Only compaction reads landing objects and it skips consumed ones,
// so nothing a reader could still be reading is removed. On local buckets
// it also removes temporary files abandoned by crashed writes.
func (c *Compactor) Expire(ctx context.Context) (ExpireResult, error) {
	var res ExpireResult
	cutoff := c.now().Add(-c.cfg.Retention)
	consumed := map[hourKey]map[string]bool{}
	remaining := map[hourKey]int{}
	var expired []string
	err := c.eachLanding(ctx, LandingPrefix, consumed, func(a Attributes, done bool) error {
		d, h, _ := landingHour(a.Key)
		hk := hourKey{d, h}
		end := d.Add(time.Duration(h+1) * time.Hour)
		switch {
		case !end.Before(cutoff):
			remaining[hk]++
		case !done:
			remaining[hk]++
			res.Kept++
		default:
			expired = append(expired, a.Key)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if res.Kept > 0 {
		c.log.WarnContext(ctx, "unconsumed landing objects past retention are kept; run compact", "count", res.Kept)
	}
	for _, key := range expired {
		if err := c.bucket.Delete(ctx, key); err != nil {
			return res, err
		}
		res.Landing++
	}
	// A consumed list goes only once its hour holds nothing: deleting it
	// earlier would make the hour's remaining objects look new. Listing
	// the lists (not just the hours seen above) also finds those a crash
	// left behind after their objects were deleted.
	var lists []string
	err = c.bucket.List(ctx, consumedPrefix, func(a Attributes) error {
		d, h, ok := consumedHour(a.Key)
		if ok && remaining[hourKey{d, h}] == 0 && d.Add(time.Duration(h+1)*time.Hour).Before(cutoff) {
			lists = append(lists, a.Key)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	for _, key := range lists {
		if err := c.bucket.Delete(ctx, key); err != nil {
			return res, err
		}
		res.Hours++
	}
	n, err := c.bucket.removeStaleTemp(c.now().Add(-tempAge))
	res.TempFiles = n
	return res, err
}

// removeStaleTemp deletes temporary files of uncommitted local writes
// older than before; other drivers have none.
func (b *Bucket) removeStaleTemp(before time.Time) (int, error) {
	if b.dir == "" {
		return 0, nil
	}
	n := 0
	err := filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !tempFile.MatchString(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(before) {
			return nil
		}
		if err := os.Remove(path); err == nil {
			n++
		}
		return nil
	})
	return n, err
}
