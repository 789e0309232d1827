package lake

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
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
