import Foundation

/// A job's callback: where its JSON goes once it ends, and how delivery stands.
public struct Callback: Sendable, Equatable {
    public enum State: String, Sendable { case pending, delivered, failed }
    public var jobID: String
    public var jobSeq: Int64
    public var url: String
    public var state: State
    public var attempts: Int
    public var nextAttemptAt: Date
}

/// One try to deliver a callback: the receiver's status, or why there was none.
public struct CallbackAttempt: Sendable, Equatable {
    public var attempt: Int
    public var attemptedAt: Date
    public var status: Int?
    public var error: String?
}

extension JobStore {
    /// Pending callbacks of ended jobs whose next attempt is due, oldest job first, taken for
    /// `hold`: no other node picks them up before this one records its attempt (or the hold lapses).
    public func dueCallbacks(now: Date = Date(), limit: Int = 16, hold: Duration = .seconds(60)) throws -> [Callback] {
        try write { db in
            let due = try db.fetch("""
                SELECT job.id, callback.* FROM callback JOIN job ON job.seq = callback.job_seq
                WHERE callback.state = 'pending' AND callback.next_attempt_at <= ?
                  AND job.state IN ('succeeded', 'failed', 'canceled')
                ORDER BY callback.job_seq LIMIT ?
                """ + self.db.dialect.skipLocked(of: "callback"), now, limit).map(Self.callback)
            for c in due {
                try db.execute("UPDATE callback SET next_attempt_at = ? WHERE job_seq = ?", now.addingTimeInterval(hold.timeInterval), c.jobSeq)
            }
            return due
        }
    }

    /// The callback of job `id`, if it has one.
    public func callback(ofJob id: String) throws -> Callback? {
        try db.read { db in
            try db.fetchOne("SELECT job.id, callback.* FROM callback JOIN job ON job.seq = callback.job_seq WHERE job.id = ?", id)
                .map(Self.callback)
        }
    }

    /// Records an attempt and what follows: delivered, retried at `retryAt`, or (nil) given up.
    public func recordCallbackAttempt(_ callback: Callback, status: Int?, error: String?, delivered: Bool, retryAt: Date?,
                                      now: Date = Date()) throws {
        try write { db in
            let attempt = callback.attempts + 1
            try db.execute("INSERT INTO callback_attempt (job_seq, attempt, attempted_at, status, error) VALUES (?, ?, ?, ?, ?)",
                           callback.jobSeq, attempt, now, status, error)
            let state: Callback.State = delivered ? .delivered : retryAt == nil ? .failed : .pending
            try db.execute("UPDATE callback SET attempts = ?, state = ?, next_attempt_at = ? WHERE job_seq = ?",
                           attempt, state.rawValue, retryAt ?? now, callback.jobSeq)
        }
    }

    /// Every delivery attempt for job `id`, in order.
    public func callbackAttempts(ofJob id: String) throws -> [CallbackAttempt] {
        try db.read { db in
            try db.fetch("""
                SELECT a.* FROM callback_attempt a JOIN job ON job.seq = a.job_seq WHERE job.id = ? ORDER BY a.attempt
                """, id).map { row in
                CallbackAttempt(attempt: row.int("attempt") ?? 0, attemptedAt: row.date("attempted_at") ?? Date(timeIntervalSince1970: 0),
                                status: row.int("status"), error: row.text("error"))
            }
        }
    }

    private static func callback(_ row: SQLRow) -> Callback {
        Callback(jobID: row.text("id") ?? "", jobSeq: row.int64("job_seq") ?? 0, url: row.text("url") ?? "",
                 state: row.text("state").flatMap(Callback.State.init(rawValue:)) ?? .pending, attempts: row.int("attempts") ?? 0,
                 nextAttemptAt: row.date("next_attempt_at") ?? Date(timeIntervalSince1970: 0))
    }
}
