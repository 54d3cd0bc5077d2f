import Foundation
import GRDB

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
    /// Pending callbacks of ended jobs whose next attempt is due, oldest job first.
    public func dueCallbacks(now: Date = Date(), limit: Int = 16) throws -> [Callback] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT job.id, callback.* FROM callback JOIN job ON job.seq = callback.job_seq
                WHERE callback.state = 'pending' AND callback.next_attempt_at <= ?
                  AND job.state IN ('succeeded', 'failed', 'canceled')
                ORDER BY callback.job_seq LIMIT ?
                """, arguments: [now.timeIntervalSince1970, limit]).map(Self.callback)
        }
    }

    /// The callback of job `id`, if it has one.
    public func callback(ofJob id: String) throws -> Callback? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT job.id, callback.* FROM callback JOIN job ON job.seq = callback.job_seq WHERE job.id = ?",
                             arguments: [id]).map(Self.callback)
        }
    }

    /// Records an attempt and what follows: delivered, retried at `retryAt`, or (nil) given up.
    public func recordCallbackAttempt(_ callback: Callback, status: Int?, error: String?, delivered: Bool, retryAt: Date?,
                                      now: Date = Date()) throws {
        try pool.write { db in
            let attempt = callback.attempts + 1
            try db.execute(sql: "INSERT INTO callback_attempt (job_seq, attempt, attempted_at, status, error) VALUES (?, ?, ?, ?, ?)",
                           arguments: [callback.jobSeq, attempt, now.timeIntervalSince1970, status, error])
            let state: Callback.State = delivered ? .delivered : retryAt == nil ? .failed : .pending
            try db.execute(sql: "UPDATE callback SET attempts = ?, state = ?, next_attempt_at = ? WHERE job_seq = ?",
                           arguments: [attempt, state.rawValue, (retryAt ?? now).timeIntervalSince1970, callback.jobSeq])
        }
    }

    /// Every delivery attempt for job `id`, in order.
    public func callbackAttempts(ofJob id: String) throws -> [CallbackAttempt] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT a.* FROM callback_attempt a JOIN job ON job.seq = a.job_seq WHERE job.id = ? ORDER BY a.attempt
                """, arguments: [id]).map { row in
                CallbackAttempt(attempt: row["attempt"], attemptedAt: Date(timeIntervalSince1970: row["attempted_at"]),
                                status: row["status"], error: row["error"])
            }
        }
    }

    private static func callback(_ row: Row) -> Callback {
        Callback(jobID: row["id"], jobSeq: row["job_seq"], url: row["url"],
                 state: Callback.State(rawValue: row["state"]) ?? .pending, attempts: row["attempts"],
                 nextAttemptAt: Date(timeIntervalSince1970: row["next_attempt_at"]))
    }
}
