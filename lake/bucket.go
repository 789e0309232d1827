package lake

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
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
// errors translated to this package's sentinels and a fault hook for crash
// tests.
//
// Local file buckets (file://) do not go through gocloud's fileblob at all,
// because fileblob is not safe to share between processes or to crash in:
// its IfNotExist is a check-then-rename guarded by an in-process lock, it
// rewrites an object's ".attrs" metadata sidecar in place (a reader can
// meet it half written, a crash can leave it truncated, and fileblob then
// refuses to read the object), and its listings fail when a file vanishes
// while they walk. The local code below keeps fileblob's on-disk layout
// (one file per key, "<key>.attrs" JSON sidecar, "<key>.<hex>.tmp"
// temporary files) and adds:
//   - commits that are durable: the file is fsynced before it gets its
//     name and the folder after;
//   - IfNotExist commits by hard link, which the file system makes atomic
//     across processes;
//   - sidecars written atomically after the data, naming the file version
//     they describe, so that metadata is shown only with that version and a
//     lost, stale or damaged sidecar reads as "no metadata";
//   - listings in key order that skip temporary files and entries that
//     vanish while they walk.
type Bucket struct {
	// b is the gocloud bucket of every driver but file://. A local bucket
	// keeps a fileblob handle on its folder here too, for code that wraps
	// it with NewBucket; every operation of a local bucket uses dir.
	b     *blob.Bucket
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
		return nil, fmt.Errorf("%w %q: want file://DIR, mem://, s3://, gs:// or azblob://", ErrBucketURL, rawURL)
	}
	if u.Scheme == "file" {
		// file:/dir and file:dir would reach gocloud's fileblob, without
		// this package's fsyncs, links and sidecar-free landing objects.
		return nil, fmt.Errorf("%w %q: write file:// and the folder, e.g. file:///srv/idmt/bucket or file://./var/bucket", ErrBucketURL, rawURL)
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
		return nil, fmt.Errorf("%w %q: file:// needs a folder, e.g. file://./var/bucket", ErrBucketURL, rawURL)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bucket folder %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("create bucket folder: %w", err)
	}
	b, err := fileblob.OpenBucket(abs, &fileblob.Options{NoTempDir: true, DirFileMode: 0o750})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", abs, err)
	}
	return newBucket(b, abs, rawURL, opts), nil
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
	return b.b.Close()
}

// Ping reports whether the bucket answers; health checks use it. A local
// bucket must also take a write (a temporary file, removed at once): a
// folder remounted read-only, or on a full disk, reads fine while every
// batch fails to land. Other drivers are only asked whether the bucket is
// accessible, as a write per probe would cost a request each.
func (b *Bucket) Ping(ctx context.Context) error {
	if b.dir != "" {
		fi, err := os.Stat(b.dir)
		if err != nil {
			return fmt.Errorf("bucket folder: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("bucket folder %s is not a folder", b.dir)
		}
		if err := b.probeWrite(); err != nil {
			return fmt.Errorf("bucket folder %s cannot be written: %w", b.dir, err)
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
	// Local buckets keep it in a sidecar file that a crash right after the
	// write may lose: readers must take missing metadata as unknown (and,
	// say, recompute), never as a fault.
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
	ctx    context.Context
	cancel context.CancelFunc
	bucket *Bucket
	key    string
	opts   PutOptions
	done   bool

	w *blob.Writer // other drivers

	// A local write goes to the temporary file f (buffered by buf) next
	// to path.
	f    *os.File
	buf  *bufio.Writer
	path string
}

// NewWriter starts a streamed write of key.
func (b *Bucket) NewWriter(ctx context.Context, key string, o PutOptions) (*Writer, error) {
	ctx, cancel := context.WithCancel(ctx)
	lw := &Writer{ctx: ctx, cancel: cancel, bucket: b, key: key, opts: o}
	if b.dir != "" {
		path, err := b.path(key)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(path), 0o750)
		}
		var f *os.File
		if err == nil {
			f, err = createTemp(path)
		}
		if err != nil {
			cancel()
			return nil, fmt.Errorf("write %s: %w", key, err)
		}
		lw.f, lw.buf, lw.path = f, bufio.NewWriterSize(f, 64<<10), path
		return lw, nil
	}
	ct := o.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w, err := b.b.NewWriter(ctx, key, &blob.WriterOptions{
		ContentType: ct,
		Metadata:    o.Metadata,
		IfNotExist:  o.IfNotExist,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("write %s: %w", key, translate(err))
	}
	lw.w = w
	return lw, nil
}

// Write appends p to the object.
func (w *Writer) Write(p []byte) (int, error) {
	if w.buf != nil {
		return w.buf.Write(p)
	}
	return w.w.Write(p)
}

// Abort discards the object; nothing becomes visible.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.cancel()
	if w.f != nil {
		_ = w.f.Close()
		_ = os.Remove(w.f.Name())
		return
	}
	_ = w.w.Close()
}

// Close commits the object. On a local bucket a nil error means the object
// survives a power loss.
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
	if w.f != nil {
		return w.commitLocal()
	}
	w.done = true
	defer w.cancel()
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("commit %s: %w", w.key, translate(err))
	}
	return nil
}

