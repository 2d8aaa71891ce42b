// Package queue carries herald's jobs from the dispatcher to workers over
// Redis, using asynq (github.com/hibiken/asynq). It is the only package that
// knows about asynq: the domain sees dispatcher.Queue, dispatcher.Job,
// dispatcher.Handler and the *dispatcher.SnoozeError / *dispatcher.PermanentError
// results, and nothing else.
//
// Redis only carries work, and only a window of it: the workers' feeders
// (dispatcher.Feeder) keep a few dozen jobs per channel queued and top them
// up from the ledger. The ledger (package store) is the record of who was
// told what; whatever Redis loses, the feeders and the reconciler rebuild
// from it. So the queue is allowed to be in-memory (the embedded default),
// and it does not deduplicate: a job that runs twice finds its deliveries
// claimed in the ledger and does nothing.
//
// # Connecting
//
// Connect takes one URL:
//
//	""                                              embedded: an in-process miniredis on 127.0.0.1 (a demo or a few
//	                                                thousand contacts; everything queued is lost when the process ends)
//	redis://[user:password@]host[:port][/db]        one Redis server
//	rediss://[user:password@]host[:port][/db]       the same over TLS
//	redis-socket://[user:password@]/path/to/socket[?db=N]
//	redis-sentinel://[:password@]host1:port,host2:port[,...]?master=name
//	                                                Sentinel failover: the safer high-availability path; the
//	                                                password is used for the sentinels and the master
//	redis-cluster://[user:password@]host1:port,host2:port[,...]
//	                                                Redis Cluster; every key of one queue lives on one node
//	                                                (the {queue} hash tag), and some managed clusters reject
//	                                                asynq's Lua scripts
//
// Redis 6.2 or newer is required in practice (asynq's scripts use ZRANGE …
// BYSCORE); Connect reads INFO server and refuses older servers with
// ErrRedisTooOld.
//
// # Keys, queues and tasks
//
// One queue per channel, named <namespace><channel>: with the default
// namespace "herald:" that is herald:email, herald:sms and herald:file, so
// asynq keeps them under asynq:{herald:email}:…. A namespace (WithNamespace)
// lets several herald installations, or concurrent tests, share one Redis.
//
// A task is one job: a batch of up to MaxJobItems deliveries of one
// campaign on one channel (usually a hundred). Its type is send:<channel>;
// its payload holds IDs only (campaign, the number of earlier tries, and
// each delivery's ID and generation) in a compact versioned binary
// encoding (EncodePayload, DecodePayload), never a name, address or text:
// about two bytes per delivery. Tasks get asynq's random IDs.
//
// Beside asynq's keys the package keeps one string per campaign and channel,
// <namespace>feed:<campaign>:<channel>, the feeders' cursor (feed.go), and
// the rate limiter's keys (ratelimit.go).
//
// # Results and retries
//
// A Worker maps the handler's result onto asynq:
//
//   - nil: done, the task is deleted.
//   - *dispatcher.SnoozeError: run again after After without counting a
//     failure; the retry counter does not move.
//   - *dispatcher.PermanentError: archived at once, never retried.
//   - any other error (the handler could not do the job at all: the
//     ledger did not answer): retried after an exponential back-off with
//     jitter, until the job's MaxRetry is used up, then archived; its
//     deliveries are still unfinished in the ledger, where the feeder
//     finds them once the queue is empty.
//
// A delivery that fails on its own (an SMTP 4xx) does not fail its job:
// the worker records it and enqueues it again as a job of its own, held
// back until its next try (ProcessAt, rounded up to the second, asynq's
// resolution).
//
// Each task is enqueued with one retry more than herald's MaxRetry and the
// worker enforces herald's limit itself. asynq archives a task whose retry
// budget is used up whatever the handler returns, so without that spare one
// a snooze on the last try (a provider's Retry-After, a paused campaign)
// would archive the task instead of delaying it.
//
// What asynq writes to Redis as a task's last error is a redacted summary
// (class, provider code, error type): a provider's diagnostic can quote the
// recipient's address, and it belongs in the ledger, not in Redis. The same
// goes for the logs: IDs, channel, retry counts and the summary only.
//
// # Hazards
//
// asynq's bulk operations (delete or archive every task of a queue) are
// single Lua scripts that block Redis for seconds at breach scale, and bulk
// archive has been seen to leak task hashes. This package deliberately offers
// no purge: cancel a campaign in the ledger and let the handler drop its
// jobs.
package queue
