package jobs

import "errors"

var (
	// ErrHalt is what a job wraps in its error when an invariant is broken
	// and running it again would make things worse. The runner stops
	// scheduling that job until an operator forces a successful run.
	ErrHalt = errors.New("invariant broken")
	// ErrHalted reports that a job is halted, so it was not run.
	ErrHalted = errors.New("job halted")
	// ErrLeaseHeld reports that another scheduler holds the lease of the
	// bucket, so this one may not run jobs now.
	ErrLeaseHeld = errors.New("lease held by another scheduler")
	// ErrLeaseLost reports that the lease ran out before it was renewed;
	// work started under it was cancelled.
	ErrLeaseLost = errors.New("lease lost")
	// ErrUnknownJob reports a job name the runner was not given.
	ErrUnknownJob = errors.New("unknown job")
	// ErrWindow reports a window that is not spelled as its job expects.
	ErrWindow = errors.New("invalid window")
)
