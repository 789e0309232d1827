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
// (CatchUp×24 hours for the hourly job) whose work is incomplete, oldest
// first. Jobs run one at a time per process.
//
// # Run records and outcomes
//
// The run of a job for a window is recorded at lake.JobRunKey(job, window)
// as JSON (Record). An attempt first writes the record as "running", then
// runs the job, then writes its outcome:
//
//   - done, nothing: success ("nothing to do" is normal); the next job of
//     the pipeline runs for that window. A record says done only after the
//     job returned, so a crash mid-job leaves "running" and is rerun.
//   - retry: the attempt failed; the runner waits Backoff, 2×Backoff, ...
//     and tries again, at most MaxAttempts times per trigger, then records
//     "failed" and does not try that job again in the same pass. The next
//     trigger that covers the window tries again.
//   - halted: the job's error wraps ErrHalt (an invariant is broken). The
//     record is also copied to lake.JobRunKey(job, "halted"), the job's
//     halt marker, and the job is not run again, by this scheduler or any
//     later one, until RunNow with force succeeds and deletes the marker.
//     idmt_jobs_halted{job} is 1 meanwhile; the process keeps serving.
//
// Dependents run only after their predecessor succeeded for the same
// window. Jobs must be idempotent: a rerun after a crash at any point
// converges to the state of one uninterrupted run (DESIGN.md invariant 3).
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
// On a file:// bucket, gocloud's IfNotExist is atomic only within one
// process, so run one scheduler process per local bucket; several replicas
// need an object store (s3, gs, azblob), whose conditional creates are
// atomic.
//
// Operators run one job (RunNow) or a range of days (Backfill) under the
// same lease: they work when no scheduler holds it, and fail with
// ErrLeaseHeld, naming the holder, when one does.
package jobs
