package stats

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Decision is whether an installation may download community models, and
// why not, in English and German (collectors show either).
type Decision struct {
	Eligible bool
	Reason   string
	ReasonDE string
	// LastSeen is the time of the installation's last record in the lake
	// (zero when none was seen in the last SeenDays days).
	LastSeen time.Time
	// Pool is the data pool the decision was made on.
	Pool Pool
}

const (
	msgLoading   = "Eligibility cannot be decided yet: the server is still loading its statistics. Please check again in a few minutes."
	msgLoadingDE = "Die Berechtigung kann noch nicht geprüft werden: Der Server lädt noch seine Statistiken. Bitte in einigen Minuten erneut prüfen."
)

// Check decides eligibility as collectors understand it (wire-compat.md):
//
//   - Pool gate: the whole pool, all models together, holds at least
//     MinInstallations installations and MinDataPoints field samples over
//     the last Days days. It is the whole pool, not the asked-for model,
//     because the trainer falls back from a model to its family to one
//     community model: every installation gets a model once the pool is
//     big enough, and pool status (which has no model) must agree with
//     this answer.
//   - Installation gate: the installation's last record lies within the
//     last Days × 24 hours.
//
// model is accepted for symmetry with the check endpoint and does not
// change the decision.
func (v *View) Check(installationID, model string) Decision {
	s := v.snap.Load()
	if s == nil {
		return Decision{Reason: msgLoading, ReasonDE: msgLoadingDE, Pool: v.Pool()}
	}
	d := Decision{Pool: s.pool}
	d.LastSeen = s.lastSeen[strings.ToLower(strings.TrimSpace(installationID))]
	if !s.pool.DataSufficient {
		d.Reason = "Community model not yet available: " + poolShortfall(s.pool, false) +
			" Your data contributions help build it. Please check back later."
		d.ReasonDE = "Community-Modell noch nicht verfügbar: " + poolShortfall(s.pool, true) +
			" Ihre Datenbeiträge helfen beim Aufbau. Bitte später erneut prüfen."
		return d
	}
	days := v.cfg.Days
	switch {
	case d.LastSeen.IsZero():
		d.Reason = fmt.Sprintf("No data contribution from this installation found in the last %d days. "+
			"Enable data sharing in the collector; eligibility starts once its data has been processed (usually the night after the first upload).", days)
		d.ReasonDE = fmt.Sprintf("Kein Datenbeitrag dieser Installation in den letzten %d Tagen gefunden. "+
			"Aktivieren Sie die Datenfreigabe im Collector; die Berechtigung beginnt, sobald die Daten verarbeitet sind (meist in der Nacht nach dem ersten Upload).", days)
	case d.LastSeen.Before(v.now().Add(-time.Duration(days) * 24 * time.Hour)):
		last := d.LastSeen.UTC().Format("2006-01-02")
		d.Reason = fmt.Sprintf("No data contribution from this installation in the last %d days (the last data is from %s). "+
			"Enable data sharing in the collector again to become eligible.", days, last)
		d.ReasonDE = fmt.Sprintf("Kein Datenbeitrag dieser Installation in den letzten %d Tagen (die letzten Daten sind vom %s). "+
			"Aktivieren Sie die Datenfreigabe im Collector wieder, um berechtigt zu werden.", days, last)
	default:
		d.Eligible = true
		d.Reason = "Eligible for community model."
		d.ReasonDE = "Berechtigt für Community-Modell."
	}
	return d
}

// poolShortfall says what the pool lacks: "the data pool has 3 of the 5
// installations needed in the last 30 days."
func poolShortfall(p Pool, de bool) string {
	instShort := p.TotalInstallations < p.MinInstallations
	dataShort := p.TotalDataPoints < p.MinDataPoints
	if de {
		var parts []string
		if instShort {
			parts = append(parts, fmt.Sprintf("%s von %s benötigten Installationen", group(int64(p.TotalInstallations), "."), group(int64(p.MinInstallations), ".")))
		}
		if dataShort {
			parts = append(parts, fmt.Sprintf("%s von %s benötigten Datenpunkten", group(p.TotalDataPoints, "."), group(p.MinDataPoints, ".")))
		}
		return fmt.Sprintf("Der Datenpool hat %s aus den letzten %d Tagen.", strings.Join(parts, " und "), p.Days)
	}
	var parts []string
	if instShort {
		parts = append(parts, fmt.Sprintf("%s of the %s installations", group(int64(p.TotalInstallations), ","), group(int64(p.MinInstallations), ",")))
	}
	if dataShort {
		parts = append(parts, fmt.Sprintf("%s of the %s field samples", group(p.TotalDataPoints, ","), group(p.MinDataPoints, ",")))
	}
	return fmt.Sprintf("the data pool has %s needed from the last %d days.", strings.Join(parts, " and "), p.Days)
}

// poolMessages are pool status's message and message_de.
func poolMessages(p Pool) (string, string) {
	if p.DataSufficient {
		return "Data pool is ready. Community models are available.",
			"Datenpool ist bereit. Community-Modelle sind verfügbar."
	}
	return "Building data pool: " + poolShortfall(p, false) + " Data is being collected - thank you for contributing!",
		"Datenpool wird aufgebaut: " + poolShortfall(p, true) + " Daten werden gesammelt - vielen Dank für Ihre Beiträge!"
}

// group prints n with a thousands separator.
func group(n int64, sep string) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
