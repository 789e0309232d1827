package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"

	// Register the drivers an operator can name in --bucket.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
)

// Op names a bucket operation for fault injection.
type Op string

// The operations a fault hook sees.
const (
	OpWrite  Op = "write"
	OpDelete Op = "delete"
)

// Bucket is the one storage seam: every component reads and writes through
// it, whatever driver backs it. It adds what gocloud leaves to the caller:
// durable commits on local file buckets, listings without temporary files,
// errors translated to this package's sentinels, and a fault hook for crash
// tests.
type Bucket struct {
	b *blob.Bucket
	// plain writes the lake's Parquet files of a local bucket: without
	// fileblob's ".attrs" sidecar, which readers that open every file of
	// a partition folder (pyarrow datasets) would take for data.
	plain *blob.Bucket
	dir   string // root folder of a local file bucket, "" for other drivers
	url   string
	fault func(op Op, key string) error
	// noSync skips the fsyncs of a local bucket whose content a crash may
	// lose (compaction's scratch runs).
	noSync bool
}

// Option configures a Bucket.
type Option func(*Bucket)

// WithFault installs a hook called before every commit and delete; a
// non-nil error aborts the operation with that error. Crash tests use it to
// fail the Nth write.
func WithFault(f func(op Op, key string) error) Option {
	return func(b *Bucket) { b.fault = f }
}

// OpenBucket opens a bucket URL: file:///abs/dir or file://rel/dir (created
// if missing), mem://, s3://, gs:// or azblob://.
func OpenBucket(ctx context.Context, rawURL string, opts ...Option) (*Bucket, error) {
	if dir, ok := strings.CutPrefix(rawURL, "file://"); ok {
		return openFileBucket(dir, rawURL, opts...)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("bucket url %q: want file://DIR, mem://, s3://, gs:// or azblob://", rawURL)
	}
	b, err := blob.OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", rawURL, err)
	}
	return newBucket(b, "", rawURL, opts), nil
}

func openFileBucket(dir, rawURL string, opts ...Option) (*Bucket, error) {
	if i := strings.IndexByte(dir, '?'); i >= 0 {
		dir = dir[:i]
	}
	if dir == "" {
		return nil, fmt.Errorf("bucket url %q: file:// needs a folder, e.g. file://./var/bucket", rawURL)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bucket folder %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("create bucket folder: %w", err)
	}
	// Temporary files next to their final path keep the commit rename on
	// one file system (atomic) and let us fsync the folder that holds both.
	b, err := fileblob.OpenBucket(abs, &fileblob.Options{NoTempDir: true, DirFileMode: 0o750})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", abs, err)
	}
	plain, err := fileblob.OpenBucket(abs, &fileblob.Options{NoTempDir: true, DirFileMode: 0o750, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", abs, err)
	}
	bk := newBucket(b, abs, rawURL, opts)
	bk.plain = plain
	return bk, nil
}

// NewBucket wraps an already opened gocloud bucket (tests use memblob).
func NewBucket(b *blob.Bucket, opts ...Option) *Bucket {
	return newBucket(b, "", "", opts)
}

func newBucket(b *blob.Bucket, dir, rawURL string, opts []Option) *Bucket {
	bk := &Bucket{b: b, dir: dir, url: rawURL}
	for _, o := range opts {
		o(bk)
	}
	return bk
}

// URL returns the URL the bucket was opened with ("" when wrapped).
func (b *Bucket) URL() string { return b.url }

// Close releases the bucket.
func (b *Bucket) Close() error {
	if b.plain != nil {
		b.plain.Close()
	}
	return b.b.Close()
}

// Ping reports whether the bucket answers; health checks use it.
func (b *Bucket) Ping(ctx context.Context) error {
	if b.dir != "" {
		// fileblob answers from memory; look at the folder itself.
		fi, err := os.Stat(b.dir)
		if err != nil {
			return fmt.Errorf("bucket folder: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("bucket folder %s is not a folder", b.dir)
		}
		return nil
	}
	ok, err := b.b.IsAccessible(ctx)
	if err != nil {
		return fmt.Errorf("bucket not accessible: %w", err)
	}
	if !ok {
		return errors.New("bucket does not exist")
	}
	return nil
}

// PutOptions qualify a write.
type PutOptions struct {
	// ContentType defaults to application/octet-stream.
	ContentType string
	// IfNotExist makes the write fail with ErrExists when the key exists.
	IfNotExist bool
	// Metadata is stored with the object. Never put an IP address here.
	Metadata map[string]string
}

// Put writes data under key and returns once it is committed.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, o PutOptions) error {
	w, err := b.NewWriter(ctx, key, o)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return fmt.Errorf("write %s: %w", key, err)
	}
	return w.Close()
}

// Writer streams one object; it commits in Close and discards in Abort.
type Writer struct {
	w      *blob.Writer
	cancel context.CancelFunc
	file   *os.File // the temporary file of a local bucket, to fsync
	bucket *Bucket
	key    string
	done   bool
}

