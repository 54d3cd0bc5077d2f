import JobStore
import ServiceCore
import Synchronization

/// The encoded JSON of jobs whose representation changes only when the job itself does, kept
/// so a status poll costs neither a database read nor an encoding. SQLite stays authoritative:
/// every change to a job (a step, its end, a cancel, a requeue) drops its entry, and entries are
/// never kept for queued jobs (their queue position moves with other jobs) or jobs with a
/// callback (its delivery state changes on its own).
package final class JobViewCache: Sendable {
    struct View: Sendable {
        let owner: String?
        let isTerminal: Bool
        let body: [UInt8]
    }

    private struct State {
        var views: [String: View] = [:]
        /// Bumped by every invalidation: a view computed from a read older than the last
        /// change must not be stored.
        var generation = 0
    }

    private let state = Mutex(State())
    /// Most views kept; the cache starts over when full.
    let capacity: Int

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    func view(of id: String) -> View? { state.withLock { $0.views[id] } }

    /// The generation to pass to `store` for a view about to be computed from a fresh read.
    var generation: Int { state.withLock { $0.generation } }

    /// Keeps `view` unless a job changed since `generation` was read.
    func store(_ view: View, of id: String, readAt generation: Int) {
        state.withLock {
            guard $0.generation == generation else { return }
            if $0.views.count >= capacity { $0.views.removeAll(keepingCapacity: true) }
            $0.views[id] = view
        }
    }

    /// The job changed: its view must be read again.
    package func invalidate(_ id: String) {
        state.withLock {
            $0.generation &+= 1
            $0.views[id] = nil
        }
    }

    /// Jobs were deleted or changed in bulk.
    package func invalidateAll() {
        state.withLock {
            $0.generation &+= 1
            $0.views.removeAll()
        }
    }
}
