import Dispatch
import Foundation
import Synchronization
import XCTest
@testable import HTTPServer

/// Work for an event loop is enqueued at the server's priority, whichever thread hands it in.
final class LoopRelayTests: XCTestCase {
    func testLoweredThreadsEnqueueThroughTheRelay() throws {
        let enqueuedAt = Mutex<[Int]>([])
        let relay = LoopRelay(enqueue: { queue, body in
            enqueuedAt.withLock { $0.append(ThreadNice.current()) }
            queue.async(execute: body)
        })
        defer { relay.stop() }
        let base = ThreadNice.current()
        let queue = DispatchQueue(label: "loop")
        let ran = DispatchSemaphore(value: 0)
        relay.async(queue) { ran.signal() }
        let lowered = Thread {
            ThreadNice.lowerCurrentThread(by: 5)
            relay.async(queue) { ran.signal() }
        }
        lowered.start()
        for _ in 0..<2 { XCTAssertEqual(ran.wait(timeout: .now() + 5), .success) }
        // Both enqueued at the base priority: the first by its caller, the second by the relay.
        XCTAssertEqual(enqueuedAt.withLock { $0 }, [base, base])
    }
}
