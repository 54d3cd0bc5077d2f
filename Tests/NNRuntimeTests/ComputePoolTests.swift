import Foundation
import Synchronization
import XCTest
@testable import NNRuntime

final class ComputePoolTests: XCTestCase {
    /// Every index runs exactly once, in at most `width` contiguous chunks.
    func testCoversEveryIndexOnce() {
        for threads in [1, 2, 3, 5] {
            let pool = ComputePool(threads: threads)
            defer { pool.shutdown() }
            for count in [0, 1, 2, 7, 64, 1001] {
                let seen = Mutex([Int](repeating: 0, count: count))
                let chunks = Atomic<Int>(0)
                pool.forRange(count) { range in
                    chunks.add(1, ordering: .relaxed)
                    seen.withLock { for i in range { $0[i] += 1 } }
                }
                XCTAssertEqual(seen.withLock { $0 }, [Int](repeating: 1, count: count), "threads \(threads) count \(count)")
                XCTAssertLessThanOrEqual(chunks.load(ordering: .relaxed), max(1, min(threads, count)))
            }
        }
    }

    /// The chunks of one loop run at the same time: the first waits for the second to start.
    func testChunksRunOnSeparateThreads() {
        let pool = ComputePool(threads: 2)
        defer { pool.shutdown() }
        let started = Atomic<Bool>(false)
        let overlapped = Atomic<Bool>(false)
        pool.forRange(2) { range in
            if range.lowerBound == 1 {
                started.store(true, ordering: .releasing)
                return
            }
            let deadline = Date(timeIntervalSinceNow: 5)
            while !started.load(ordering: .acquiring) && Date() < deadline { usleep(100) }
            overlapped.store(started.load(ordering: .acquiring), ordering: .relaxed)
        }
        XCTAssertTrue(overlapped.load(ordering: .relaxed), "the second chunk did not start while the first ran")
    }

    /// Workers share one pool, and a loop body may run a loop of its own.
    func testConcurrentAndNestedLoops() {
        let pool = ComputePool(threads: 3)
        defer { pool.shutdown() }
        let total = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<200 {
                pool.forRange(6) { outer in
                    for _ in outer { pool.forRange(5) { inner in total.add(inner.count, ordering: .relaxed) } }
                }
            }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 4 * 200 * 6 * 5)
    }

    /// After shutdown loops still run, on the caller alone.
    func testLoopsRunInlineAfterShutdown() {
        let pool = ComputePool(threads: 2)
        pool.shutdown()
        let caller = Thread.current
        var onCaller = true, sum = 0
        pool.forRange(100) { range in
            onCaller = onCaller && Thread.current == caller
            sum += range.count
        }
        XCTAssertEqual(sum, 100)
        XCTAssertTrue(onCaller)
    }
}
