import Foundation
import JobStore
import LDMSeg
import Logging
import NNRuntime
import Pipeline
import ServiceCore

/// Threads that take jobs from the store and run them, each with its own `Segmenter`
/// (scratch memory) over the one shared model. Model work blocks, so it runs on dedicated
/// threads, never on Swift's cooperative pool.
package final class WorkerPool: @unchecked Sendable {
    /// How the pool runs jobs (`workers.*`, `limits.job_timeout`, `queue.lease_ttl`).
    package struct Settings: Sendable {
        /// Jobs run at once; 0 on a node that runs none.
        package var count: Int
        /// Jobs' DDIM steps wait up to this for other jobs' steps to share their UNet pass.
        package var batchDelay: Duration
        /// A job running longer fails with `job-timeout`.
        package var jobTimeout: Duration
        /// How long a claim holds without renewal; renewed every third of it.
        package var leaseTTL: Duration
        /// This process, as claims name it.
        package var node: String

        package init(count: Int, batchDelay: Duration = .zero, jobTimeout: Duration = .seconds(600), leaseTTL: Duration = .seconds(30), node: String) {
            self.count = count
            self.batchDelay = batchDelay
            self.jobTimeout = jobTimeout
            self.leaseTTL = leaseTTL
            self.node = node
        }
    }

    private struct State {
        var wakeups = 0
        /// No new jobs are taken.
        var stopping = false
        /// Running jobs stop at their next step and go back to the queue.
        var interrupting = false
        var busy = 0
        var exited = 0
        /// The lease of each job running here, renewed by the heartbeat.
        var leases: [String: String] = [:]
        /// Jobs whose lease was taken over: they stop and record nothing.
        var lost: Set<String> = []
        /// Running jobs a client asked to cancel (heard from the store's changes, kept across a
        /// restart, or found by the heartbeat).
        var cancelRequested: Set<String> = []
    }

    private let settings: Settings
    private let model: LDMSegModel
    /// Threads and kernels of every worker's forward passes.
    private let runtime: RuntimeOptions
    private let store: JobStore
    private let runner: JobRunner
    /// Shares UNet passes among the workers' jobs (nil: one worker, or no batch delay).
    private let batcher: StepBatcher?
    private let metrics: ServiceMetrics
    private let logger: Logger
    /// Guards `state`; workers wait on it for work.
    private let condition = NSCondition()
    private var state = State()
    /// Mean run time of recent jobs in seconds, for Retry-After estimates.
    private var meanRunSeconds = 5.0

    package init(_ settings: Settings, model: LDMSegModel, runtime: RuntimeOptions, store: JobStore, runner: JobRunner,
                 metrics: ServiceMetrics, logger: Logger) {
        self.settings = settings
        self.model = model
        self.runtime = runtime
        self.store = store
        self.runner = runner
        self.metrics = metrics
        self.logger = logger
        batcher = settings.count > 1 && settings.batchDelay > .zero && runtime.maxBatch > 1
            ? StepBatcher(maxDelay: settings.batchDelay, observe: { metrics.unetPass(maps: $0, jobs: $1) }) : nil
    }

    private var count: Int { settings.count }
    private var leaseTTL: Duration { settings.leaseTTL }
    private var jobTimeout: Duration { settings.jobTimeout }

    package var workerCount: Int { count }
    package var busyCount: Int { locked { $0.busy } }

    /// Seconds until a full queue likely has room for one more job: a place frees each time a
    /// worker finishes and takes the next queued job, every mean run time / workers.
    package func secondsUntilAPlaceFrees() -> Int {
        let mean = locked { _ in meanRunSeconds }
        return max(1, Int((mean / Double(max(1, count))).rounded(.up)))
    }

    package func start() {
        guard count > 0 else { return }
        for index in 0..<count {
            // Linux names only the running thread.
            let thread = Thread { [self] in
                Thread.current.name = "segserve-worker-\(index)"
                loop()
            }
            thread.start()
        }
        let heartbeat = Thread { [self] in
            Thread.current.name = "segserve-heartbeat"
            beat()
        }
        heartbeat.start()
    }

    /// Renews the leases of the jobs running here every third of the TTL, so two renewals may
    /// fail before a lease lapses. A lease found taken over stops its job; a cancel request
    /// another node recorded reaches the worker here if its notification was missed.
    private func beat() {
        while locked({ $0.exited < count }) {
            for (id, lease) in locked({ $0.leases }) {
                do {
                    if try store.renewLease(id: id, lease: lease, ttl: leaseTTL) { locked { _ = $0.cancelRequested.insert(id) } }
                } catch JobStoreError.leaseLost {
                    locked { _ = $0.lost.insert(id) }
                    logger.warning("lease taken over; the job stops here", metadata: ["job": "\(id)"])
                } catch {
                    logger.warning("cannot renew a lease", metadata: ["job": "\(id)", "error": "\(error)"])
                }
            }
            // Short sleeps, so the thread ends soon after the last worker.
            let next = ContinuousClock.now + leaseTTL / 3
            while ContinuousClock.now < next && locked({ $0.exited < count }) { Thread.sleep(forTimeInterval: 0.05) }
        }
    }

    /// A client asked to cancel the job `id`: if it runs here, it stops at its next step.
    package func requestCancel(_ id: String) {
        locked { if $0.leases[id] != nil { $0.cancelRequested.insert(id) } }
    }

    /// A job was queued.
    package func wake() {
        locked { $0.wakeups += 1 }
        condition.broadcast()
    }

    /// Stops taking jobs; waits up to `timeout` for running ones to finish, then interrupts
    /// them (they go back to the queue for the next start) and waits for every worker to exit.
    package func drain(timeout: Duration) async {
        locked { $0.stopping = true }
        condition.broadcast()
        let deadline = ContinuousClock.now + timeout
        while locked({ $0.busy > 0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        locked { $0.interrupting = true }
        while locked({ $0.exited < count }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Running jobs stop at their next step and go back to the queue (the service was cancelled).
    package func interruptNow() {
        locked { $0.stopping = true; $0.interrupting = true }
        condition.broadcast()
    }

    private func locked<T>(_ body: (inout State) -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body(&state)
    }

    private func loop() {
        let segmenter = Segmenter(model: model, maxPixels: runner.pipeline.maxPixels, runtime: runtime, batcher: batcher)
        while true {
            let (seen, stopping) = locked { ($0.wakeups, $0.stopping) }
            if stopping { break }
            let claimed: (Job, JobInput)?
            do { claimed = try store.claimNext(leaseTTL: leaseTTL, node: settings.node) } catch {
                logger.error("cannot take a job from the store: \(error)")
                claimed = nil
            }
            if let (job, input) = claimed {
                process(job, input, segmenter)
                continue
            }
            // Nothing queued: sleep until woken; the timeout also recovers from a failed claim.
            condition.lock()
            let deadline = Date(timeIntervalSinceNow: 5)
            while state.wakeups == seen && !state.stopping && condition.wait(until: deadline) {}
            condition.unlock()
        }
        locked { $0.exited += 1 }
    }

    private func process(_ job: Job, _ input: JobInput, _ segmenter: Segmenter) {
        let lease = job.lease
        locked {
            $0.busy += 1
            $0.leases[job.id] = lease
            if job.cancelRequested { $0.cancelRequested.insert(job.id) }
        }
        defer { locked { $0.busy -= 1; $0.leases[job.id] = nil; $0.lost.remove(job.id); $0.cancelRequested.remove(job.id) } }
        let clock = ContinuousClock()
        let start = clock.now
        metrics.started(job.kind, queueWait: .milliseconds(Int64(max(0, (job.startedAt ?? Date()).timeIntervalSince(job.createdAt)) * 1000)))
        logger.info("job started", metadata: ["job": "\(job.id)", "kind": "\(job.kind.rawValue)", "attempt": "\(job.attempts)"])
        var lastStep = start, lastRecorded = start
        var timedOut = false
        var outcome: JobState?
        let run = Result {
            try runner.run(job, input: input, on: segmenter, progress: { step, steps in
                let now = clock.now
                metrics.denoisingStep(now - lastStep)
                lastStep = now
                guard step == 1 || step == steps || now - lastRecorded >= Self.progressInterval else { return }
                lastRecorded = now
                do { try store.recordProgress(id: job.id, step: step, lease: lease) } catch {
                    logger.warning("cannot record progress", metadata: ["job": "\(job.id)", "error": "\(error)"])
                }
            }, isCancelled: {
                if clock.now - start > jobTimeout { timedOut = true }
                return timedOut || locked { $0.interrupting || $0.lost.contains(job.id) || $0.cancelRequested.contains(job.id) }
            })
        }
        // Before the outcome is stored, which is when the job's watchers hear it ended.
        let elapsed = clock.now - start
        metrics.ran(job.kind, duration: elapsed)
        do {
            let result = try run.get()
            if record({ try store.succeed(id: job.id, result: result, lease: lease) }) { outcome = .succeeded }
        } catch LDMSegError.cancelled {
            if locked({ $0.lost.contains(job.id) }) {
                logger.notice("job stopped: its lease was taken over", metadata: ["job": "\(job.id)"])
            } else if timedOut {
                let failure = JobFailure(code: "job-timeout", message: "the job ran longer than limits.job_timeout (\(jobTimeout.inSeconds) s)")
                if record({ try store.fail(id: job.id, failure: failure, lease: lease) }) { outcome = .failed }
                logger.warning("job timed out", metadata: ["job": "\(job.id)"])
            } else if locked({ $0.interrupting }) {
                record { try store.interrupt(id: job.id, lease: lease) }
                logger.notice("job interrupted by shutdown; queued again", metadata: ["job": "\(job.id)"])
            } else {
                if record({ try store.markCanceled(id: job.id, lease: lease) }) { outcome = .canceled }
            }
        } catch {
            let failure = Self.failure(error)
            if record({ try store.fail(id: job.id, failure: failure, lease: lease) }) { outcome = .failed }
            logger.warning("job failed", metadata: ["job": "\(job.id)", "code": "\(failure.code)", "reason": "\(failure.message)"])
        }
        if let outcome {
            logger.info("job ended", metadata: ["job": "\(job.id)", "state": "\(outcome.rawValue)", "duration": "\(elapsed)"])
        }
        if outcome == .succeeded {
            locked { _ in meanRunSeconds = 0.8 * meanRunSeconds + 0.2 * elapsed.inSeconds }
        }
    }

    /// Longest a running job's stored step lags its real one: the store and the job's
    /// watchers hear of the first and last steps and of others at this rate.
    static let progressInterval: Duration = .milliseconds(250)

    /// Whether the update was stored; a lease taken over meanwhile refuses it. While the store
    /// cannot be reached (a database restart) it is retried for up to a lease TTL: the heartbeat
    /// keeps the lease meanwhile, so a finished job's result is not thrown away for a blip.
    @discardableResult
    private func record(_ update: () throws -> Void) -> Bool {
        let deadline = ContinuousClock.now + leaseTTL
        while true {
            do {
                try update()
                return true
            } catch JobStoreError.leaseLost(let id) {
                logger.warning("the job's lease was taken over; this node's outcome is refused", metadata: ["job": "\(id)"])
                return false
            } catch JobStoreError.unavailable(let reason) where ContinuousClock.now < deadline {
                logger.warning("job store unavailable; retrying", metadata: ["reason": "\(reason)"])
                Thread.sleep(forTimeInterval: 0.5)
            } catch {
                logger.error("cannot update a job: \(error)")
                return false
            }
        }
    }

    /// An error from a job's run as the failure stored with it.
    static func failure(_ error: any Error) -> JobFailure {
        switch error {
        case let error as InputError:
            return JobFailure(code: error.code, message: error.description)
        case let error as LDMSegError:
            return JobFailure(code: "invalid-input", message: error.description)
        default:
            return JobFailure(code: "internal", message: "\(error)")
        }
    }
}
