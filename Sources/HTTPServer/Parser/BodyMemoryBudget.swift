import Synchronization

/// Bytes that request bodies still arriving may claim, shared by every connection of a server
/// (`Limits.maxInflightBodyBytes`), so many large uploads at once cannot exhaust memory: a body
/// that would pass the total is refused with 503 before its bytes are read.
final class BodyMemoryBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    var inUse: Int { used.load(ordering: .relaxed) }

    /// Claims `bytes`, or returns false when that would pass the limit.
    func claim(_ bytes: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while current <= limit - bytes {
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + bytes, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release(_ bytes: Int) { used.subtract(bytes, ordering: .releasing) }
}

/// One body's claim on the budget, given back when the body is complete or its connection goes.
final class BodyLease {
    private let budget: BodyMemoryBudget
    private var bytes = 0

    init(_ budget: BodyMemoryBudget) { self.budget = budget }

    func extend(by count: Int) -> Bool {
        guard budget.claim(count) else { return false }
        bytes += count
        return true
    }

    deinit { budget.release(bytes) }
}
