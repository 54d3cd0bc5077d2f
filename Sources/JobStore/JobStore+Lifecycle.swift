import Foundation

extension JobStore {
    /// Takes the next queued job in the queue's order (fair between owners: `fairStart`) that no
    /// other node is taking (running, attempts + 1) with its input, under a new lease that lapses
    /// `leaseTTL` from now unless renewed; nil when none waits.
    public func claimNext(now: Date = Date(), leaseTTL: Duration = .seconds(30), node: String? = nil) throws -> (Job, JobInput)? {
        try write { db in
            guard let row = try db.fetchOne("SELECT * FROM job WHERE state = 'queued' ORDER BY fair_start, seq LIMIT 1"
                                            + self.db.dialect.skipLocked)
            else { return nil }
            let queued = Job(row: row)
            guard let next = queued.state.after(.claim) else { return nil }
            try db.execute("""
                UPDATE job SET state = ?, step = 0, attempts = attempts + 1, started_at = ?,
                    lease_token = ?, lease_expires_at = ?, node = ? WHERE seq = ?
                """, next.rawValue, now, UUID().uuidString.lowercased(), now.addingTimeInterval(leaseTTL.timeInterval), node, queued.seq)
            let job = try reload(db, queued)
            try notify(db, job, .updated)
            guard let input = try db.fetchOne("SELECT * FROM job_input WHERE job_seq = ?", job.seq).map(JobInput.init(row:)) else {
                // An input can only be missing if the database was edited by hand; fail the job rather than loop on it.
                try fail(db, job, JobFailure(code: "input-missing", message: "the job's input is missing from the database"), now)
                return nil
            }
            return (job, input)
        }
    }

    /// Extends the lease on a running job to `ttl` from now; returns whether a client asked to
    /// cancel it. Throws `leaseLost` once the lease was taken over or the job ended.
    @discardableResult
    public func renewLease(id: String, lease: String, ttl: Duration, now: Date = Date()) throws -> Bool {
        try write { db in
            guard let row = try db.fetchOne("""
                UPDATE job SET lease_expires_at = ? WHERE id = ? AND lease_token = ? AND state = 'running' RETURNING cancel_requested
                """, now.addingTimeInterval(ttl.timeInterval), id, lease) else { throw JobStoreError.leaseLost(id: id) }
            return (row.int("cancel_requested") ?? 0) != 0
        }
    }

    /// Records that a running job finished `step` of its steps.
    public func recordProgress(id: String, step: Int, lease: String? = nil) throws {
        try transition(id, .progress, lease: lease) { db, job, _ in
            try db.execute("UPDATE job SET step = ? WHERE seq = ?", step, job.seq)
            try notify(db, job, .updated)
        }
    }

    /// Stores a running job's result and marks it succeeded; its input is dropped. Workers pass
    /// their claim's `lease`: a completion after the lease was taken over is refused.
    @discardableResult
    public func succeed(id: String, result: JobResult, lease: String? = nil, now: Date = Date()) throws -> Job {
        try transition(id, .succeed, lease: lease) { db, job, next in
            try db.execute("""
                INSERT INTO job_result (job_seq, panoptic_png, segments_json, overlay_png, uncertainty_png) VALUES (?, ?, ?, ?, ?)
                """, job.seq, result.panopticPNG, result.segmentsJSON, result.overlayPNG, result.uncertaintyPNG)
            return try finish(db, job, next, now, failure: nil, step: job.steps)
        }
    }

