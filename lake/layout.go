package lake

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Every object key the system uses is built in this file; call sites never
// format keys themselves. docs/STORAGE_LAYOUT.md documents each pattern.

const (
	// LandingPrefix holds accepted batches until compaction consumes them.
	LandingPrefix = "landing/"
	dayLayout     = "2006-01-02"
)

// LandingKey is where a batch received at t with content digest sum lands:
// landing/<YYYY-MM-DD>/<HH>/<digest>.json.zst, in UTC. The received hour
// lets compaction list only what is new; the digest makes the key
// content-addressed, so an identical batch sent again maps to the same key.
func LandingKey(t time.Time, sum [32]byte) string {
	t = t.UTC()
	return fmt.Sprintf("%s%s/%02d/%s.json.zst", LandingPrefix, t.Format(dayLayout), t.Hour(), hex.EncodeToString(sum[:16]))
}

// LandingDayPrefix lists the batches received on one UTC day.
func LandingDayPrefix(day time.Time) string {
	return LandingPrefix + day.UTC().Format(dayLayout) + "/"
}

// TelemetryPrefix is the root of the Parquet lake that readers glob.
const TelemetryPrefix = "lake/telemetry/"

// PartitionFile is the one file of a partition: the heat-pump model's
// storage name and the UTC day of the records' own timestamps, in Hive
// style so readers get both as columns.
func PartitionFile(model string, day time.Time) string {
	return fmt.Sprintf("%sheatpump_model=%s/date=%s/part-00000.parquet", TelemetryPrefix, model, day.UTC().Format(dayLayout))
}

const consumedPrefix = "_lake/consumed/"

// ConsumedKey lists the landing objects of one received hour that
// compaction has merged into the lake.
func ConsumedKey(day time.Time, hour int) string {
	return fmt.Sprintf("%s%s/%02d.json", consumedPrefix, day.UTC().Format(dayLayout), hour)
}

// consumedHour parses the day and hour out of a ConsumedKey.
func consumedHour(key string) (time.Time, int, bool) {
	rest, ok := strings.CutPrefix(key, consumedPrefix)
	if !ok {
		return time.Time{}, 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".json")
	if !ok {
		return time.Time{}, 0, false
	}
	return landingHour(LandingPrefix + rest + "/")
}

// QuarantineKey is where an undecodable landing object is kept.
func QuarantineKey(landingKey string) string {
	return "_quarantine/" + landingKey
}

// runName is where compaction spills chunk seq of a partition in its
// local scratch bucket (not the lake's bucket).
func runName(seq int, partition string) string {
	return fmt.Sprintf("runs/%06d/%s", seq, partition)
}

// landingHour parses the received day and hour out of a landing key.
func landingHour(key string) (day time.Time, hour int, ok bool) {
	rest, found := strings.CutPrefix(key, LandingPrefix)
	if !found || len(rest) < len("2006-01-02/15/") || rest[10] != '/' || rest[13] != '/' {
		return time.Time{}, 0, false
	}
	day, err := time.Parse(dayLayout, rest[:10])
	if err != nil {
		return time.Time{}, 0, false
	}
	h := int(rest[11]-'0')*10 + int(rest[12]-'0')
	if rest[11] < '0' || rest[11] > '9' || rest[12] < '0' || rest[12] > '9' || h > 23 {
		return time.Time{}, 0, false
	}
	return day, h, true
}

// MaxModelLen is the longest heat-pump model name accepted.
const MaxModelLen = 100

var modelPattern = regexp.MustCompile(`^[a-zA-Z0-9_\-\. \(\)]+$`)

// ModelStorageName maps a heat-pump model name as collectors send it
// ("AERO SLM 3-11") to the name used in keys ("AERO_SLM_3-11"): spaces
// become underscores, after NormalizeModel (so " AERO  SLM 3-11 " is the
// same model). Names that could escape a key prefix (slashes,
// backslashes, "..", NUL) or break the pattern of wire-compat.md are
// refused with ErrInvalidModel.
func ModelStorageName(model string) (string, error) {
	if err := ValidateModel(model); err != nil {
		return "", err
	}
	return strings.ReplaceAll(NormalizeModel(model), " ", "_"), nil
}

// NormalizeModel trims a model name's spaces and collapses runs of them:
// a stray space in a collector's configuration must not make a model of
// its own. Case is kept ("iPUMP").
func NormalizeModel(model string) string {
	return strings.Join(strings.Fields(model), " ")
}

// ValidateModel checks a heat-pump model name against the published rules
// and says which one it breaks.
func ValidateModel(model string) error {
	switch {
	case strings.TrimSpace(model) == "":
		return fmt.Errorf("%w: empty; configure the heat-pump model in the collector", ErrInvalidModel)
	case len(model) > MaxModelLen:
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrInvalidModel, len(model), MaxModelLen)
	case strings.Contains(model, ".."):
		return fmt.Errorf("%w: must not contain \"..\"", ErrInvalidModel)
	case !modelPattern.MatchString(model):
		return fmt.Errorf("%w: only letters, digits, spaces and _ - . ( ) are allowed", ErrInvalidModel)
	}
	return nil
}

// Day formats a UTC day the way keys and windows spell it (YYYY-MM-DD).
func Day(t time.Time) string { return t.UTC().Format(dayLayout) }