// commitLocal publishes the temporary file of a local write. The data is
// fsynced before it gets its name: a rename for a plain write, a hard link
// for IfNotExist, which fails if the name exists, whoever created it. The
// metadata sidecar follows the data, and one fsync of the folder makes
// both names durable. A crash at any point leaves the old object or the
// new one, with its own metadata or none, never another version's.
func (w *Writer) commitLocal() error {
	b, tmp := w.bucket, w.f.Name()
	fail := func(what string, err error) error {
		w.Abort()
		return fmt.Errorf("%s %s: %w", what, w.key, err)
	}
	if err := w.buf.Flush(); err != nil {
		return fail("write", err)
	}
	if !b.noSync {
		if err := w.f.Sync(); err != nil {
			return fail("sync", err)
		}
	}
	fi, err := w.f.Stat()
	if err != nil {
		return fail("write", err)
	}
	if err := w.ctx.Err(); err != nil {
		return fail("write", err)
	}
	w.done = true
	defer w.cancel()
	if err := w.f.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", w.key, err)
	}
	if w.opts.IfNotExist {
		err := os.Link(tmp, w.path)
		// The object exists under its name now (or never will); the
		// temporary name goes either way. A crash before this leaves a
		// temporary file that listings skip and Expire removes.
		_ = os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("commit %s: %w", w.key, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("commit %s (local buckets need a file system with hard links): %w", w.key, err)
		}
	} else if err := os.Rename(tmp, w.path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("commit %s: %w", w.key, err)
	}
	if err := b.writeSidecar(w.path, fi, w.key, w.opts); err != nil {
		return fmt.Errorf("write metadata of %s: %w", w.key, err)
	}
	if !b.noSync {
		if err := syncPath(filepath.Dir(w.path)); err != nil {
			return fmt.Errorf("sync %s: %w", w.key, err)
		}
	}
	return nil
}

// The local bucket layout, shared with gocloud's fileblob.
const attrsExt = ".attrs"

// tempFile matches the names of uncommitted local writes
// ("<key>.<hex nanoseconds>.tmp", also for sidecars); a crash can leave
// them behind.
var tempFile = regexp.MustCompile(`\.[0-9a-f]+\.tmp$`)

// path maps a key to its file in a local bucket. Keys map to paths as they
// are: they are built in layout.go and never need escaping, so keys that
// would (empty segments, "." or "..", control characters, backslashes) or
// that a listing would hide (sidecar and temporary names) are refused.
func (b *Bucket) path(key string) (string, error) {
	bad := key == "" || strings.HasSuffix(key, attrsExt) || tempFile.MatchString(key) ||
		strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' })
	for seg := range strings.SplitSeq(key, "/") {
		bad = bad || seg == "" || seg == "." || seg == ".."
	}
	if bad {
		return "", fmt.Errorf("key %q cannot name a file of a local bucket", key)
	}
	return filepath.Join(b.dir, filepath.FromSlash(key)), nil
}

// pingKey is the key the fault hook sees for Ping's write probe.
const pingKey = "_ping"

// probeWrite writes a byte to a temporary file at the local bucket's root
// and removes it (listings skip it; Expire removes it if a crash leaves
// it). Creating an empty file succeeds on a full disk; writing does not.
func (b *Bucket) probeWrite() error {
	if b.fault != nil {
		if err := b.fault(OpWrite, pingKey); err != nil {
			return err
		}
	}
	f, err := createTemp(filepath.Join(b.dir, pingKey))
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write([]byte{'\n'})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}

