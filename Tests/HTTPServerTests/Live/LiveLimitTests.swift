import Dispatch
import Foundation
import Synchronization
import XCTest
import HTTPServer
import TestSupport

/// Real sockets: timeouts and limits.
final class LiveLimitTests: XCTestCase {
    func testSlowlorisHeadGets408() throws {
        let live = try LiveServer { $0.timeouts.headerRead = .milliseconds(300) }
        defer { live.stop() }
        let client = try live.client()
        let started = Date()
        try client.send("GET /hello HTTP/1.1\r\n")
        Thread.sleep(forTimeInterval: 0.15)
        try client.send("X-Slow: 1\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 408)
        XCTAssertEqual(response.headers["Content-Type"], "application/problem+json")
        XCTAssertTrue(client.isClosedByServer())
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "closed near the 0.3 s header timeout")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.3)
    }

    /// Slow requests may hold half the slots (2 of 4 here): of three clients dribbling heads,
    /// one is refused with 408 once all are slow, and a prompt client is still served.
    func testSlowRequestsLeaveSlotsForPromptClients() throws {
        let live = try LiveServer {
            $0.limits.maxConnections = 4
            $0.limits.slowRequestSeconds = 0.2
            $0.timeouts.headerRead = .seconds(30)
        }
        defer { live.stop() }
        let slow = try (0..<3).map { _ in try live.client(timeout: 3) }
        for client in slow { try client.send("GET /hello HTTP/1.1\r\n") }
        var refused = 0
        for client in slow {
            if let response = try? client.readResponse() {
                XCTAssertEqual(response.status, 408)
                refused += 1
                break
            }
        }
        XCTAssertEqual(refused, 1, "one of the three slow requests is refused")
        let prompt = try live.client()
        try prompt.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try prompt.readResponse().status, 200)
    }

    /// Request threads run `requestThreadNice` levels below the threads that start the server
    /// (the model's threads, in segserve), on every connection and request.
    func testRequestThreadsRunAtTheConfiguredNice() throws {
        let live = try LiveServer { $0.requestThreadNice = 7 }
        defer { live.stop() }
        let expected = min(19, ThreadNice.current() + 7)
        for _ in 0..<4 {
            let client = try live.client()
            for _ in 0..<5 {
                try client.send("GET /nice HTTP/1.1\r\nHost: t\r\n\r\n")
                XCTAssertGreaterThanOrEqual(Int(try client.readResponse().text) ?? -100, expected)
            }
        }
        XCTAssertEqual(ThreadNice.current(), expected - 7, "the caller's thread keeps its priority")
    }

    /// Handlers run on the server's request threads, so handlers that block them leave Swift's
    /// shared pool free for other tasks.
    func testBlockingHandlersLeaveTheSharedPoolFree() throws {
        let blocking = ProcessInfo.processInfo.activeProcessorCount + 2  // more than the shared pool has threads
        let live = try LiveServer { $0.requestThreads = blocking }
        defer { live.stop() }
        let names = Mutex<[String]>([])
        let clients = Thread {
            live.onClients(blocking) { client in
                try? client.send("GET /block?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n")
                let name = (try? client.readResponse().text) ?? ""
                names.withLock { $0.append(name) }
            }
        }
        clients.start()
        Thread.sleep(forTimeInterval: 0.5)  // every handler is blocking by now
        let ran = DispatchSemaphore(value: 0)
        let start = ContinuousClock.now
        Task.detached { ran.signal() }
        ran.wait()
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(400), "a task on the shared pool waited for blocked handlers")
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertEqual(names.withLock { $0.count }, blocking)
        for name in names.withLock({ $0 }) { XCTAssertTrue(name.hasPrefix("http-request-"), name) }
    }

    /// Event loops keep the server's priority however many lowered request threads hand
    /// responses back to them: Dispatch starts a queue's threads from the enqueueing thread, at
    /// its nice value, so a loop could otherwise end up on a request thread's priority.
    func testEventLoopsKeepTheServersPriority() throws {
        let live = try LiveServer { $0.requestThreadNice = 19 }
        defer { live.stop() }
        let base = ThreadNice.current()
        for _ in 0..<3 {
            // Many handler responses at once, each enqueued on a loop from a request thread.
            live.onClients(24) { client in
                for _ in 0..<4 {
                    try? client.send("GET /sleep?ms=2 HTTP/1.1\r\nHost: t\r\n\r\n")
                    _ = try? client.readResponse()
                }
            }
            for _ in 0..<8 {
                let client = try live.client()
                try client.send("GET /loop-nice HTTP/1.1\r\nHost: t\r\n\r\n")
                XCTAssertEqual(Int(try client.readResponse().text), base, "an event loop ran at a request thread's priority")
            }
        }
    }

    /// While `contended` holds, a flood gets the loops' share of a core and no more; every
    /// request is still answered.
    func testContendedLoopsKeepToTheirShare() throws {
        let contended = Atomic<Bool>(false)
        let live = try LiveServer(configure: { $0.busyLoopShare = 0.02 }, contended: { contended.load(ordering: .relaxed) })
        defer { live.stop() }
        /// Requests answered in `seconds` by 4 connections asking one after another.
        func flood(seconds: Double) -> Int {
            let answered = Atomic<Int>(0)
            live.onClients(4, timeout: seconds + 10) { client in
                let end = Date(timeIntervalSinceNow: seconds)
                while Date() < end {
                    guard (try? client.send("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")) != nil,
                          let response = try? client.readResponse(), response.status == 200 else { return XCTFail("a request went unanswered") }
                    answered.add(1, ordering: .relaxed)
                }
            }
            return answered.load(ordering: .relaxed)
        }
        let free = flood(seconds: 1)
        contended.store(true, ordering: .relaxed)
        let bounded = flood(seconds: 1)
        contended.store(false, ordering: .relaxed)
        let freeAgain = flood(seconds: 1)
        XCTAssertGreaterThan(bounded, 0)
        XCTAssertLessThan(bounded * 2, min(free, freeAgain), "free \(free) and \(freeAgain), contended \(bounded)")
    }

    func testIdleKeepAliveConnectionIsClosed() throws {
        let live = try LiveServer { $0.timeouts.idle = .milliseconds(200) }
        defer { live.stop() }
        let client = try live.client()
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 200)
        let started = Date()
        XCTAssertTrue(client.isClosedByServer())
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
    }

    func testBodyTooLargeGets413EvenWhileTheClientIsStillSending() throws {
        let live = try LiveServer { $0.limits.maxBodyBytes = 1000 }
        defer { live.stop() }
        let client = try live.client()
        // Far more than the socket buffers hold: the server answers while the body is still coming,
        // and must drain it rather than reset the connection under its 413.
        let request = Array("POST /echo-size HTTP/1.1\r\nHost: t\r\nContent-Length: 8388608\r\n\r\n".utf8) + [UInt8](repeating: 1, count: 8_388_608)
        let sending = client.sendInBackground(request)
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 413)
        XCTAssertTrue(response.text.contains("1000"))
        XCTAssertEqual(sending.wait(), request.count, "the server kept reading (and dropping) instead of resetting")
        client.finishSending()
        XCTAssertTrue(client.isClosedByServer())
    }

    func testHeaderLimitsGet431And414() throws {
        let live = try LiveServer {
            $0.limits.maxHeaderCount = 5
            $0.limits.maxRequestLineBytes = 64
        }
        defer { live.stop() }
        let many = try live.client()
        try many.send("GET /hello HTTP/1.1\r\nHost: t\r\n" + (1...5).map { "X-\($0): v\r\n" }.joined() + "\r\n")
        XCTAssertEqual(try many.readResponse().status, 431)
        let long = try live.client()
        try long.send("GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try long.readResponse().status, 414)
    }

    func testConnectionsOverTheLimitGet503() throws {
        let live = try LiveServer { $0.limits.maxConnections = 2 }
        defer { live.stop() }
        let first = try live.client()
        let second = try live.client()
        for client in [first, second] {
            try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(try client.readResponse().status, 200)
        }
        let third = try live.client()
        let refused = try third.readResponse()
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.headers["Content-Type"], "application/problem+json")
        XCTAssertTrue(third.isClosedByServer())

        try second.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        _ = try second.readResponse()
        XCTAssertTrue(second.isClosedByServer())
        // The slot frees once the server has closed its side; poll briefly for it.
        var status = 0
        for _ in 0..<50 where status != 200 {
            let next = try live.client()
            try? next.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            status = (try? next.readResponse().status) ?? 0
            if status != 200 { Thread.sleep(forTimeInterval: 0.02) }
        }
        XCTAssertEqual(status, 200)
    }
}
