import Foundation
import JobStore
import Logging
import ServiceCore
import Synchronization

/// The store's periodic upkeep: jobs whose lease lapsed (their node died or stalled) go back to
/// the queue, and finished jobs past the retention TTL are deleted.
package final class StoreMaintenance: @unchecked Sendable {
    private let store: JobStore
    private let logger: Logger
    /// Guards `stopped`; the loops wait on it between rounds, so `stop()` ends them at once.
    private let condition = NSCondition()
    private var stopped = false

    package init(store: JobStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Starts both loops, each on a thread of its own since store calls block: the lease sweep
    /// every half `leaseTTL`, retention now and every `cleanupInterval`.
    package func start(leaseTTL: Double, maxAttempts: Int, retentionTTL: Double, cleanupInterval: Double) {
        repeating("segserve-lease-sweep", every: max(0.05, leaseTTL / 2)) { [store, logger] in
            do {
                let swept = try store.requeueExpiredLeases(maxAttempts: maxAttempts)
                if swept.requeued + swept.failed > 0 {
                    logger.notice("requeued jobs whose lease lapsed", metadata: ["requeued": "\(swept.requeued)", "failed": "\(swept.failed)"])
                }
            } catch { logger.error("lease sweep failed: \(error)") }
        }
        repeating("segserve-retention", every: max(1, cleanupInterval)) { [store, logger] in
            do {
                let removed = try store.deleteFinished(before: Date(timeIntervalSinceNow: -retentionTTL))
                if removed > 0 { logger.info("retention: deleted finished jobs", metadata: ["count": "\(removed)"]) }
            } catch { logger.error("retention clean-up failed: \(error)") }
        }
    }

    /// Ends both loops; a round under way finishes first.
    package func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func repeating(_ name: String, every seconds: Double, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            Thread.current.name = name  // Linux names only the running thread
            while true {
                condition.lock()
                let done = stopped
                condition.unlock()
                if done { return }
                body()
                condition.lock()
                let until = Date(timeIntervalSinceNow: seconds)
                while !stopped && condition.wait(until: until) {}
                condition.unlock()
            }
        }
        thread.start()
    }
}
