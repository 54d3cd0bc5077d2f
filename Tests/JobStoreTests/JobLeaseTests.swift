import Foundation
import JobStore
import TestSupport
import XCTest

/// Many nodes on one store: claims never hand a job out twice, a lease that lapses sends the
/// job back to the queue, and a node whose lease was taken over cannot record anything more.
/// Each test runs on SQLite and on PostgreSQL, with one `JobStore` per node.
final class JobLeaseTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jobstore-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// `nodes` stores on one database of each backend.
    func onEachBackend(nodes: Int, _ body: ([JobStore]) throws -> Void) throws {
        for url in ["sqlite://" + directory.appendingPathComponent("jobs.sqlite").path, try PostgresServer.newDatabase()] {
            let stores = try (0..<nodes).map { _ in try JobStore(url: url) }
            defer { for s in stores { try? s.close() } }
            do { try body(stores) } catch { XCTFail("\(url): \(error)") }
        }
    }

    func submit(_ store: JobStore, _ n: Int) throws -> Job {
        let new = NewJob(kind: .segmentation, options: Data("{}".utf8), steps: 4, input: JobInput(image: Data([UInt8(n % 256)])))
        guard case .created(let job) = try store.submit(new, maxQueued: 1000) else { throw JobStoreError.notFound(id: "\(n)") }
        return job
    }

    func testConcurrentClaimsHandEachJobOutOnce() throws {
        try onEachBackend(nodes: 3) { stores in
            let ids = try (0..<30).map { try submit(stores[0], $0).id }
            let seen = Shared<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 6) { worker in
                let store = stores[worker % stores.count]
                while true {
                    do {
                        guard let (job, _) = try store.claimNext(node: "node-\(worker)") else { return }
                        try store.succeed(id: job.id, result: JobResult(panopticPNG: Data([1]), segmentsJSON: Data(), overlayPNG: Data()),
                                          lease: XCTUnwrap(job.lease))
                        seen.update { $0.append(job.id) }
                    } catch {
                        XCTFail("\(error)")
                        return
                    }
                }
            }
            XCTAssertEqual(seen.value.sorted(), ids.sorted(), "every job claimed and completed exactly once")
            XCTAssertEqual(try stores[1].counts()[.succeeded], 30)
        }
    }

    func testAnExpiredLeaseIsRequeuedAndTheLateNodeIsFenced() throws {
        try onEachBackend(nodes: 2) { stores in
            let (a, b) = (stores[0], stores[1])
            let job = try submit(a, 1)
            let start = Date()
            let (first, _) = try XCTUnwrap(try a.claimNext(now: start, leaseTTL: .seconds(10), node: "a"))
            let staleLease = try XCTUnwrap(first.lease)
            // Renewed in time, the lease holds; the sweeper leaves it alone.
            XCTAssertFalse(try a.renewLease(id: job.id, lease: staleLease, ttl: .seconds(10), now: start.addingTimeInterval(5)))
            XCTAssertEqual(try b.requeueExpiredLeases(maxAttempts: 3, now: start.addingTimeInterval(12)).requeued, 0)
            // Node a stalls past its lease: b's sweeper requeues the job and b claims it.
            XCTAssertEqual(try b.requeueExpiredLeases(maxAttempts: 3, now: start.addingTimeInterval(16)).requeued, 1)
            let (second, _) = try XCTUnwrap(try b.claimNext(now: start.addingTimeInterval(16), node: "b"))
            XCTAssertEqual(second.id, job.id)
            XCTAssertEqual(second.attempts, 2)
            XCTAssertNotEqual(second.lease, staleLease)
            // a wakes up: everything it tries is refused.
            let result = JobResult(panopticPNG: Data([1]), segmentsJSON: Data(), overlayPNG: Data())
            for attempt in [{ try a.succeed(id: job.id, result: result, lease: staleLease) as Any },
                            { try a.recordProgress(id: job.id, step: 2, lease: staleLease) as Any },
                            { try a.fail(id: job.id, failure: JobFailure(code: "x", message: "y"), lease: staleLease) as Any },
                            { try a.renewLease(id: job.id, lease: staleLease, ttl: .seconds(10)) as Any }] {
                XCTAssertThrowsError(try attempt()) { XCTAssertEqual($0 as? JobStoreError, .leaseLost(id: job.id)) }
            }
            // b completes it, once.
            let done = try b.succeed(id: job.id, result: result, lease: XCTUnwrap(second.lease))
            XCTAssertEqual(done.state, .succeeded)
            XCTAssertNil(done.lease)
            XCTAssertEqual(try a.result(.panopticPNG, ofJob: job.seq), Data([1]))
        }
    }

    func testSweeperFailsAJobThatUsedUpItsAttempts() throws {
        try onEachBackend(nodes: 1) { stores in
            let store = stores[0]
            let job = try submit(store, 1)
            var now = Date()
            for _ in 0..<2 {
                _ = try store.claimNext(now: now, leaseTTL: .seconds(1))
                now += 2
                _ = try store.requeueExpiredLeases(maxAttempts: 2, now: now)
            }
            let failed = try XCTUnwrap(store.job(id: job.id))
            XCTAssertEqual(failed.state, .failed)
            XCTAssertEqual(failed.failure?.code, "interrupted")
        }
    }

    func testRenewalCarriesACancelRequestFromAnotherNode() throws {
        try onEachBackend(nodes: 2) { stores in
            let job = try submit(stores[0], 1)
            let (claimed, _) = try XCTUnwrap(try stores[0].claimNext())
            guard case .requested = try stores[1].requestCancel(id: job.id) else { return XCTFail("not requested") }
            XCTAssertTrue(try stores[0].renewLease(id: job.id, lease: XCTUnwrap(claimed.lease), ttl: .seconds(30)))
        }
    }

    func testChangesReachListenersOnOtherNodes() throws {
        try onEachBackend(nodes: 2) { stores in
            guard stores[0].isShared else { return }  // SQLite: one process makes every change itself
            let changes = Shared<[JobStore.Change]>([]), synced = Shared(false)
            stores[1].observeChanges({ change in changes.update { $0.append(change) } }, resynced: { synced.update { $0 = true } })
            XCTAssertTrue(synced.wait(seconds: 10) { $0 }, "listening")
            let job = try submit(stores[0], 1)
            _ = try stores[0].requestCancel(id: job.id)
            let ended = JobStore.Change(id: job.id, kind: .ended, jobKind: .segmentation, state: .canceled, isLocal: false)
            _ = changes.wait(seconds: 10) { $0.contains(ended) }
            XCTAssertEqual(changes.value, [JobStore.Change(id: job.id, kind: .submitted, jobKind: .segmentation, state: .queued, isLocal: false),
                                           ended], "the submission and the end were heard, once each")
        }
    }

    func testEveryCommittedChangeIsPublishedOnceToThisProcess() throws {
        try onEachBackend(nodes: 1) { stores in
            let store = stores[0]
            let changes = Shared<[JobStore.Change]>([])
            store.observeChanges({ change in changes.update { $0.append(change) } }, resynced: {})
            let first = try submit(store, 1), second = try submit(store, 2)
            let (claimed, _) = try XCTUnwrap(try store.claimNext())
            try store.recordProgress(id: claimed.id, step: 1, lease: claimed.lease)
            _ = try store.requestCancel(id: claimed.id)
            try store.markCanceled(id: claimed.id, lease: claimed.lease)
            _ = try store.requestCancel(id: second.id)
            XCTAssertThrowsError(try store.recordProgress(id: claimed.id, step: 2, lease: claimed.lease), "a refused change")
            XCTAssertEqual(try store.deleteFinished(before: Date().addingTimeInterval(60)), 2)
            // Local changes are published at commit, before the call returns; on PostgreSQL this
            // store's own notifications are not heard a second time.
            Thread.sleep(forTimeInterval: store.isShared ? 0.5 : 0)
            let seen = changes.value.map { "\($0.kind.rawValue) \($0.id == first.id ? 1 : 2) \($0.state.rawValue) \($0.isLocal)" }
            XCTAssertEqual(seen, ["submitted 1 queued true", "submitted 2 queued true", "updated 1 running true", "updated 1 running true",
                                  "cancel 1 running true", "ended 1 canceled true", "ended 2 canceled true",
                                  "deleted 1 canceled true", "deleted 2 canceled true"])
        }
    }
}

/// A value threads share, with a wait for a condition on it.
final class Shared<T>: @unchecked Sendable {
    private let condition = NSCondition()
    private var stored: T

    init(_ value: T) { stored = value }

    var value: T {
        condition.lock()
        defer { condition.unlock() }
        return stored
    }

    func update(_ body: (inout T) -> Void) {
        condition.lock()
        body(&stored)
        condition.broadcast()
        condition.unlock()
    }

    /// Whether `done` held within `seconds`.
    func wait(seconds: Double, until done: (T) -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while !done(stored) { if !condition.wait(until: deadline) { return done(stored) } }
        return true
    }
}
