// Command idmtelemetry is the one binary of the telemetry server: the HTTPS
// ingest server, the scheduled jobs, and the tools around them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/idmtelemetry/idmtelemetry/jobs"
	"github.com/idmtelemetry/idmtelemetry/lake"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "idmtelemetry:", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks a mistake in the command line or the configuration:
// running again will not fix it (exitConfig).
type usageError struct{ error }

// exitConfig is the exit status of a mistake in the command line or the
// configuration: EX_CONFIG of sysexits.h, which the systemd unit of
// docs/OPERATIONS.md does not restart. (Not 2: Go's runtime exits 2 when
// the process crashes, and a crash should be restarted.)
const exitConfig = 78

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, lake.ErrBucketURL) || errors.Is(err, jobs.ErrUnknownJob) || errors.Is(err, jobs.ErrWindow) {
		return exitConfig
	}
	return 1
}

// configError marks err, from loading a certificate, tokens or keys, as a
// configuration mistake, unless it is an I/O failure that running again
// may fix (a full disk while a generated file is written).
func configError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return usageError{err}
}

// noSubcommand is the Exec of a command that only groups subcommands: bare,
// it prints its help; with an argument, that argument is a mistyped
// subcommand.
func noSubcommand(name string) func(context.Context, []string) error {
	return func(_ context.Context, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Errorf("unknown command %q; run %q for the list", args[0], name+" --help")}
		}
		return flag.ErrHelp
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := rootCommand(stdout, stderr)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return root.Run(ctx)
}

func rootCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("idmtelemetry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &ffcli.Command{
		Name:       "idmtelemetry",
		ShortUsage: "idmtelemetry <command> [flags]",
		LongHelp: `Community heat-pump telemetry: collectors submit daily batches over HTTPS,
jobs compact them into a Parquet lake, compute community statistics, and
train and publish per-model anomaly models.

Every flag can also be set with an IDMT_* environment variable (--data-dir is
IDMT_DATA_DIR) or in a YAML file named by --config (keys are flag names).
Precedence: flag, then environment, then config file, then default.
Secrets (tokens, keys) are read only from files or the environment.

Run "idmtelemetry <command> --help" for a command's flags.`,
		FlagSet: fs,
		Subcommands: []*ffcli.Command{
			runCommand(stdout, stderr),
			serveCommand(stdout, stderr),
			jobsCommand(stdout, stderr),
			compactCommand(stdout, stderr),
			statsCommand(stdout, stderr),
			trainCommand(stdout, stderr),
			publishCommand(stdout, stderr),
			keysCommand(stdout, stderr),
			loadgenCommand(stdout, stderr),
			versionCommand(stdout),
		},
		Exec: noSubcommand("idmtelemetry"),
	}
}

func versionCommand(stdout io.Writer) *ffcli.Command {
	return &ffcli.Command{
		Name:       "version",
		ShortUsage: "idmtelemetry version",
		ShortHelp:  "Print the version.",
		Exec: func(context.Context, []string) error {
			fmt.Fprintln(stdout, "idmtelemetry", version)
			return nil
		},
	}
}
