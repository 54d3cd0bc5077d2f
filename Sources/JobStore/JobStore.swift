import Foundation
import GRDB

/// Jobs, their inputs and their results in one SQLite database in WAL mode: the service's
/// durable queue. Readers (status polls) never wait for the writer. Every state change goes
/// through `JobState.after(_:)`, inside one transaction with the check that allows it.
public final class JobStore: Sendable {
    let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    public init(path: String, busyTimeout: Duration = .seconds(10)) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(TimeInterval(busyTimeout.components.seconds))
        configuration.prepareDatabase { db in
            // WAL makes a commit durable against a process crash without an fsync per write.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        self.path = path
        try JobStoreMigrations.migrator.migrate(pool)
    }

    /// Closes the database; later calls fail.
    public func close() throws { try pool.close() }

    // MARK: - Submitting

    /// What `submit` did.
    public enum Submission: Sendable, Equatable {
        case created(Job)
        /// The idempotency key was used before for the same request: that job.
        case existing(Job)
        /// The idempotency key was used before for a different request.
        case keyReused(Job)
        /// `maxQueued` jobs are waiting already; nothing was stored.
        case queueFull(queued: Int)
        /// The owner has `active` jobs queued or running, its most; nothing was stored.
        case ownerQuotaFull(active: Int)
    }

    /// Queues a job unless the queue, or the owner's share of it (`maxActiveForOwner` queued
    /// or running), is full; honours idempotency keys, scoped to the owner. One transaction.
    public func submit(_ new: NewJob, maxQueued: Int, maxActiveForOwner: Int? = nil, now: Date = Date()) throws -> Submission {
        try pool.write { db in
            // Stored as owner + NUL + key, so two owners' keys never meet.
            let key = new.idempotencyKey.map { key in new.owner.map { "\($0)\u{0}\(key)" } ?? key }
            if let key, let job = try Job.fetchOne(db, sql: "SELECT * FROM job WHERE idempotency_key = ?", arguments: [key]) {
                return job.requestHash == new.requestHash ? .existing(job) : .keyReused(job)
            }
            let queued = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job WHERE state = 'queued'") ?? 0
            guard queued < maxQueued else { return .queueFull(queued: queued) }
            if let owner = new.owner, let limit = maxActiveForOwner {
                let active = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job WHERE owner = ? AND state IN ('queued', 'running')",
                                              arguments: [owner]) ?? 0
                guard active < limit else { return .ownerQuotaFull(active: active) }
            }
            let id = UUID().uuidString.lowercased()
            try db.execute(sql: """
                INSERT INTO job (id, kind, state, options, steps, idempotency_key, request_hash, owner, created_at)
                VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)
                """, arguments: [id, new.kind.rawValue, new.options, new.steps, key, new.requestHash, new.owner,
                                 now.timeIntervalSince1970])
            let seq = db.lastInsertedRowID
            let input = new.input
            try db.execute(sql: "INSERT INTO job_input (job_seq, image, mask, known, semantic) VALUES (?, ?, ?, ?, ?)",
                           arguments: [seq, input.image, input.mask, input.known, input.semantic])
            if let url = new.callbackURL {
                try db.execute(sql: "INSERT INTO callback (job_seq, url) VALUES (?, ?)", arguments: [seq, url])
            }
            return .created(try Job.fetchOne(db, sql: "SELECT * FROM job WHERE seq = ?", arguments: [seq])!)
        }
    }

    // MARK: - Reading

    // Status polls are the hot path: single statements (atomic without a transaction) from the
    // statement cache, so a poll neither compiles SQL nor opens a transaction.

    public func job(id: String) throws -> Job? {
        try pool.unsafeRead { db in try Job.fetchOne(db.cachedStatement(sql: "SELECT * FROM job WHERE id = ?"), arguments: [id]) }
    }

    /// How many queued jobs are ahead of `job` (0: next), nil unless it is queued.
    public func queuePosition(of job: Job) throws -> Int? {
        guard job.state == .queued else { return nil }
        return try pool.unsafeRead { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM job WHERE state = 'queued' AND seq < ?"), arguments: [job.seq])
        }
    }

    /// One page of jobs, newest first, optionally filtered (by state, kind, owner); `cursor` is
    /// the previous page's `next`.
    public func list(state: JobState? = nil, kind: JobKind? = nil, owner: String? = nil, limit: Int,
                     cursor: String? = nil) throws -> (jobs: [Job], next: String?) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let owner { conditions.append("owner = ?"); arguments += [owner] }
        if let state { conditions.append("state = ?"); arguments += [state.rawValue] }
        if let kind { conditions.append("kind = ?"); arguments += [kind.rawValue] }
        if let cursor {
            guard let before = JobStore.decodeCursor(cursor) else { throw JobStoreError.invalidCursor(cursor) }
            conditions.append("seq < ?")
            arguments += [before]
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments += [limit + 1]
        let rows = try pool.read { db in
            try Job.fetchAll(db, sql: "SELECT * FROM job \(filter) ORDER BY seq DESC LIMIT ?", arguments: arguments)
        }
        guard rows.count > limit else { return (rows, nil) }
        let page = Array(rows.prefix(limit))
        return (page, JobStore.encodeCursor(page.last!.seq))
    }

    /// The input of a job that has not finished (inputs are dropped when a job ends).
    public func input(ofJob seq: Int64) throws -> JobInput? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM job_input WHERE job_seq = ?", arguments: [seq]).map {
                JobInput(image: $0["image"], mask: $0["mask"], known: $0["known"], semantic: $0["semantic"])
            }
        }
    }

    /// One result file of a succeeded job.
    public func result(_ part: JobResult.Part, ofJob seq: Int64) throws -> Data? {
        try pool.read { db in
            try Data.fetchOne(db, sql: "SELECT \(part.rawValue) FROM job_result WHERE job_seq = ?", arguments: [seq])
        }
    }

    /// The number of jobs in each state.
    public func counts() throws -> [JobState: Int] {
        try pool.read { db in
            var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM job GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    /// Bytes on disk: the database file and its write-ahead log.
    public func sizeOnDisk() -> Int {
        [path, path + "-wal"].reduce(0) { total, file in
            total + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
        }
    }

    // Cursors are opaque to clients: the last seq of a page, base64url-encoded.
    static func encodeCursor(_ seq: Int64) -> String {
        Data("s\(seq)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    static func decodeCursor(_ cursor: String) -> Int64? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
              text.hasPrefix("s"), let seq = Int64(text.dropFirst()), seq > 0 else { return nil }
        return seq
    }

    /// Runs `body` in a write transaction with the job `id` locked in, after checking that
    /// `event` is allowed; `body` gets the job and its next state.
    func transition<T>(_ id: String, _ event: JobEvent, _ body: (Database, Job, JobState) throws -> T) throws -> T {
        try pool.write { db in
            guard let job = try Job.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id]) else {
                throw JobStoreError.notFound(id: id)
            }
            guard let next = job.state.after(event) else {
                throw JobStoreError.invalidTransition(id: id, from: job.state, event: event)
            }
            return try body(db, job, next)
        }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T { try pool.write(body) }
}
