import Foundation
import ServiceCore
import Synchronization

/// Per-minute allowances per API key: a token bucket per name that refills continuously, so a
/// burst of up to the per-minute allowance passes and then more at 1 / 60 of it a second.
/// Only accepted jobs count: a submission that is refused after taking tokens gives them back.
final class RateLimiter: Sendable {
    private struct Bucket { var tokens: Double; var updated: Date; var capacity: Double }
    private let buckets = Mutex<[String: Bucket]>([:])

    /// Takes `amount` tokens for `name` at `perMinute`; nil when allowed, else the seconds until
    /// they are there. An amount over a minute's allowance passes once the bucket is full and
    /// leaves it in debt, so a large job is admitted and paid for, not refused for ever.
    func take(_ name: String, _ amount: Double = 1, perMinute: Int, now: Date = Date()) -> Int? {
        let rate = Double(perMinute) / 60
        return buckets.withLock { buckets in
            var bucket = buckets[name] ?? Bucket(tokens: Double(perMinute), updated: now, capacity: Double(perMinute))
            bucket.capacity = Double(perMinute)
            bucket.tokens = min(bucket.capacity, bucket.tokens + now.timeIntervalSince(bucket.updated) * rate)
            bucket.updated = now
            defer { buckets[name] = bucket }
            let needed = min(amount, bucket.capacity)
            guard bucket.tokens >= needed else { return max(1, Int(((needed - bucket.tokens) / rate).rounded(.up))) }
            bucket.tokens -= amount
            return nil
        }
    }

    /// Gives back the tokens a refused submission took.
    func refund(_ name: String, _ amount: Double = 1) {
        buckets.withLock { buckets in
            guard var bucket = buckets[name] else { return }
            bucket.tokens = min(bucket.capacity, bucket.tokens + amount)
            buckets[name] = bucket
        }
    }
}