    /// Marks a queued or running job failed with `failure`; its input is dropped.
    @discardableResult
    public func fail(id: String, failure: JobFailure, lease: String? = nil, now: Date = Date()) throws -> Job {
        try transition(id, .fail, lease: lease) { db, job, next in try finish(db, job, next, now, failure: failure, step: job.step) }
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
            guard let row = try db.fetchOne("SELECT * FROM job WHERE id = ?" + self.db.dialect.forUpdate, id) else {
                throw JobStoreError.notFound(id: id)
            }
            let job = Job(row: row)
            switch job.state {
            case .queued:
                return .canceled(try finish(db, job, job.state.after(.cancel)!, now, failure: nil, step: 0))
            case .running:
                try db.execute("UPDATE job SET cancel_requested = 1 WHERE seq = ?", job.seq)
                try notify(db, job, .cancelRequested)
                return .requested(try reload(db, job))
            case .succeeded, .failed, .canceled:
                return .alreadyFinished(job)
            }
        }
    }

    /// Ends a running job whose cancel request its worker has seen.
    @discardableResult
    public func markCanceled(id: String, lease: String? = nil, now: Date = Date()) throws -> Job {
        try transition(id, .cancel, lease: lease) { db, job, next in try finish(db, job, next, now, failure: nil, step: job.step) }
    }

    /// Puts a running job back in the queue (the service is stopping). With `countAttempt` false
    /// the attempt is given back, so orderly restarts never use up a job's tries.
    public func interrupt(id: String, lease: String? = nil, countAttempt: Bool = false) throws {
        try transition(id, .interrupt, lease: lease) { db, job, next in
            try requeue(db, job, next, giveBack: countAttempt ? 0 : 1)
        }
    }

    /// At start-up on a store this process has to itself (SQLite): jobs left running by a
    /// stopped process go back to the queue, unless they have been started `maxAttempts` times
    /// already, in which case they fail (a job that brings the process down must not do so forever).
    public func recoverInterrupted(maxAttempts: Int, now: Date = Date()) throws -> (requeued: Int, failed: Int) {
        try requeueRunning(where: "", maxAttempts: maxAttempts, now: now)
    }

    /// On a shared store, every node now and then: running jobs whose lease lapsed (their node
    /// died or stalled) go back to the queue, or fail after `maxAttempts` starts, as at start-up.
    public func requeueExpiredLeases(maxAttempts: Int, now: Date = Date()) throws -> (requeued: Int, failed: Int) {
        try requeueRunning(where: " AND (lease_expires_at IS NULL OR lease_expires_at < ?)", now.sqlValue, maxAttempts: maxAttempts, now: now)
    }

    private func requeueRunning(where filter: String, _ arguments: SQLValue..., maxAttempts: Int, now: Date) throws -> (requeued: Int, failed: Int) {
        try write { db in
            var requeued = 0, failed = 0
            for row in try db.fetch("SELECT * FROM job WHERE state = 'running'\(filter) ORDER BY seq" + self.db.dialect.skipLocked, arguments) {
                let job = Job(row: row)
                if job.attempts >= maxAttempts {
                    try fail(db, job, .interrupted(attempts: job.attempts), now)
                    failed += 1
                } else {
                    try requeue(db, job, job.state.after(.interrupt)!, giveBack: 0)
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
            let deleted = try db.fetch("DELETE FROM job WHERE finished_at IS NOT NULL AND finished_at < ? RETURNING *", cutoff)
            for row in deleted { try notify(db, Job(row: row), .deleted) }
            return deleted.count
        }
    }

    // MARK: - Helpers inside a transaction

    private func requeue(_ db: Transaction, _ job: Job, _ state: JobState, giveBack: Int) throws {
        try db.execute("""
            UPDATE job SET state = ?, step = 0, started_at = NULL, attempts = attempts - ?,
                lease_token = NULL, lease_expires_at = NULL, node = NULL WHERE seq = ?
            """, state.rawValue, giveBack, job.seq)
        try notify(db, job, .requeued, state: state)
    }

    private func finish(_ db: Transaction, _ job: Job, _ state: JobState, _ now: Date, failure: JobFailure?, step: Int) throws -> Job {
        try db.execute("""
            UPDATE job SET state = ?, step = ?, finished_at = ?, failure_code = ?, failure_message = ?,
                lease_token = NULL, lease_expires_at = NULL WHERE seq = ?
            """, state.rawValue, step, now, failure?.code, failure?.message, job.seq)
        try db.execute("DELETE FROM job_input WHERE job_seq = ?", job.seq)
        try notify(db, job, .ended, state: state)
        return try reload(db, job)
    }

    private func reload(_ db: any SQLConnection, _ job: Job) throws -> Job {
        guard let row = try db.fetchOne("SELECT * FROM job WHERE seq = ?", job.seq) else { throw JobStoreError.notFound(id: job.id) }
        return Job(row: row)
    }

    private func fail(_ db: Transaction, _ job: Job, _ failure: JobFailure, _ now: Date) throws {
        guard let next = job.state.after(.fail) else {
            throw JobStoreError.invalidTransition(id: job.id, from: job.state, event: .fail)
        }
        _ = try finish(db, job, next, now, failure: failure, step: job.step)
    }
}

extension Duration {
    /// The duration in seconds.
    var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
