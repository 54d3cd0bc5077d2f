import Synchronization

/// How many connections may be slow at once (a request still arriving after
/// `Limits.slowRequestSeconds`), so clients that dribble bytes cannot take every slot: past
/// `Limits.maxSlowConnectionShare` of `maxConnections`, a connection that turns slow is
/// answered 408 and closed, and the other slots stay free for clients that send promptly.
final class SlowRequestBudget: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    func claim() -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = count.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() { count.subtract(1, ordering: .releasing) }
}
