import Foundation
import ServiceCore
import Synchronization

/// Wakes requests waiting for a job: to end (`Prefer: wait`), or to change at all (event streams).
package final class JobWaiters: Sendable {
    private typealias Waiters = [String: [UUID: CheckedContinuation<Void, Never>]]
    private let waiters = Mutex<Waiters>([:])
    private let changeWaiters = Mutex<Waiters>([:])

    /// The job `id` ended: every waiter for it resumes.
    package func finished(_ id: String) {
        let ended = waiters.withLock { $0.removeValue(forKey: id) } ?? [:]
        let changed = changeWaiters.withLock { $0.removeValue(forKey: id) } ?? [:]
        (Array(ended.values) + Array(changed.values)).forEach { $0.resume() }
    }

    /// The job `id` made a step: waiters for any change resume.
    package func progressed(_ id: String) {
        let resumed = changeWaiters.withLock { $0.removeValue(forKey: id) } ?? [:]
        resumed.values.forEach { $0.resume() }
    }

    /// Returns at the job's next step or end, or after `timeout`.
    func waitForChange(of id: String, timeout: Duration) async {
        await wait(in: changeWaiters, for: id, timeout: timeout, isFinished: { false })
    }

    /// Every waiter resumes now (shutdown: each answers with its job's current state).
    package func releaseAll() {
        let ended = waiters.withLock { waiters in
            defer { waiters.removeAll() }
            return waiters.values.flatMap(\.values)
        }
        let changed = changeWaiters.withLock { waiters in
            defer { waiters.removeAll() }
            return waiters.values.flatMap(\.values)
        }
        (ended + changed).forEach { $0.resume() }
    }

    /// Returns when `finished(id)` is called or after `timeout`, whichever is first. `isFinished`
    /// is checked after registering, so an end between the caller's check and the wait is not missed.
    func wait(for id: String, timeout: Duration, isFinished: @Sendable () -> Bool) async {
        await wait(in: waiters, for: id, timeout: timeout, isFinished: isFinished)
    }

    private func wait(in set: borrowing Mutex<Waiters>, for id: String, timeout: Duration, isFinished: () -> Bool) async {
        let token = UUID()
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.resumeEither(id, token)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            set.withLock { $0[id, default: [:]][token] = continuation }
            if isFinished() { resume(in: set, id, token) }
        }
        timer.cancel()
    }

    /// The timer does not know which set its token is in; it is in one at most.
    private func resumeEither(_ id: String, _ token: UUID) {
        resume(in: waiters, id, token)
        resume(in: changeWaiters, id, token)
    }

    private func resume(in set: borrowing Mutex<Waiters>, _ id: String, _ token: UUID) {
        let continuation = set.withLock { waiters -> CheckedContinuation<Void, Never>? in
            let c = waiters[id]?.removeValue(forKey: token)
            if waiters[id]?.isEmpty == true { waiters[id] = nil }
            return c
        }
        continuation?.resume()
    }
}
