package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffyaml"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// common are the settings every command shares (DESIGN.md, "Command line").
type common struct {
	dataDir   string
	bucketURL string
	logFormat string
	logLevel  string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.String("config", "", "optional YAML file of settings; keys are flag names (IDMT_CONFIG)")
	fs.StringVar(&c.dataDir, "data-dir", "./var", "local state: default bucket, generated certificate, token and keys (IDMT_DATA_DIR)")
	fs.StringVar(&c.bucketURL, "bucket", "", "bucket URL: file://DIR, s3://BUCKET?region=R, gs://BUCKET, azblob://CONTAINER, mem:// (default file://<data-dir>/bucket) (IDMT_BUCKET)")
	fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or text (IDMT_LOG_FORMAT)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error (IDMT_LOG_LEVEL)")
}

// ffOptions give every command the same precedence: flag, environment
// (IDMT_*), YAML file, default.
func ffOptions() []ff.Option {
	return []ff.Option{
		ff.WithEnvVarPrefix("IDMT"),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(ffyaml.Parser),
	}
}

func (c *common) bucket() string {
	if c.bucketURL != "" {
		return c.bucketURL
	}
	return "file://" + filepath.Join(c.dataDir, "bucket")
}

func (c *common) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.logFormat) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want json or text", c.logFormat)}
}

func (c *common) openBucket(ctx context.Context) (*lake.Bucket, error) {
	if err := os.MkdirAll(c.dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	return lake.OpenBucket(ctx, c.bucket())
}

// start resolves what a one-shot command needs: no arguments, its logger
// (on stderr: stdout has the command's results), and the bucket, which the
// caller closes.
func (c *common) start(ctx context.Context, name string, args []string, stderr io.Writer) (*slog.Logger, *lake.Bucket, error) {
	if len(args) > 0 {
		return nil, nil, usageError{fmt.Errorf("%s takes no arguments, got %q", name, args)}
	}
	log, err := c.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	bucket, err := c.openBucket(ctx)
	if err != nil {
		return nil, nil, err
	}
	return log, bucket, nil
}
