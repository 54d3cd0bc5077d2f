import Dispatch
import Foundation
import NIOCore

/// Every committed job change, published once: to this process's observers at commit, on both
/// backends, and on PostgreSQL to every other node's observers as well (NOTIFY). Callers of the
/// store never announce changes themselves.
extension JobStore {
    /// A committed change to a job.
    public struct Change: Sendable, Equatable {
        public enum Kind: String, Sendable {
            /// A new job is queued.
            case submitted
            /// The job is back in the queue (shutdown, a lapsed lease).
            case requeued
            /// Claimed, or a step made.
            case updated
            /// A client asked the running job to stop.
            case cancelRequested = "cancel"
            /// The job reached a final state (`state`).
            case ended
            /// The job and its results were deleted (retention).
            case deleted
        }
        public var id: String
        public var kind: Kind
        public var jobKind: JobKind
        /// The job's state after the change (before it, for `deleted`).
        public var state: JobState
        /// Made by this process; false for changes heard from another node.
        public var isLocal: Bool

        public init(id: String, kind: Kind, jobKind: JobKind, state: JobState, isLocal: Bool = true) {
            self.id = id
            self.kind = kind
            self.jobKind = jobKind
            self.state = state
            self.isLocal = isLocal
        }

        /// The NOTIFY payload: kind, job kind, state, origin, id.
        func payload(origin: String) -> String { "\(kind.rawValue) \(jobKind.rawValue) \(state.rawValue) \(origin) \(id)" }

        /// A payload from another node; nil for one of this store's own (`origin`) or one it cannot read.
        init?(payload: String, ownOrigin: String) {
            let parts = payload.split(separator: " ", maxSplits: 4).map(String.init)
            guard parts.count == 5, parts[3] != ownOrigin, let kind = Kind(rawValue: parts[0]),
                  let jobKind = JobKind(rawValue: parts[1]), let state = JobState(rawValue: parts[2]) else { return nil }
            self.init(id: parts[4], kind: kind, jobKind: jobKind, state: state, isLocal: false)
        }
    }

    /// One write transaction's connection, gathering the changes to publish once it commits.
    final class Transaction: SQLConnection {
        let connection: any SQLConnection
        fileprivate(set) var changes: [Change] = []

        init(_ connection: any SQLConnection) { self.connection = connection }

        func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int { try connection.execute(sql, arguments) }
        func fetch(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] { try connection.fetch(sql, arguments) }
    }

    /// One transaction (`SQLDatabase.write`); the job changes it records (`notify`) are
    /// published to this process's observers after it commits, and none if it rolls back.
    func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        var committed: [Change] = []
        let value = try db.write { connection in
            let transaction = Transaction(connection)
            let value = try body(transaction)
            committed = transaction.changes
            return value
        }
        if !committed.isEmpty {
            let observers = changeObservers.withLock { $0 }
            for change in committed { for observer in observers { observer.changed(change) } }
        }
        return value
    }

    /// Records a change to `job` for this transaction's observers and, on PostgreSQL, every node's.
    func notify(_ db: Transaction, _ job: Job, _ kind: Change.Kind, state: JobState? = nil) throws {
        let change = Change(id: job.id, kind: kind, jobKind: job.kind, state: state ?? job.state)
        db.changes.append(change)
        if self.db.dialect == .postgres {
            try db.execute("SELECT pg_notify('\(JobStore.channel)', ?)", change.payload(origin: origin))
        }
    }

    static let channel = "segserve_jobs"

    /// What an observer is told.
    struct ChangeObserver: Sendable {
        let changed: @Sendable (Change) -> Void
        let resynced: @Sendable () -> Void
    }

    /// Calls `changed` for every job change committed from now on: this process's at commit, on
    /// the committing thread; on PostgreSQL also other nodes', from a queue of their own, and
    /// `resynced` whenever the listening connection is (re)established, since changes in between
    /// went unheard. Observers must not block; they may use the store.
    public func observeChanges(_ changed: @escaping @Sendable (Change) -> Void, resynced: @escaping @Sendable () -> Void) {
        let first = changeObservers.withLock { observers in
            observers.append(ChangeObserver(changed: changed, resynced: resynced))
            return observers.count == 1
        }
        if first, let postgres = db as? PostgresDatabase { listen(postgres) }
    }

    /// Hears other nodes' changes until `close()`.
    private func listen(_ postgres: PostgresDatabase) {
        // Notifications arrive on an event loop, which must never wait; observers may use the store.
        let handlers = DispatchQueue(label: "segserve.store-changes")
        let thread = Thread { [self] in
            Thread.current.name = "segserve-store-listener"  // Linux names only the running thread
            while !postgres.isClosed {
                guard let connection = try? postgres.listen(Self.channel, handler: { [self] payload in
                    guard let change = Change(payload: payload, ownOrigin: origin) else { return }
                    let observers = changeObservers.withLock { $0 }
                    handlers.async { for observer in observers { observer.changed(change) } }
                }) else {
                    Thread.sleep(forTimeInterval: 1)
                    continue
                }
                let observers = changeObservers.withLock { $0 }
                handlers.async { for observer in observers { observer.resynced() } }
                while !connection.isClosed && !postgres.isClosed { Thread.sleep(forTimeInterval: 0.25) }
                try? (connection.close() as EventLoopFuture<Void>).wait()
            }
        }
        thread.start()
    }
}
