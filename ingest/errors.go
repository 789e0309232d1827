package ingest

import "fmt"

// Reject is a submission refused as a whole. Status is the HTTP status,
// Reason a short stable label (used in metrics) and Detail the message that
// tells the collector what to fix.
type Reject struct {
	Status int
	Reason string
	Detail string
}

func (r *Reject) Error() string { return fmt.Sprintf("%d %s: %s", r.Status, r.Reason, r.Detail) }

func reject(status int, reason, format string, args ...any) *Reject {
	return &Reject{Status: status, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
