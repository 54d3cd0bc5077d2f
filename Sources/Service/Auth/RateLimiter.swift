import Foundation
import Synchronization

/// Submissions per minute per API key: a token bucket per name that refills continuously, so
/// a burst of up to the per-minute allowance passes and then one more each 60 / rate seconds.
/// Only accepted jobs count: a submission that is refused after taking its token gives it back.
final class RateLimiter: Sendable {
    private struct Bucket { var tokens: Double; var updated: Date; var capacity: Double }
    private let buckets = Mutex<[String: Bucket]>([:])

    /// Takes a token for `name` at `perMinute`; nil when allowed, else the seconds until one is free.
    func take(_ name: String, perMinute: Int, now: Date = Date()) -> Int? {
        let rate = Double(perMinute) / 60
        return buckets.withLock { buckets in
            var bucket = buckets[name] ?? Bucket(tokens: Double(perMinute), updated: now, capacity: Double(perMinute))
            bucket.capacity = Double(perMinute)
            bucket.tokens = min(bucket.capacity, bucket.tokens + now.timeIntervalSince(bucket.updated) * rate)
            bucket.updated = now
            defer { buckets[name] = bucket }
            guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up))) }
            bucket.tokens -= 1
            return nil
        }
    }

    /// Gives back the token a refused submission took.
    func refund(_ name: String) {
        buckets.withLock { buckets in
            guard var bucket = buckets[name] else { return }
            bucket.tokens = min(bucket.capacity, bucket.tokens + 1)
            buckets[name] = bucket
        }
    }
}
