import Foundation
import GRDB

extension JobStore {
    /// Takes the oldest queued job for a worker (running, attempts + 1) with its input; nil when none waits.
    public func claimNext(now: Date = Date()) throws -> (Job, JobInput)? {
        try write { db in
            guard let queued = try Job.fetchOne(db, sql: "SELECT * FROM job WHERE state = 'queued' ORDER BY seq LIMIT 1"),
                  let next = queued.state.after(.claim) else { return nil }
            try db.execute(sql: "UPDATE job SET state = ?, step = 0, attempts = attempts + 1, started_at = ? WHERE seq = ?",
                           arguments: [next.rawValue, now.timeIntervalSince1970, queued.seq])
            let job = try reload(db, queued)
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM job_input WHERE job_seq = ?", arguments: [job.seq]) else {
                // An input can only be missing if the file was edited by hand; fail the job rather than loop on it.
                try fail(db, job, JobFailure(code: "input-missing", message: "the job's input is missing from the database"), now)
                return nil
            }
            return (job, JobInput(image: row["image"], mask: row["mask"], known: row["known"], semantic: row["semantic"]))
        }
    }

    /// Records that a running job finished `step` of its steps.
    public func recordProgress(id: String, step: Int) throws {
        try transition(id, .progress) { db, job, _ in
            try db.execute(sql: "UPDATE job SET step = ? WHERE seq = ?", arguments: [step, job.seq])
        }
    }

    /// Stores a running job's result and marks it succeeded; its input is dropped.
    @discardableResult
    public func succeed(id: String, result: JobResult, now: Date = Date()) throws -> Job {
        try transition(id, .succeed) { db, job, next in
            try db.execute(sql: "INSERT INTO job_result (job_seq, panoptic_png, segments_json, overlay_png) VALUES (?, ?, ?, ?)",
                           arguments: [job.seq, result.panopticPNG, result.segmentsJSON, result.overlayPNG])
            return try finish(db, job, next, now, failure: nil, step: job.steps)
        }
    }

    /// Marks a queued or running job failed with `failure`; its input is dropped.
    @discardableResult
    public func fail(id: String, failure: JobFailure, now: Date = Date()) throws -> Job {
        try transition(id, .fail) { db, job, next in try finish(db, job, next, now, failure: failure, step: job.step) }
    }

    /// What a cancel request did.
    public enum CancelOutcome: Sendable, Equatable {
        /// The job was queued and is canceled now.
        case canceled(Job)
        /// The job is running; its worker stops at its next step.
        case requested(Job)
        /// The job had already ended.
        case alreadyFinished(Job)
    }

    /// Cancels a queued job at once, or asks a running job's worker to stop.
    public func requestCancel(id: String, now: Date = Date()) throws -> CancelOutcome {
        try write { db in
            guard let job = try Job.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id]) else {
                throw JobStoreError.notFound(id: id)
            }
            switch job.state {
            case .queued:
                return .canceled(try finish(db, job, job.state.after(.cancel)!, now, failure: nil, step: 0))
            case .running:
                try db.execute(sql: "UPDATE job SET cancel_requested = 1 WHERE seq = ?", arguments: [job.seq])
                return .requested(try reload(db, job))
            case .succeeded, .failed, .canceled:
                return .alreadyFinished(job)
            }
        }
    }

    /// Whether a client asked to cancel the job.
    public func isCancelRequested(id: String) throws -> Bool {
        try job(id: id)?.cancelRequested ?? true
    }

    /// Ends a running job whose cancel request its worker has seen.
    @discardableResult
    public func markCanceled(id: String, now: Date = Date()) throws -> Job {
        try transition(id, .cancel) { db, job, next in try finish(db, job, next, now, failure: nil, step: job.step) }
    }

    /// Puts a running job back in the queue (the service is stopping). With `countAttempt` false
    /// the attempt is given back, so orderly restarts never use up a job's tries.
    public func interrupt(id: String, countAttempt: Bool = false) throws {
        try transition(id, .interrupt) { db, job, next in
            try db.execute(sql: """
                UPDATE job SET state = ?, step = 0, started_at = NULL, attempts = attempts - ? WHERE seq = ?
                """, arguments: [next.rawValue, countAttempt ? 0 : 1, job.seq])
        }
    }

    /// At start-up: jobs left running by a stopped process go back to the queue, unless they
    /// have been started `maxAttempts` times already, in which case they fail (a job that
    /// brings the process down must not do so forever).
    public func recoverInterrupted(maxAttempts: Int, now: Date = Date()) throws -> (requeued: Int, failed: Int) {
        try write { db in
            var requeued = 0, failed = 0
            for job in try Job.fetchAll(db, sql: "SELECT * FROM job WHERE state = 'running'") {
                if job.attempts >= maxAttempts {
                    try fail(db, job, .interrupted(attempts: job.attempts), now)
                    failed += 1
                } else {
                    try db.execute(sql: "UPDATE job SET state = ?, step = 0, started_at = NULL WHERE seq = ?",
                                   arguments: [job.state.after(.interrupt)!.rawValue, job.seq])
                    requeued += 1
                }
            }
            return (requeued, failed)
        }
    }

    /// Deletes finished jobs (with their results) that ended before `cutoff`; returns how many.
    @discardableResult
    public func deleteFinished(before cutoff: Date) throws -> Int {
        try write { db in
            try db.execute(sql: "DELETE FROM job WHERE finished_at IS NOT NULL AND finished_at < ?",
                           arguments: [cutoff.timeIntervalSince1970])
            return db.changesCount
        }
    }

    // MARK: - Helpers inside a transaction

    private func finish(_ db: Database, _ job: Job, _ state: JobState, _ now: Date, failure: JobFailure?, step: Int) throws -> Job {
        try db.execute(sql: """
            UPDATE job SET state = ?, step = ?, finished_at = ?, failure_code = ?, failure_message = ? WHERE seq = ?
            """, arguments: [state.rawValue, step, now.timeIntervalSince1970, failure?.code, failure?.message, job.seq])
        try db.execute(sql: "DELETE FROM job_input WHERE job_seq = ?", arguments: [job.seq])
        return try reload(db, job)
    }

    private func reload(_ db: Database, _ job: Job) throws -> Job {
        guard let job = try Job.fetchOne(db, sql: "SELECT * FROM job WHERE seq = ?", arguments: [job.seq]) else {
            throw JobStoreError.notFound(id: job.id)
        }
        return job
    }

    private func fail(_ db: Database, _ job: Job, _ failure: JobFailure, _ now: Date) throws {
        guard let next = job.state.after(.fail) else {
            throw JobStoreError.invalidTransition(id: job.id, from: job.state, event: .fail)
        }
        _ = try finish(db, job, next, now, failure: failure, step: job.step)
    }
}