// ParseDay reads a day as Day writes it.
func ParseDay(s string) (time.Time, error) {
	t, err := time.Parse(dayLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("day %q: want YYYY-MM-DD", s)
	}
	return t, nil
}

// parsePartitionFile reads the model's storage name and the day out of a
// PartitionFile key.
func parsePartitionFile(key string) (model string, day time.Time, ok bool) {
	rest, found := strings.CutPrefix(key, TelemetryPrefix+"heatpump_model=")
	if !found {
		return "", time.Time{}, false
	}
	model, rest, found = strings.Cut(rest, "/date=")
	if !found || model == "" || len(rest) < len(dayLayout) {
		return "", time.Time{}, false
	}
	day, err := time.Parse(dayLayout, rest[:len(dayLayout)])
	if err != nil || key != PartitionFile(model, day) {
		return "", time.Time{}, false
	}
	return model, day, true
}

// Statistics (the stats job).
const statsPrefix = "_stats/"

// StatsDayKey holds the statistics of one heat-pump model (storage name)
// for the records measured on one UTC day.
func StatsDayKey(day time.Time, model string) string {
	return statsPrefix + "daily/" + Day(day) + "/" + model + ".json"
}

// StatsDayPrefix lists the StatsDayKey objects of one day.
func StatsDayPrefix(day time.Time) string { return statsPrefix + "daily/" + Day(day) + "/" }

// StatsInstallationsKey holds each installation's contribution (records,
// first and last seen) to the records measured on one UTC day.
func StatsInstallationsKey(day time.Time) string {
	return statsPrefix + "installations/" + Day(day) + ".json"
}

// Models (the train and publish jobs).
const modelsPrefix = "_models/"

// CandidateKey holds the model document trained on day for a model name
// (a heat-pump model's, a family's or "community"; storage name).
func CandidateKey(day time.Time, name string) string {
	return modelsPrefix + "candidates/" + Day(day) + "/" + name + ".json"
}

// CandidatePrefix lists the candidates trained on one day.
func CandidatePrefix(day time.Time) string { return modelsPrefix + "candidates/" + Day(day) + "/" }

// ReleasePrefix lists every release of a model name; release IDs sort in
// publishing order.
func ReleasePrefix(name string) string { return modelsPrefix + "releases/" + name + "/" }

// ReleaseArtefactKey holds the bytes a download of a release returns in
// envelope format ("2" or "3").
func ReleaseArtefactKey(name, release, format string) string {
	return ReleasePrefix(name) + release + "/model.v" + format + ".enc"
}

// ReleaseRecordKey describes a release; it is written after its artefacts.
func ReleaseRecordKey(name, release string) string {
	return ReleasePrefix(name) + release + "/release.json"
}

// CurrentKey points at the release of a model name that clients get; it is
// written last.
func CurrentKey(name string) string { return modelsPrefix + "current/" + name + ".json" }

// CurrentPrefix lists the current pointers of all model names.
const CurrentPrefix = modelsPrefix + "current/"

// Jobs (the scheduler).
const jobsPrefix = "_jobs/"

// JobRunKey holds the run record of one job for one window.
func JobRunKey(job, window string) string { return jobsPrefix + "runs/" + job + "/" + window + ".json" }

// JobRunPrefix lists the run records of one job ("" for all).
func JobRunPrefix(job string) string {
	if job == "" {
		return jobsPrefix + "runs/"
	}
	return jobsPrefix + "runs/" + job + "/"
}

// JobHaltKey is the halt marker of a job: the record of the run that
// halted it, kept until a forced run of the job succeeds.
func JobHaltKey(job string) string { return jobsPrefix + "halted/" + job + ".json" }

// JobRequestPrefix holds requests to run jobs now, written by an operator's
// command for the scheduler that holds the lease.
const JobRequestPrefix = jobsPrefix + "requests/"

// JobRequestKey is the request with the given id (a ULID, so requests list
// in the order they were made).
func JobRequestKey(id string) string { return JobRequestPrefix + id + ".json" }

// JobResultPrefix holds the outcomes of requests to run jobs now.
const JobResultPrefix = jobsPrefix + "results/"

// JobResultKey is the outcome of the request with the given id, written by
// the scheduler that ran it.
func JobResultKey(id string) string { return JobResultPrefix + id + ".json" }

// LeasePrefix holds the scheduler lease, one object per term.
const LeasePrefix = jobsPrefix + "lease/"

// LeaseKey is term n of the scheduler lease; zero-padded so that terms
// list in order.
func LeaseKey(term uint64) string { return fmt.Sprintf("%s%020d.json", LeasePrefix, term) }

// CommunityModel is the name of the one model trained on every heat-pump
// model's data, the last fallback.
const CommunityModel = "community"

// ModelFamily is the family of a heat-pump model's storage name: its
// leading words, without the trailing size words that contain a digit
// ("AERO_SLM_3-11" → "AERO_SLM", "TERRA_SW_6-17" → "TERRA_SW"). A name
// whose every word after the first has a digit keeps its first word
// ("iPUMP_A3-11" → "iPUMP"). The family of a family is itself.
func ModelFamily(storage string) string {
	words := strings.Split(storage, "_")
	n := len(words)
	for n > 1 && strings.ContainsAny(words[n-1], "0123456789") {
		n--
	}
	return strings.Join(words[:n], "_")
}