// createTemp creates the temporary file of a write of path, named so that
// listings skip it and Expire removes it if a crash abandons it.
func createTemp(path string) (*os.File, error) {
	for try := int64(0); ; try++ {
		name := path + "." + strconv.FormatInt(time.Now().UnixNano()+try, 16) + ".tmp"
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && try < 1000 {
			continue
		}
		return f, err
	}
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

// sidecar is the JSON of a local object's "<key>.attrs" file: fileblob's
// field names, so that fileblob still reads it, plus the identity of the
// file version it describes.
type sidecar struct {
	ContentType string            `json:"user.content_type,omitempty"`
	Metadata    map[string]string `json:"user.metadata"`
	Of          *version          `json:"idmt.version"`
}

// version identifies one version of a local object's file: a replacement
// is a new file, so it differs in inode number (on Unix) and almost always
// in modification time or size.
type version struct {
	Inode   uint64 `json:"inode,omitempty"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
}

func versionOf(fi os.FileInfo) *version {
	return &version{Inode: inode(fi), Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
}

// inode is the inode number behind fi where the platform has one (the Ino
// field of syscall.Stat_t on every Unix), else 0. Reflection keeps this
// file free of build tags.
func inode(fi os.FileInfo) uint64 {
	v := reflect.ValueOf(fi.Sys())
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0
	}
	if f := v.FieldByName("Ino"); f.IsValid() && f.CanUint() {
		return f.Uint()
	}
	return 0
}

// hasSidecar reports whether a key keeps metadata. Files under the lake's
// prefix never do: readers that open every file of a partition folder
// (pyarrow datasets) would take a sidecar for data.
func hasSidecar(key string) bool { return !strings.HasPrefix(key, TelemetryPrefix) }

// writeSidecar stores the metadata of the committed file version fi of
// path atomically (temporary file, fsync, rename). An object without
// metadata gets no sidecar, and a previous version's is removed; it would
// not be shown anyway, since it names another version.
func (b *Bucket) writeSidecar(path string, fi os.FileInfo, key string, o PutOptions) error {
	attrs := path + attrsExt
	if len(o.Metadata) == 0 || !hasSidecar(key) {
		if err := os.Remove(attrs); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	ct := o.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	data, err := json.Marshal(sidecar{ContentType: ct, Metadata: o.Metadata, Of: versionOf(fi)})
	if err != nil {
		return err
	}
	f, err := createTemp(attrs)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && !b.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), attrs)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// readSidecar returns the metadata stored for the file version fi of path.
// A sidecar that is missing, unreadable, damaged, or written for another
// version (a crash between a replacement and its sidecar, a reader between
// the two) yields none: the data stays readable.
func readSidecar(path string, fi os.FileInfo) map[string]string {
	data, err := os.ReadFile(path + attrsExt)
	if err != nil {
		return nil
	}
	var sc sidecar
	if json.Unmarshal(data, &sc) != nil || sc.Of == nil || *sc.Of != *versionOf(fi) {
		return nil
	}
	return sc.Metadata
}

// openLocal opens the file of key for reading.
func (b *Bucket) openLocal(key string) (*os.File, os.FileInfo, error) {
	path, err := b.path(key)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, localError(err)
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = fs.ErrNotExist
	}
	if err != nil {
		f.Close()
		return nil, nil, localError(err)
	}
	return f, fi, nil
}

// localError maps "no such file" to ErrNotFound, as translate does for
// gocloud's errors.
func localError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errors.Join(ErrNotFound, err)
	}
	return err
}

// Get reads a whole object.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	if b.dir != "" {
		f, fi, err := b.openLocal(key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		defer f.Close()
		data := make([]byte, 0, fi.Size()+1)
		for {
			n, err := f.Read(data[len(data):cap(data)])
			data = data[:len(data)+n]
			if err == io.EOF {
				return data, nil
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", key, err)
			}
			if len(data) == cap(data) {
				data = slices.Grow(data, 4096)
			}
		}
	}
	data, err := b.b.ReadAll(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, translate(err))
	}
	return data, nil
}

// NewReader opens an object for streaming reads.
func (b *Bucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if b.dir != "" {
		f, _, err := b.openLocal(key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		return f, nil
	}
	r, err := b.b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, translate(err))
	}
	return r, nil
}

// RandomReader reads an object at arbitrary offsets (Parquet footers and
// column chunks) without loading it whole.
type RandomReader struct {
	r    io.ReadSeekCloser // *os.File for local buckets, else *blob.Reader
	size int64
}

// OpenRandom opens an object for random access.
func (b *Bucket) OpenRandom(ctx context.Context, key string) (*RandomReader, error) {
	if b.dir != "" {
		f, fi, err := b.openLocal(key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		return &RandomReader{r: f, size: fi.Size()}, nil
	}
	r, err := b.b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, translate(err))
	}
	return &RandomReader{r: r, size: r.Size()}, nil
}

// ReadAt reads len(p) bytes at off. It is not safe for concurrent use,
// which the Parquet reader does not need.
func (r *RandomReader) ReadAt(p []byte, off int64) (int, error) {
	if ra, ok := r.r.(io.ReaderAt); ok {
		return ra.ReadAt(p, off)
	}
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
func (r *RandomReader) Size() int64 { return r.size }

// Close releases the reader.
func (r *RandomReader) Close() error { return r.r.Close() }

// Attributes are what a listing or a stat knows about an object.
type Attributes struct {
	Key      string
	Size     int64
	ModTime  time.Time
	Metadata map[string]string
}

// Stat returns an object's attributes. On a local bucket, an object whose
// metadata is lost or damaged has none; that is not an error.
func (b *Bucket) Stat(ctx context.Context, key string) (Attributes, error) {
	if b.dir != "" {
		path, err := b.path(key)
		if err != nil {
			return Attributes{}, fmt.Errorf("stat %s: %w", key, err)
		}
		fi, err := os.Stat(path)
		if err == nil && fi.IsDir() {
			err = fs.ErrNotExist
		}
		if err != nil {
			return Attributes{}, fmt.Errorf("stat %s: %w", key, localError(err))
		}
		return Attributes{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), Metadata: readSidecar(path, fi)}, nil
	}
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
	if b.dir != "" {
		return b.deleteLocal(key)
	}
	if err := b.b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %s: %w", key, translate(err))
	}
	return nil
}

// deleteLocal removes the file of key, then its sidecar; a crash between
// the two leaves a sidecar that names a version that is gone, which
// nothing shows.
func (b *Bucket) deleteLocal(key string) error {
	path, err := b.path(key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if fi, err := os.Lstat(path); err != nil || fi.IsDir() {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", key, err)
		}
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(path + attrsExt); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// List calls fn for every object under prefix, in key order, skipping
// temporary files of uncommitted writes. It stops at fn's first error and
// returns it unchanged.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(Attributes) error) error {
	if b.dir != "" {
		folder := prefix[:strings.LastIndexByte(prefix, '/')+1]
		return b.listLocal(ctx, folder, prefix, fn)
	}
	it := b.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, translate(err))
		}
		if obj.IsDir {
			continue
		}
		if err := fn(Attributes{Key: obj.Key, Size: obj.Size, ModTime: obj.ModTime}); err != nil {
			return err
		}
	}
}

// listLocal lists the objects under prefix in the local folder of key
// prefix folder ("" or ending in "/") and its subfolders. Sorting each
// folder's entries with "/" appended to folder names yields key order.
// Files and folders that vanish while it walks (a temporary file renamed
// away, an object or its folder deleted) are skipped, as a listing of an
// object store that started a moment later would not show them either.
func (b *Bucket) listLocal(ctx context.Context, folder, prefix string, fn func(Attributes) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(b.dir, filepath.FromSlash(folder)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !isNotDir(err) {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	name := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(x, y fs.DirEntry) int { return strings.Compare(name(x), name(y)) })
	for _, e := range entries {
		key := folder + name(e)
		if e.IsDir() {
			if strings.HasPrefix(key, prefix) || strings.HasPrefix(prefix, key) {
				if err := b.listLocal(ctx, key, prefix, fn); err != nil {
					return err
				}
			}
			continue
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) ||
			strings.HasSuffix(key, attrsExt) || tempFile.MatchString(key) {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if err := fn(Attributes{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// isNotDir reports an error of reading a folder that is a file: no key
// lies under it.
func isNotDir(err error) bool {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return false
	}
	fi, serr := os.Stat(pe.Path)
	return serr == nil && !fi.IsDir()
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
