import Foundation
import Glibc
import Synchronization

/// Jobs, their inputs and their results: the service's durable queue. One SQLite file in WAL
/// mode for one machine (readers never wait for the writer), or a PostgreSQL database that many
/// nodes share (claims skip rows other nodes hold; leases fence a node that stalled). Every
/// state change goes through `JobState.after(_:)`, inside one transaction with the check that
/// allows it.
public final class JobStore: Sendable {
    let db: any SQLDatabase
    /// The SQLite file, or nil on PostgreSQL.
    public let path: String?

    /// The lock file held by `claimExclusiveUse`, if claimed.
    private let claim = Mutex<Int32?>(nil)
    /// Told of every committed job change (`observeChanges`).
    let changeObservers = Mutex<[ChangeObserver]>([])
    /// This store in the changes it sends other nodes, so that it skips its own.
    let origin = UUID().uuidString.lowercased()

    /// Opens (creating if needed) the SQLite database at `path` and migrates it to the current schema.
    public init(path: String, busyTimeout: Duration = .seconds(10)) throws {
        db = try SQLiteDatabase(path: path, busyTimeout: busyTimeout)
        self.path = path
    }

    /// Opens `sqlite:///path/to/file` (or a bare path) or `postgres://user[:password]@host[:port]/db`
    /// and migrates it to the current schema.
    public convenience init(url: String) throws {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            guard let parsed = PostgresURL(url) else { throw JobStoreError.invalidURL(url) }
            try self.init(database: try PostgresDatabase(url: parsed))
        } else if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw JobStoreError.invalidURL(url) }
            try self.init(path: path)
        } else if !url.contains("://") {
            try self.init(path: url)
        } else {
            throw JobStoreError.invalidURL(url)
        }
    }

    init(database: PostgresDatabase) throws {
        db = database
        path = nil
    }

    /// Whether other processes may change the jobs (PostgreSQL): in-process caches of job state
    /// must then follow `observeChanges`, and a starting node must not take running jobs back.
    public var isShared: Bool { db.dialect == .postgres }

    /// Throws unless the database answers (readiness).
    public func ping() throws {
        _ = try db.readStatement { db in try db.fetch("SELECT 1 AS one") }
    }

    /// Closes the database; later calls fail.
    public func close() throws {
        claim.withLock { fd in
            if let open = fd { Glibc.close(open) }
            fd = nil
        }
        try db.close()
    }

    /// Claims a SQLite store for this process alone: an exclusive advisory lock on
    /// `<path>.lock`, held until `close` or the process ends (the kernel drops it even after
    /// kill -9). A second process on the same file gets `JobStoreError.inUse` before it reads or
    /// requeues anything. PostgreSQL stores are shared by design; there is nothing to claim.
    public func claimExclusiveUse() throws {
        guard let path else { return }
        try claim.withLock { fd in
            guard fd == nil else { return }
            let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard lock >= 0 else { throw JobStoreError.unavailable(reason: "cannot open \(path).lock: errno \(errno)") }
            guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
                Glibc.close(lock)
                throw JobStoreError.inUse(path: path)
            }
            fd = lock
        }
    }

    // MARK: - Submitting

    /// What `submit` did.
    public enum SubmitOutcome: Sendable, Equatable {
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
    public func submit(_ new: NewJob, maxQueued: Int, maxActiveForOwner: Int? = nil, now: Date = Date()) throws -> SubmitOutcome {
        try write { db in
            // Submissions from every node take turns, so the queue bound and the key check hold.
            if self.db.dialect == .postgres { try db.execute("SELECT pg_advisory_xact_lock(7235002)") }
            // Stored as owner + separator + key, so two owners' keys never meet.
            let separator = self.db.dialect.keySeparator
            let key = new.idempotencyKey.map { key in new.owner.map { $0 + separator + key } ?? key }
            if let key, let row = try db.fetchOne("SELECT * FROM job WHERE idempotency_key = ?", key) {
                let job = Job(row: row)
                return job.requestHash == new.requestHash ? .existing(job) : .keyReused(job)
            }
            let queued = try db.fetchOne("SELECT COUNT(*) AS n FROM job WHERE state = 'queued'")?.int("n") ?? 0
            guard queued < maxQueued else { return .queueFull(queued: queued) }
            if let owner = new.owner, let limit = maxActiveForOwner {
                let active = try db.fetchOne("SELECT COUNT(*) AS n FROM job WHERE owner = ? AND state IN ('queued', 'running')",
                                             owner)?.int("n") ?? 0
                guard active < limit else { return .ownerQuotaFull(active: active) }
            }
            let id = UUID().uuidString.lowercased()
            let start = try fairStart(db, owner: new.owner)
            guard let row = try db.fetchOne("""
                INSERT INTO job (id, kind, state, options, steps, idempotency_key, request_hash, owner, created_at,
                                 image_width, image_height, image_orientation, fair_start, fair_finish)
                VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *
                """, id, new.kind.rawValue, new.options, new.steps, key, new.requestHash, new.owner, now,
                new.image?.width, new.image?.height, new.image?.exifOrientation, start, start + Double(max(1, new.cost))) else {
                throw JobStoreError.unavailable(reason: "the new job was not returned")
            }
            let job = Job(row: row)
            let input = new.input
            try db.execute("INSERT INTO job_input (job_seq, image, mask, known, semantic) VALUES (?, ?, ?, ?, ?)",
                           job.seq, input.image, input.mask, input.known, input.semantic)
            if let url = new.callbackURL {
                try db.execute("INSERT INTO callback (job_seq, url) VALUES (?, ?)", job.seq, url)
            }
            try notify(db, job, .submitted)
            return .created(job)
        }
    }

    // MARK: - Reading

    // Status polls are the hot path: single statements (atomic without a transaction), from
    // the statement cache on SQLite.

    public func job(id: String) throws -> Job? {
        try db.readStatement { db in try db.fetchOne("SELECT * FROM job WHERE id = ?", id).map(Job.init(row:)) }
    }

    /// A new job's place in the queue's order: start-time fair queuing (Goyal et al. 1996) between
    /// owners. Each job spans [start, start + cost) in a virtual time; a new job starts where its
    /// owner's last queued or running job finishes, but no earlier than the earliest start still
    /// queued or running (the virtual time now; 0 when nothing is), and the queue is served by
    /// start. So an owner's backlog holds another owner's next job behind at most the work already
    /// started, and owners share the workers in proportion to job cost, large images costing more.
    /// Without keys there is one owner, and the order is submission order.
    private func fairStart(_ db: any SQLConnection, owner: String?) throws -> Double {
        let ownedBy = owner == nil ? "owner IS NULL" : "owner = ?"
        let arguments: [SQLValue] = owner.map { [.text($0)] } ?? []
        let active = "state IN ('queued', 'running')"
        let now = try db.fetchOne("SELECT MIN(fair_start) AS v FROM job WHERE \(active)")?.double("v") ?? 0
        let last = try db.fetch("SELECT MAX(fair_finish) AS v FROM job WHERE \(active) AND \(ownedBy)", arguments).first?.double("v")
        return max(now, last ?? now)
    }

    /// How many queued jobs are ahead of `job` in the queue's order (`fairStart`, then
    /// submission; 0: next), nil unless it is queued. Another key's job can go ahead of it.
    public func queuePosition(of job: Job) throws -> Int? {
        guard job.state == .queued else { return nil }
        return try db.readStatement { db in
            try db.fetchOne("""
                SELECT COUNT(*) AS n FROM job WHERE state = 'queued' AND (fair_start < ? OR (fair_start = ? AND seq < ?))
                """, job.fairStart, job.fairStart, job.seq)?.int("n")
        }
    }

    /// One page of jobs, newest first, optionally filtered (by state, kind, owner); `cursor` is
    /// the previous page's `next`.
    public func list(state: JobState? = nil, kind: JobKind? = nil, owner: String? = nil, limit: Int,
                     cursor: String? = nil) throws -> (jobs: [Job], next: String?) {
        var conditions: [String] = []
        var arguments: [SQLValue] = []
        if let owner { conditions.append("owner = ?"); arguments.append(.text(owner)) }
        if let state { conditions.append("state = ?"); arguments.append(.text(state.rawValue)) }
        if let kind { conditions.append("kind = ?"); arguments.append(.text(kind.rawValue)) }
        if let cursor {
            guard let before = JobStore.decodeCursor(cursor) else { throw JobStoreError.invalidCursor(cursor) }
            conditions.append("seq < ?")
            arguments.append(.integer(before))
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments.append(.integer(Int64(limit + 1)))
        let rows = try db.read { db in
            try db.fetch("SELECT * FROM job \(filter) ORDER BY seq DESC LIMIT ?", arguments).map(Job.init(row:))
        }
        guard rows.count > limit else { return (rows, nil) }
        let page = Array(rows.prefix(limit))
        return (page, JobStore.encodeCursor(page.last!.seq))
    }

    /// The input of a job that has not finished (inputs are dropped when a job ends).
    public func input(ofJob seq: Int64) throws -> JobInput? {
        try db.read { db in try db.fetchOne("SELECT * FROM job_input WHERE job_seq = ?", seq).map(JobInput.init(row:)) }
    }

    /// One result file of a succeeded job.
    public func result(_ part: JobResult.Part, ofJob seq: Int64) throws -> Data? {
        try db.read { db in try db.fetchOne("SELECT \(part.column) AS part FROM job_result WHERE job_seq = ?", seq)?.blob("part") }
    }

    /// The number of jobs in each state.
    public func counts() throws -> [JobState: Int] {
        try db.read { db in
            var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
            for row in try db.fetch("SELECT state, COUNT(*) AS n FROM job GROUP BY state") {
                if let state = row.text("state").flatMap(JobState.init(rawValue:)) { counts[state] = row.int("n") ?? 0 }
            }
            return counts
        }
    }

    /// Bytes the store takes: the SQLite file and its write-ahead log, or the PostgreSQL database.
    public func sizeOnDisk() -> Int {
        guard let path else {
            return (try? db.readStatement { db in
                try db.fetchOne("SELECT pg_database_size(current_database()) AS n")?.int("n")
            }) ?? 0
        }
        return [path, path + "-wal"].reduce(0) { total, file in
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

    /// Runs `body` in a write transaction with the job `id` locked, after checking that `event`
    /// is allowed and, given a `lease`, that the caller still holds the job; `body` gets the job
    /// and its next state.
    func transition<T>(_ id: String, _ event: JobEvent, lease: String? = nil,
                       _ body: (Transaction, Job, JobState) throws -> T) throws -> T {
        try write { db in
            guard let row = try db.fetchOne("SELECT * FROM job WHERE id = ?" + self.db.dialect.forUpdate, id) else {
                throw JobStoreError.notFound(id: id)
            }
            let job = Job(row: row)
            if let lease, job.lease != lease { throw JobStoreError.leaseLost(id: id) }
            guard let next = job.state.after(event) else {
                throw JobStoreError.invalidTransition(id: id, from: job.state, event: event)
            }
            return try body(db, job, next)
        }
    }
}
