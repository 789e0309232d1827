package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/publish"
	"github.com/idmtelemetry/idmtelemetry/stats"
)

func statsCommand(stdout, stderr io.Writer) *ffcli.Command {
	var (
		c common
		w window
		f statsFlags
	)
	fs := flag.NewFlagSet("idmtelemetry stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	w.register(fs, "compute the statistics of")
	f.register(fs)
	return &ffcli.Command{
		Name:       "stats",
		ShortUsage: "idmtelemetry stats [--day D | --from D --to D] [flags]",
		ShortHelp:  "Compute the community statistics now (default: yesterday).",
		LongHelp: `Compute per heat-pump model and UTC day: installations, records, field
samples, per metric count/mean/min/max and mergeable quantile sketches
(p5…p95), the COP curve by outdoor-temperature band, and each installation's
contribution (which drives eligibility). Written to _stats/. A day whose lake
partitions did not change since its last run is skipped ("nothing to do").`,
		FlagSet: fs,
		Options: ffOptions(),
		Exec: func(ctx context.Context, args []string) error {
			days, err := w.days(time.Now())
			if err != nil {
				return err
			}
			log, bucket, err := c.start(ctx, "stats", args, stderr)
			if err != nil {
				return err
			}
			defer bucket.Close()
			job, err := stats.NewJob(bucket, log, f.job)
			if err != nil {
				return usageError{err}
			}
			return exclusive(ctx, bucket, log, func(ctx context.Context) error {
				step := progress(stderr, "computing statistics")
				for i, day := range days {
					res, err := job.Compute(ctx, day)
					if err != nil {
						return err
					}
					if res.NothingToDo {
						fmt.Fprintf(stdout, "%s: nothing to do: statistics match the lake\n", lake.Day(day))
					} else {
						fmt.Fprintf(stdout, "%s: %d models, %d partitions read (%d unchanged), %d rows\n", lake.Day(day), res.Models, res.Scanned, res.Reused, res.Rows)
					}
					step(i+1, len(days))
				}
				return nil
			})
		},
	}
}

func publishCommand(stdout, stderr io.Writer) *ffcli.Command {
	var (
		c        common
		w        window
		k        keysFlag
		rollback string
		list     string
	)
	fs := flag.NewFlagSet("idmtelemetry publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	w.register(fs, "publish the candidates trained for")
	k.register(fs)
	fs.StringVar(&rollback, "rollback", "", "point MODEL (storage name, e.g. AERO_SLM_3-11, TERRA_SW or community) back at its previous release, and publish nothing")
	fs.StringVar(&list, "list", "", "list the releases of MODEL, and publish nothing")
	return &ffcli.Command{
		Name:       "publish",
		ShortUsage: "idmtelemetry publish [--day D | --from D --to D | --rollback MODEL | --list MODEL] [flags]",
		ShortHelp:  "Publish the trained candidates now (default: yesterday's), or roll one back.",
		LongHelp: `Seal each candidate model of the day (_models/candidates/<day>/) into the
envelopes collectors download: Fernet encryption with the shared key, the
"2.0" HMAC envelope and the opt-in "3.0" Ed25519-signed one. The artefacts
are written first, the release record second, the model's "current" pointer
last, so clients never see a half-published model; earlier releases are kept.
A running server picks up new releases within a minute.`,
		FlagSet: fs,
		Options: ffOptions(),
		Exec: func(ctx context.Context, args []string) error {
			log, bucket, err := c.start(ctx, "publish", args, stderr)
			if err != nil {
				return err
			}
			defer bucket.Close()
			keys, _, _, err := k.load(c.dataDir, false)
			if err != nil {
				return err
			}
			cat, err := publish.NewCatalog(bucket, keys, publish.Config{Log: log})
			if err != nil {
				return err
			}
			if list != "" {
				rels, err := cat.Releases(ctx, list)
				if err != nil {
					return err
				}
				if err := cat.Refresh(ctx); err != nil {
					return err
				}
				cur, _ := cat.Current(list)
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "RELEASE\tCREATED\tROWS\tINSTALLATIONS\tMODEL HASH (v2)\tCURRENT")
				for _, r := range rels {
					mark := ""
					if r.ID == cur.ID {
						mark = "*"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", r.ID, r.CreatedAt.Format(time.RFC3339), r.Model.Rows, r.Model.Installations, r.Artefacts[publish.V2].ModelHash, mark)
				}
				return tw.Flush()
			}
			return exclusive(ctx, bucket, log, func(ctx context.Context) error {
				if rollback != "" {
					rel, err := cat.Rollback(ctx, rollback)
					if err != nil {
						return err
					}
					fmt.Fprintf(stdout, "%s: current release is now %s (model hash %s)\n", rollback, rel.ID, rel.Artefacts[publish.V2].ModelHash)
					return nil
				}
				days, err := w.days(time.Now())
				if err != nil {
					return err
				}
				p := &pipeline{bucket: bucket, log: log, catalog: cat}
				for _, day := range days {
					results, err := p.publishDay(ctx, day)
					if err != nil {
						return err
					}
					if len(results) == 0 {
						fmt.Fprintf(stdout, "%s: nothing to do: no candidates (run idmtelemetry train first)\n", lake.Day(day))
					}
					for _, r := range results {
						fmt.Fprintf(stdout, "%s: %-24s %-10s release %s, model hash %s\n", lake.Day(day), r.Release.Name, r.Outcome, r.Release.ID, r.Release.Artefacts[publish.V2].ModelHash)
					}
				}
				return nil
			})
		},
	}
}

func keysCommand(stdout, stderr io.Writer) *ffcli.Command {
	var (
		out       string
		overwrite bool
	)
	gfs := flag.NewFlagSet("idmtelemetry keys generate", flag.ContinueOnError)
	gfs.SetOutput(stderr)
	gfs.StringVar(&out, "out", "", "folder to write fernet.key, ed25519.key and ed25519.pub to (created 0700)")
	gfs.BoolVar(&overwrite, "overwrite", false, "replace existing keys (cuts off every collector holding the old Fernet key)")
	generate := &ffcli.Command{
		Name:       "generate",
		ShortUsage: "idmtelemetry keys generate --out DIR",
		ShortHelp:  "Write a new Fernet key and Ed25519 key pair.",
		LongHelp: `Write fernet.key (the 44-character key collectors share), ed25519.key
(private, PKCS#8 PEM, mode 0600) and ed25519.pub to DIR, then point the server
at it with --keys-dir DIR. Refuses to overwrite existing keys unless told.
For rotation, see docs/OPERATIONS.md.`,
		FlagSet: gfs,
		Exec: func(_ context.Context, args []string) error {
			if out == "" || len(args) > 0 {
				return usageError{fmt.Errorf("keys generate needs --out DIR and no arguments")}
			}
			keys, err := publish.GenerateKeys(out, overwrite)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s/fernet.key, ed25519.key and ed25519.pub (key id %s)\n", out, keys.KeyID())
			return nil
		},
	}
	fs := flag.NewFlagSet("idmtelemetry keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &ffcli.Command{
		Name:        "keys",
		ShortUsage:  "idmtelemetry keys generate --out DIR",
		ShortHelp:   "Manage the model encryption and signing keys.",
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{generate},
		Exec:        noSubcommand("idmtelemetry keys"),
	}
}
