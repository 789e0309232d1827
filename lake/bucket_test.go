package lake

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"gocloud.dev/blob/fileblob"
)

// fakeS3 serves an in-process S3 API (gofakes3) on loopback and returns
// the bucket URL for gocloud's real s3blob driver.
func fakeS3(t testing.TB) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("lake"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	q := url.Values{
		"endpoint": {srv.URL}, "region": {"us-east-1"}, "use_path_style": {"true"},
		"disable_https": {"true"}, "anonymous": {"true"},
	}
	return "s3://lake?" + q.Encode()
}

// testBuckets opens one bucket per driver the lake must work on.
func testBuckets(t testing.TB, opts ...Option) map[string]*Bucket {
	t.Helper()
	ctx := context.Background()
	out := map[string]*Bucket{}
	for name, url := range map[string]string{
		"mem":  "mem://",
		"file": "file://" + t.TempDir(),
		"s3":   fakeS3(t),
	} {
		b, err := OpenBucket(ctx, url, opts...)
		if err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		t.Cleanup(func() { b.Close() })
		out[name] = b
	}
	return out
}

func TestBucketPutGetList(t *testing.T) {
	ctx := context.Background()
	for name, b := range testBuckets(t) {
		t.Run(name, func(t *testing.T) {
			if err := b.Put(ctx, "a/x", []byte("one"), PutOptions{IfNotExist: true}); err != nil {
				t.Fatal(err)
			}
			err := b.Put(ctx, "a/x", []byte("two"), PutOptions{IfNotExist: true})
			if !errors.Is(err, ErrExists) {
				t.Fatalf("second conditional put: got %v, want ErrExists", err)
			}
			got, err := b.Get(ctx, "a/x")
			if err != nil || string(got) != "one" {
				t.Fatalf("get: %q %v", got, err)
			}
			if _, err := b.Get(ctx, "a/missing"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("get missing: got %v, want ErrNotFound", err)
			}
			if err := b.Put(ctx, "a/y", []byte("y"), PutOptions{Metadata: map[string]string{"k": "v"}}); err != nil {
				t.Fatal(err)
			}
			if a, err := b.Stat(ctx, "a/y"); err != nil || a.Metadata["k"] != "v" || a.Size != 1 {
				t.Fatalf("stat: %+v %v", a, err)
			}
			var keys []string
			if err := b.List(ctx, "a/", func(a Attributes) error { keys = append(keys, a.Key); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || keys[0] != "a/x" || keys[1] != "a/y" {
				t.Fatalf("list: %v", keys)
			}
			if err := b.Delete(ctx, "a/x"); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, "a/x"); err != nil {
				t.Fatalf("deleting a missing object must succeed: %v", err)
			}
		})
	}
}

// A crash during a local write leaves fileblob's temporary file behind;
// listings must not show it to readers or compaction.
func TestFileBucketListSkipsTempFiles(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBucket(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Put(context.Background(), "p/real", []byte("x"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p", "real2.18a3f0c2b1d4e5f6.tmp"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	var keys []string
	_ = b.List(context.Background(), "p/", func(a Attributes) error { keys = append(keys, a.Key); return nil })
	if len(keys) != 1 || keys[0] != "p/real" {
		t.Fatalf("list = %v, want only p/real", keys)
	}
}

// The fault hook aborts a write before it commits: nothing is visible.
func TestFaultAbortsWrite(t *testing.T) {
	boom := errors.New("injected")
	for name, b := range testBuckets(t, WithFault(func(op Op, key string) error {
		if op == OpWrite && key == "f/bad" {
			return boom
		}
		return nil
	})) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := b.Put(ctx, "f/bad", []byte("x"), PutOptions{}); !errors.Is(err, boom) {
				t.Fatalf("put: %v, want injected error", err)
			}
			if _, err := b.Get(ctx, "f/bad"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("aborted write is visible: %v", err)
			}
			var n int
			_ = b.List(ctx, "f/", func(Attributes) error { n++; return nil })
			if n != 0 {
				t.Fatalf("list shows %d objects after an aborted write", n)
			}
		})
	}
}

func TestPingMissingBucket(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBucket(context.Background(), "file://"+dir+"/bucket")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := os.RemoveAll(dir + "/bucket"); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(context.Background()); err == nil {
		t.Fatal("ping of a removed bucket folder succeeded")
	}
}

// TestPingNeedsWrites checks that a local bucket that can be read but not
// written (a read-only remount, a full disk: here the fault hook) fails
// Ping, and that the probe leaves nothing behind.
func TestPingNeedsWrites(t *testing.T) {
	dir := t.TempDir()
	var readOnly atomic.Bool
	b, err := OpenBucket(context.Background(), "file://"+dir, WithFault(func(op Op, key string) error {
		if readOnly.Load() && op == OpWrite {
			return syscall.EROFS
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("ping left %v", left)
	}
	readOnly.Store(true)
	if err := b.Ping(context.Background()); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("ping of a read-only bucket: %v, want EROFS", err)
	}
}

func TestOpenBucketURLs(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{"", dir, "file:", "file:" + dir, "file:./var", "file://", "file://?x=1"} {
		b, err := OpenBucket(context.Background(), bad)
		if !errors.Is(err, ErrBucketURL) {
			t.Errorf("OpenBucket(%q): %v, want ErrBucketURL", bad, err)
		}
		if b != nil {
			b.Close()
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("refused urls created %v", left)
	}
}

// childEnv names the bucket folder a child process of the test binary
// writes to in TestFileBucketIfNotExistAcrossProcesses.
const childEnv = "IDMT_LAKE_TEST_CHILD_BUCKET"

// raceKeys are the keys the contenders of the IfNotExist tests all try to
// create, in the same order so that they collide.
func raceKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("race/%04d", i)
	}
	return keys
}

// contend tries to create every key with IfNotExist, writing id as the
// content, and returns the keys it won. Any error but ErrExists fails.
func contend(b *Bucket, id string, keys []string) ([]string, error) {
	var won []string
	for _, k := range keys {
		err := b.Put(context.Background(), k, []byte(id), PutOptions{IfNotExist: true, Metadata: map[string]string{"writer": id}})
		switch {
		case err == nil:
			won = append(won, k)
		case !errors.Is(err, ErrExists):
			return won, fmt.Errorf("%s: put %s: %w", id, k, err)
		}
	}
	return won, nil
}

// TestFileBucketIfNotExistAcrossProcesses runs contenders in this process
// (on two separately opened buckets, as two components would) and in a
// child process, all creating the same keys at once: each key must have
// exactly one winner, whose content it holds.
func TestFileBucketIfNotExistAcrossProcesses(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		// The child: wait for the parent's go, contend, report the wins.
		b, err := OpenBucket(context.Background(), "file://"+dir)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("ready")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		won, err := contend(b, "child", raceKeys(300))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("won " + strings.Join(won, " "))
		return
	}
	dir := t.TempDir()
	keys := raceKeys(300)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileBucketIfNotExistAcrossProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("child did not get ready: %q %s", lines.Text(), stderr.String())
	}

	b1, b2 := testFileBucket(t, dir), testFileBucket(t, dir)
	wins := map[string][]string{} // key → winners
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, b := range []*Bucket{b1, b1, b2, b2} {
		id := fmt.Sprintf("p%d", i)
		wg.Go(func() {
			won, err := contend(b, id, keys)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, k := range won {
				wins[k] = append(wins[k], id)
			}
		})
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var childWon []string
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "won "); ok {
			childWon = strings.Fields(rest)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	for _, k := range childWon {
		wins[k] = append(wins[k], "child")
	}
	for _, k := range keys {
		if len(wins[k]) != 1 {
			t.Errorf("%s: winners %v, want exactly one", k, wins[k])
			continue
		}
		got, err := b1.Get(context.Background(), k)
		if err != nil || string(got) != wins[k][0] {
			t.Errorf("%s holds %q %v, written by %s", k, got, err, wins[k][0])
		}
		if a, err := b2.Stat(context.Background(), k); err != nil || a.Metadata["writer"] != wins[k][0] {
			t.Errorf("%s: metadata %v %v, want the winner's", k, a.Metadata, err)
		}
	}
	t.Logf("child won %d of %d keys", len(childWon), len(keys))
	if left, _ := filepath.Glob(filepath.Join(dir, "race", "*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func testFileBucket(t *testing.T, dir string, opts ...Option) *Bucket {
	t.Helper()
	b, err := OpenBucket(context.Background(), "file://"+dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// readsAll reads key every way a caller can and checks that the data is
// there; it returns the metadata Stat shows.
func readsAll(t *testing.T, b *Bucket, key, want string) map[string]string {
	t.Helper()
	ctx := context.Background()
	if got, err := b.Get(ctx, key); err != nil || string(got) != want {
		t.Fatalf("get: %q %v, want %q", got, err, want)
	}
	r, err := b.NewReader(ctx, key)
	if err != nil {
		t.Fatalf("new reader: %v", err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != want {
		t.Fatalf("reader: %q %v", got, err)
	}
	rr, err := b.OpenRandom(ctx, key)
	if err != nil {
		t.Fatalf("open random: %v", err)
	}
	defer rr.Close()
	p := make([]byte, len(want))
	if n, err := rr.ReadAt(p, 0); n != len(want) || (err != nil && err != io.EOF) || string(p) != want || rr.Size() != int64(len(want)) {
		t.Fatalf("read at: %q %d %v size %d", p, n, err, rr.Size())
	}
	a, err := b.Stat(ctx, key)
	if err != nil || a.Size != int64(len(want)) {
		t.Fatalf("stat: %+v %v", a, err)
	}
	return a.Metadata
}

// The sidecar holding a local object's metadata is written after the data
// and names the version it describes. However it is lost or damaged, the
// object stays readable and shows no metadata rather than another
// version's.
func TestFileBucketSidecarNeverBreaksReads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := testFileBucket(t, dir)
	key := "_stats/daily/2026-03-01/M.json"
	attrs := filepath.Join(dir, filepath.FromSlash(key)) + ".attrs"
	put := func(data, digest string) {
		t.Helper()
		if err := b.Put(ctx, key, []byte(data), PutOptions{Metadata: map[string]string{"digest": digest}}); err != nil {
			t.Fatal(err)
		}
	}
	put("version one", "d1")
	if md := readsAll(t, b, key, "version one"); md["digest"] != "d1" {
		t.Fatalf("metadata %v", md)
	}
	v1sidecar, err := os.ReadFile(attrs)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("crash between data and sidecar", func(t *testing.T) {
		// A crash after version two's data was renamed into place, before
		// its sidecar: the sidecar on disk is still version one's.
		put("version two!", "d2")
		if err := os.WriteFile(attrs, v1sidecar, 0o644); err != nil {
			t.Fatal(err)
		}
		if md := readsAll(t, b, key, "version two!"); md["digest"] != "" {
			t.Fatalf("version two shows version one's metadata %v", md)
		}
	})
	t.Run("same size and time, other file", func(t *testing.T) {
		// Even a replacement of the same size within one clock tick is
		// told apart, by its inode.
		put("version one", "d1")
		sc, _ := os.ReadFile(attrs)
		fi, _ := os.Stat(filepath.Join(dir, filepath.FromSlash(key)))
		put("version One", "d3")
		if err := os.WriteFile(attrs, sc, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(key)), fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		if md := readsAll(t, b, key, "version One"); md["digest"] != "" {
			t.Fatalf("metadata of a replaced file shown: %v", md)
		}
	})
	for name, damage := range map[string]func() error{
		"missing":   func() error { return os.Remove(attrs) },
		"truncated": func() error { return os.Truncate(attrs, 7) },
		"empty":     func() error { return os.Truncate(attrs, 0) },
		"garbage":   func() error { return os.WriteFile(attrs, []byte("\x00\xff{"), 0o644) },
		// fileblob's own sidecars (written before the data, in place)
		// do not say which version they describe.
		"unversioned": func() error {
			return os.WriteFile(attrs, []byte(`{"user.content_type":"application/json","user.metadata":{"digest":"d9"}}`), 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			put("version four", "d4")
			if err := damage(); err != nil {
				t.Fatal(err)
			}
			if md := readsAll(t, b, key, "version four"); md["digest"] != "" {
				t.Fatalf("metadata %v from a damaged sidecar", md)
			}
			// The next write repairs it.
			put("version five", "d5")
			if md := readsAll(t, b, key, "version five"); md["digest"] != "d5" {
				t.Fatalf("metadata after rewrite %v", md)
			}
		})
	}
	t.Run("without metadata", func(t *testing.T) {
		put("version six", "d6")
		if err := b.Put(ctx, key, []byte("version seven"), PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if md := readsAll(t, b, key, "version seven"); len(md) != 0 {
			t.Fatalf("metadata %v on an object written without", md)
		}
		if _, err := os.Stat(attrs); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("sidecar of an object without metadata: %v", err)
		}
	})
	t.Run("fileblob reads it", func(t *testing.T) {
		put("version eight", "d8")
		fb, err := fileblob.OpenBucket(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer fb.Close()
		a, err := fb.Attributes(ctx, key)
		if err != nil || a.Metadata["digest"] != "d8" {
			t.Fatalf("fileblob attributes: %+v %v", a, err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := b.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(attrs); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("sidecar left by delete: %v", err)
		}
		if _, err := b.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("stat after delete: %v", err)
		}
	})
}

// A reader racing a writer that keeps replacing an object never fails and
// never sees metadata of another version: each version's size is its
// number, and so is its metadata.
func TestFileBucketReplaceWhileReading(t *testing.T) {
	dir := t.TempDir()
	w, r := testFileBucket(t, dir), testFileBucket(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const key = "_jobs/runs/stats/2026-03-01.json"
	version := func(n int) ([]byte, PutOptions) {
		return bytes.Repeat([]byte{'x'}, n), PutOptions{Metadata: map[string]string{"n": strconv.Itoa(n)}}
	}
	data, o := version(1)
	if err := w.Put(ctx, key, data, o); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 2; ctx.Err() == nil; n = n%500 + 2 {
			data, o := version(n)
			if err := w.Put(ctx, key, data, o); err != nil && ctx.Err() == nil {
				t.Error(err)
				return
			}
		}
	})
	var reads, withMeta int
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); reads++ {
		a, err := r.Stat(ctx, key)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if n, ok := a.Metadata["n"]; ok {
			withMeta++
			if n != strconv.FormatInt(a.Size, 10) {
				t.Fatalf("a version of %d bytes shows the metadata of version %s", a.Size, n)
			}
		}
		got, err := r.Get(ctx, key)
		if err != nil || len(got) == 0 || bytes.Count(got, []byte{'x'}) != len(got) {
			t.Fatalf("get: %d bytes %v", len(got), err)
		}
		var n int
		if err := r.List(ctx, "_jobs/runs/", func(Attributes) error { n++; return nil }); err != nil || n != 1 {
			t.Fatalf("list: %d objects %v", n, err)
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d reads, %d with metadata", reads, withMeta)
	if withMeta == 0 {
		t.Error("no read saw metadata")
	}
}

// Listings meet files that vanish while they walk: other writers'
// temporary files renamed away, objects and their folders deleted. They
// skip them and never fail.
func TestFileBucketListWhileWriting(t *testing.T) {
	dir := t.TempDir()
	w, r := testFileBucket(t, dir), testFileBucket(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stable := []string{"l/a", "l/m/stable", "l/z"}
	for _, k := range stable {
		if err := w.Put(ctx, k, []byte("s"), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k := fmt.Sprintf("l/m/%d/%d", g, i%7)
				if err := w.Put(ctx, k, []byte("v"), PutOptions{Metadata: map[string]string{"i": "1"}}); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
				if err := w.Delete(ctx, k); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					os.Remove(filepath.Join(dir, "l", "m", strconv.Itoa(g))) // a folder emptied and removed
				}
			}
		})
	}
	lists := 0
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); lists++ {
		var keys []string
		err := r.List(ctx, "l/", func(a Attributes) error { keys = append(keys, a.Key); return nil })
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if !slices.IsSorted(keys) {
			t.Fatalf("list out of order: %v", keys)
		}
		for _, k := range keys {
			if tempFile.MatchString(k) || strings.HasSuffix(k, ".attrs") {
				t.Fatalf("list shows %s", k)
			}
		}
		for _, k := range stable {
			if !slices.Contains(keys, k) {
				t.Fatalf("list lost %s: %v", k, keys)
			}
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d listings", lists)
}

// Listings are in key order on every driver, including keys whose folder
// names sort differently from the keys ("a/b-c" < "a/b/d").
func TestListKeyOrder(t *testing.T) {
	ctx := context.Background()
	keys := []string{"o/b-c", "o/b/d", "o/b.x/e", "o/b0", "o/a b", "o/b/d2/e", "o/b/d-2", "oz"}
	for name, b := range testBuckets(t) {
		t.Run(name, func(t *testing.T) {
			for _, k := range keys {
				if err := b.Put(ctx, k, []byte("x"), PutOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			for _, prefix := range []string{"o/", "o", "o/b", "o/b/", "o/b/d"} {
				var got []string
				if err := b.List(ctx, prefix, func(a Attributes) error { got = append(got, a.Key); return nil }); err != nil {
					t.Fatal(err)
				}
				want := slices.Sorted(slices.Values(slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return !strings.HasPrefix(k, prefix) })))
				if !slices.Equal(got, want) {
					t.Errorf("list %q = %v, want %v", prefix, got, want)
				}
			}
		})
	}
}

func TestFileBucketRefusesUnmappableKeys(t *testing.T) {
	b := testFileBucket(t, t.TempDir())
	for _, key := range []string{"", "a//b", "../x", "a/./b", "a/..", "/abs", "dir/", "x.attrs", "x.18a3f0.tmp", "a\\b", "a\x00b"} {
		if err := b.Put(context.Background(), key, []byte("x"), PutOptions{}); err == nil {
			t.Errorf("put %q succeeded", key)
		}
	}
}

// TestPingFullDisk fills a small tmpfs (when the test may mount one: as
// root, with the capability) and checks that Ping reports the bucket down:
// creating an empty file still succeeds on a full disk, writing does not.
func TestPingFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	b, err := OpenBucket(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := fill.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	fill.Close()
	if err := b.Ping(context.Background()); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("ping of a full bucket folder: %v, want ENOSPC", err)
	}
}