// NewWriter starts a streamed write of key.
func (b *Bucket) NewWriter(ctx context.Context, key string, o PutOptions) (*Writer, error) {
	ctx, cancel := context.WithCancel(ctx)
	lw := &Writer{cancel: cancel, bucket: b, key: key}
	ct := o.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	opts := &blob.WriterOptions{
		ContentType: ct,
		Metadata:    o.Metadata,
		IfNotExist:  o.IfNotExist,
	}
	if b.dir != "" {
		opts.BeforeWrite = func(as func(any) bool) error {
			var f *os.File
			if as(&f) {
				lw.file = f
			}
			return nil
		}
	}
	target := b.b
	if b.plain != nil && strings.HasPrefix(key, TelemetryPrefix) {
		target = b.plain
	}
	w, err := target.NewWriter(ctx, key, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("write %s: %w", key, translate(err))
	}
	lw.w = w
	return lw, nil
}

// Write appends p to the object.
func (w *Writer) Write(p []byte) (int, error) { return w.w.Write(p) }

// Abort discards the object; nothing becomes visible.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.cancel()
	_ = w.w.Close()
}

// Close commits the object. On a local bucket the data is fsynced before the
// rename that publishes it and the folder is fsynced after, so a nil error
// means the object survives a power loss.
func (w *Writer) Close() error {
	if w.done {
		return errors.New("writer already closed")
	}
	if w.bucket.fault != nil {
		if err := w.bucket.fault(OpWrite, w.key); err != nil {
			w.Abort()
			return fmt.Errorf("write %s: %w", w.key, err)
		}
	}
	if w.file != nil && !w.bucket.noSync {
		if err := w.file.Sync(); err != nil {
			w.Abort()
			return fmt.Errorf("sync %s: %w", w.key, err)
		}
	}
	w.done = true
	defer w.cancel()
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("commit %s: %w", w.key, translate(err))
	}
	if w.bucket.dir != "" && !w.bucket.noSync {
		if err := w.bucket.syncCommitted(w.key); err != nil {
			return fmt.Errorf("sync %s: %w", w.key, err)
		}
	}
	return nil
}

// syncCommitted makes a committed local object's name and attributes
// durable: the sidecar attributes file and the folder entries are fsynced.
func (b *Bucket) syncCommitted(key string) error {
	path := filepath.Join(b.dir, filepath.FromSlash(key))
	if err := syncPath(path + ".attrs"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncPath(filepath.Dir(path))
}

func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get reads a whole object.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	data, err := b.b.ReadAll(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, translate(err))
	}
	return data, nil
}

// NewReader opens an object for streaming reads.
func (b *Bucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := b.b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, translate(err))
	}
	return r, nil
}

// RandomReader reads an object at arbitrary offsets (Parquet footers and
// column chunks) without loading it whole.
type RandomReader struct {
	r *blob.Reader
}

// OpenRandom opens an object for random access.
func (b *Bucket) OpenRandom(ctx context.Context, key string) (*RandomReader, error) {
	r, err := b.b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, translate(err))
	}
	return &RandomReader{r: r}, nil
}

// ReadAt reads len(p) bytes at off. It is not safe for concurrent use,
// which the Parquet reader does not need.
func (r *RandomReader) ReadAt(p []byte, off int64) (int, error) {
	if _, err := r.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(r.r, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

// Seek implements io.Seeker.
func (r *RandomReader) Seek(off int64, whence int) (int64, error) { return r.r.Seek(off, whence) }

// Read implements io.Reader.
func (r *RandomReader) Read(p []byte) (int, error) { return r.r.Read(p) }

// Size is the object's size.
func (r *RandomReader) Size() int64 { return r.r.Size() }

// Close releases the reader.
func (r *RandomReader) Close() error { return r.r.Close() }

// Attributes are what a listing or a stat knows about an object.
type Attributes struct {
	Key      string
	Size     int64
	ModTime  time.Time
	Metadata map[string]string
}

// Stat returns an object's attributes.
func (b *Bucket) Stat(ctx context.Context, key string) (Attributes, error) {
	a, err := b.b.Attributes(ctx, key)
	if err != nil {
		return Attributes{}, fmt.Errorf("stat %s: %w", key, translate(err))
	}
	return Attributes{Key: key, Size: a.Size, ModTime: a.ModTime, Metadata: a.Metadata}, nil
}

// Delete removes an object; deleting a missing object is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if b.fault != nil {
		if err := b.fault(OpDelete, key); err != nil {
			return fmt.Errorf("delete %s: %w", key, err)
		}
	}
	if err := b.b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %s: %w", key, translate(err))
	}
	return nil
}

// tempFile matches the names fileblob gives uncommitted writes
// ("<key>.<hex nanoseconds>.tmp"); a crash can leave them behind.
var tempFile = regexp.MustCompile(`\.[0-9a-f]+\.tmp$`)

// List calls fn for every object under prefix, in key order, skipping
// temporary files of uncommitted writes. It stops at fn's first error.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(Attributes) error) error {
	it := b.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, translate(err))
		}
		if obj.IsDir || (b.dir != "" && tempFile.MatchString(obj.Key)) {
			continue
		}
		if err := fn(Attributes{Key: obj.Key, Size: obj.Size, ModTime: obj.ModTime}); err != nil {
			return err
		}
	}
}

// translate maps gocloud error codes to this package's sentinels once, at
// the boundary, keeping the driver's error in the chain for the message.
func translate(err error) error {
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return errors.Join(ErrNotFound, err)
	case gcerrors.FailedPrecondition:
		return errors.Join(ErrExists, err)
	}
	return err
}
