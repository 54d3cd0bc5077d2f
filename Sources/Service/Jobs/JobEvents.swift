import Foundation
import Synchronization

/// Wakes requests waiting (`Prefer: wait`) for a job to end.
final class JobEvents: Sendable {
    private let waiters = Mutex<[String: [UUID: CheckedContinuation<Void, Never>]]>([:])

    /// The job `id` ended: every waiter for it resumes.
    func finished(_ id: String) {
        let resumed = waiters.withLock { $0.removeValue(forKey: id) } ?? [:]
        resumed.values.forEach { $0.resume() }
    }

    /// Every waiter resumes now (shutdown: each answers with its job's current state).
    func releaseAll() {
        let resumed = waiters.withLock { waiters in
            defer { waiters.removeAll() }
            return waiters.values.flatMap(\.values)
        }
        resumed.forEach { $0.resume() }
    }

    /// Returns when `finished(id)` is called or after `timeout`, whichever is first. `isFinished`
    /// is checked after registering, so an end between the caller's check and the wait is not missed.
    func wait(for id: String, timeout: Duration, isFinished: @Sendable () -> Bool) async {
        let token = UUID()
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.resume(id, token)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            waiters.withLock { $0[id, default: [:]][token] = continuation }
            if isFinished() { resume(id, token) }
        }
        timer.cancel()
    }

    private func resume(_ id: String, _ token: UUID) {
        let continuation = waiters.withLock { waiters -> CheckedContinuation<Void, Never>? in
            let c = waiters[id]?.removeValue(forKey: token)
            if waiters[id]?.isEmpty == true { waiters[id] = nil }
            return c
        }
        continuation?.resume()
    }
}
