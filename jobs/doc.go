// Package jobs schedules the nightly pipeline (compact, stats, train,
// publish: whatever jobs the command layer hands in, in order) once per UTC
// day window, and an optional hourly job with no dependents once per UTC
// hour window. It records each run in the bucket and makes sure that only
// one scheduler per bucket runs jobs at a time. It knows nothing of what
// the jobs do; cmd adapts each one to a Job.
//
// # Windows and schedules
//
// A day window is spelled "2006-01-02" (lake.Day), an hour window
// "2006-01-02T15", both UTC. The nightly schedule (default "30 4 * * *",
// UTC) runs the pipeline for the day that just ended; the hourly schedule
// (default "5 * * * *") runs the hourly job for the hour that just ended. A
// window is due once its schedule has fired after the window ended, so a
// scheduler started at 03:00 UTC does not process yesterday before the
// collectors' 02:00 local submissions have landed. On taking the lease and
// on every trigger, the runner catches up on the last CatchUp due days
// (CatchUp×24 hours for the hourly job, or HourlyCatchUp hours) whose work
// is incomplete, oldest first. Jobs run one at a time per process.
//
// # Run records and outcomes
//
// The run of a job for a window is recorded at lake.JobRunKey(job, window)
// as JSON (Record). An attempt first writes the record as "running", then
// runs the job, then writes its outcome:
//
//   - done, nothing: success ("nothing to do" is normal); the next job of
//     the pipeline runs for that window. A record says done only after the
//     job returned, so a crash mid-job leaves "running" and is rerun. The
//     scheduler does not rerun either; an operator's RunNow reruns a
//     "nothing" window (data may have arrived since), not a done one.
//   - retry: the attempt failed; the runner waits Backoff, 2×Backoff, ...
//     and tries again, at most MaxAttempts times per trigger, then records
//     "failed" and does not try that job again in the same pass. The next
//     trigger that covers the window tries again.
//   - halted: the job's error wraps ErrHalt (an invariant is broken). The
//     record is also copied to lake.JobHaltKey(job), the job's halt
//     marker, and the job is not run again, by this scheduler or any later
//     one, until RunNow with force succeeds and deletes the marker.
//     idmt_jobs_halted{job} is 1 meanwhile; the process keeps serving.
//
// Dependents run only after their predecessor succeeded for the same
// window. Jobs must be idempotent: a rerun after a crash at any point
// converges to the state of one uninterrupted run (DESIGN.md invariant 3).
// A record that exists but does not decode (damaged from outside: every
// write is atomic) counts as missing, so the job runs again; a halt marker
// that does not decode counts as a halt.
//
// # Lease
//
// Only the holder of the bucket's lease runs jobs. The protocol uses
// nothing but listing, reading and creating objects with IfNotExist, which
// every gocloud driver supports (generation-match writes are not
// portable):
//
//  1. The lease is a sequence of terms: term n is the object
//     lake.LeaseKey(n) holding {holder, acquired, expires}. Only the
//     highest term counts.
//  2. A contender lists lake.LeasePrefix and reads the highest term n. It
//     may create term n+1 (IfNotExist) only when term n is released or its
//     clock reads later than expires + ClockSkew. IfNotExist makes exactly
//     one creator of each term win; after winning it lists again to check
//     that its term is the highest.
//  3. The holder renews every LeaseTTL/3 by creating term n+1 itself,
//     expiring LeaseTTL after the moment just before the write. If the
//     create finds the term taken, or its own clock passes the expiry of
//     its newest term first, it has lost the lease: the context of its
//     running jobs is cancelled and it starts nothing more until it wins
//     the lease again.
//  4. A holder that stops cleanly waits for its jobs to end and then
//     creates term n+1 marked released, so the next scheduler takes over
//     at once. A holder that dies just stops renewing; others take over
//     after LeaseTTL + ClockSkew.
//  5. Renewals delete the term five below the new one, so a listing stays
//     short.
//
// The protocol is safe under the usual assumption of leases (Gray and
// Cheriton, "Leases: An Efficient Fault-Tolerant Mechanism for Distributed
// File Cache Consistency", SOSP 1989): the clocks of schedulers sharing a
// bucket differ by at most ClockSkew (default 2 s; NTP keeps hosts within
// milliseconds) and run at nearly the same rate. Because expiry is judged
// by the holder on its own clock from a time taken before its write, and
// by a contender ClockSkew later on its own, the holder has stopped
// starting jobs before anyone else may start one. What no lease prevents
// (Kleppmann, "How to do distributed locking", 2016) is a holder paused
// longer than its term, for example by a stalled bucket request, that
// resumes inside a job: then two schedulers can run the same job for a
// while. Jobs are idempotent, so such a rare double run converges; the
// record of each attempt names the lease term it started under.
//
// Conditional creates are atomic on every driver: object stores do them
// server-side, and lake.Bucket commits them on file:// buckets with a hard
// link, which fails if the name exists whichever process made it. Several
// scheduler processes may therefore share a local bucket folder (on a
// local file system; network file systems may not make link atomic).
//
// # Running jobs now
//
// Operators run one job, or the whole nightly pipeline (the job name
// Pipeline), for one window with RunNow; a forced run (force) reruns done
// windows and clears a halt when it succeeds. Each job gets one attempt,
// and a pipeline stops at the first job that does not succeed. RunNow
// returns the run record of every job it ran or found done, in order.
//
// RunNow needs the lease too. When its runner holds it (from Run) or can
// take it, the work runs in the calling process. When another scheduler
// holds it, RunNow hands the work over as a request:
//
//  1. It writes lake.JobRequestKey(id) with IfNotExist: {id, job, window,
//     force, requested_at, requester}, id a ULID taken at requested_at.
//  2. The holder lists lake.JobRequestPrefix when it takes the lease and
//     every LeaseTTL/3 after, between passes (a request that comes during
//     a pass waits for it, as jobs run one at a time), and handles the
//     requests oldest first: it writes lake.JobResultKey(id) as
//     "running", runs the work under its lease exactly as RunNow would,
//     writes the result ("done" or "failed", with the records and the
//     error) and deletes the request. A request the lease's end cuts
//     short stays for the next holder; one older than a day is answered
//     "failed" (expired) without running. A result already final when a
//     request is met again (a crash between the two writes) only gets the
//     request deleted.
//  3. RunNow polls the result (every LeaseTTL/10, at most 1 s) until it is
//     final and returns its records and its error, which matches ErrHalt,
//     ErrHalted, ErrUnknownJob or ErrWindow with errors.Is as a local one
//     would. Every LeaseTTL/3 it also tries to take the lease, so that a
//     request is not stranded by a holder that stops: if it gets it, it
//     runs the request itself, the same way. If ctx ends first, it deletes
//     a request that no scheduler has started (one that a holder read just
//     before still runs) and returns ctx's error.
//  4. Results are deleted by the holder a day after their request ended.
//
// Backfill runs a range of days under the lease and does not send
// requests: it fails with ErrLeaseHeld, naming the holder, while another
// scheduler holds the lease (RunNow with Pipeline, day by day, does not).
package jobs
