import Foundation
import JobStore
import TestSupport
import XCTest

/// The store against both backends: a real SQLite database in a temporary folder, and a
/// database of its own on a real PostgreSQL server (`PostgresServer`). Every test runs on each.
final class JobStoreTests: XCTestCase {
    var directory: URL!
    var store: JobStore!
    /// The URL the current backend's store was opened with, to open it again.
    var url = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jobstore-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `body` with `store` on SQLite, then on PostgreSQL.
    func onEachBackend(_ body: () throws -> Void) throws {
        let urls = ["sqlite://" + directory.appendingPathComponent("sub/jobs.sqlite").path, try PostgresServer.newDatabase()]
        for url in urls {
            self.url = url
            store = try JobStore(url: url)
            defer { try? store.close() }
            do { try body() } catch {
                XCTFail("\(url): \(error)")
            }
        }
    }

    func newJob(_ n: Int = 0, kind: JobKind = .segmentation, key: String? = nil, hash: String? = nil) -> NewJob {
        NewJob(kind: kind, options: Data("{\"n\":\(n)}".utf8), steps: 4,
               input: JobInput(image: Data([1, 2, UInt8(n)]), mask: kind == .inpainting ? Data([9]) : nil),
               idempotencyKey: key, requestHash: hash)
    }

    func submitted(_ new: NewJob, maxQueued: Int = 100) throws -> Job {
        guard case .created(let job) = try store.submit(new, maxQueued: maxQueued) else {
            XCTFail("not created"); throw JobStoreError.notFound(id: "")
        }
        return job
    }

    func testOwnersListQuotasAndIdempotencyScopes() throws {
        try onEachBackend {
            var alice = newJob(1, key: "k", hash: "h1"), bob = newJob(2, key: "k", hash: "h2")
            alice.owner = "alice"
            bob.owner = "bob"
            let a = try submitted(alice), b = try submitted(bob)
            XCTAssertNotEqual(a.id, b.id, "the same Idempotency-Key of two owners names two jobs")
            XCTAssertEqual(a.owner, "alice")
            XCTAssertEqual(try store.list(owner: "alice", limit: 10).jobs.map(\.id), [a.id])
            XCTAssertEqual(try store.list(limit: 10).jobs.count, 2)
            var more = newJob(3)
            more.owner = "alice"
            XCTAssertEqual(try store.submit(more, maxQueued: 100, maxActiveForOwner: 1), .ownerQuotaFull(active: 1))
            XCTAssertEqual(try store.submit(alice, maxQueued: 100, maxActiveForOwner: 1), .existing(a), "a repeat is not a new job")
        }
    }

    /// One process per SQLite file: a second claim is refused until the first store closes;
    /// PostgreSQL stores are shared and claim nothing.
    func testASQLiteStoreIsClaimedByOneOwnerAtATime() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("claimed.sqlite").path
        let first = try JobStore(path: path)
        let second = try JobStore(path: path)
        try first.claimExclusiveUse()
        try first.claimExclusiveUse()  // again by its owner: a no-op
        XCTAssertThrowsError(try second.claimExclusiveUse()) { XCTAssertEqual($0 as? JobStoreError, .inUse(path: path)) }
        try first.close()
        try second.claimExclusiveUse()
        try second.close()
        let database = try PostgresServer.newDatabase()
        let shared = try JobStore(url: database), other = try JobStore(url: database)
        try shared.claimExclusiveUse()
        try other.claimExclusiveUse()
        try shared.close()
        try other.close()
    }

    func testSubmitStoresQueuedJobWithInput() throws {
        try onEachBackend {
            var new = newJob(7, kind: .inpainting)
            new.image = JobImage(width: 64, height: 96, exifOrientation: 6)
            let job = try submitted(new)
            XCTAssertEqual(job.image, JobImage(width: 64, height: 96, exifOrientation: 6))
            XCTAssertEqual(job.state, .queued)
            XCTAssertEqual(job.kind, .inpainting)
            XCTAssertEqual(job.steps, 4)
            XCTAssertEqual(job.attempts, 0)
            XCTAssertEqual(try store.job(id: job.id), job)
            XCTAssertEqual(try store.input(ofJob: job.seq), JobInput(image: Data([1, 2, 7]), mask: Data([9])))
            XCTAssertEqual(try store.queuePosition(of: job), 0)
        }
    }

    func testQueueIsBoundedAndServedInOrder() throws {
        try onEachBackend {
            let first = try submitted(newJob(1), maxQueued: 2)
            let second = try submitted(newJob(2), maxQueued: 2)
            XCTAssertEqual(try store.submit(newJob(3), maxQueued: 2), .queueFull(queued: 2))
            XCTAssertEqual(try store.queuePosition(of: second), 1)
            let (claimed, input) = try XCTUnwrap(try store.claimNext())
            XCTAssertEqual(claimed.id, first.id)
            XCTAssertEqual(claimed.state, .running)
            XCTAssertEqual(claimed.attempts, 1)
            XCTAssertNotNil(claimed.startedAt)
            XCTAssertEqual(input.image, Data([1, 2, 1]))
            XCTAssertEqual(try store.queuePosition(of: XCTUnwrap(store.job(id: second.id))), 0)
            XCTAssertEqual(try store.claimNext()?.0.id, second.id)
            XCTAssertNil(try store.claimNext())
        }
    }

    /// One key's backlog does not hold another key's job behind all of it: owners share the
    /// queue by job cost (start-time fair queuing), positions follow that order, and without
    /// owners the order is submission order.
    func testOwnersShareTheQueueByJobCost() throws {
        try onEachBackend {
            func submit(_ owner: String?, cost: Int) throws -> Job {
                var new = newJob()
                new.owner = owner
                new.cost = cost
                return try submitted(new)
            }
            func claim() throws -> String? { try store.claimNext()?.0.id }
            func finish(_ id: String?) throws {
                try store.succeed(id: XCTUnwrap(id), result: JobResult(panopticPNG: Data(), segmentsJSON: Data(), overlayPNG: Data()))
            }
            let b1 = try submit("bob", cost: 100), b2 = try submit("bob", cost: 100), b3 = try submit("bob", cost: 100)
            XCTAssertEqual(try claim(), b1.id)
            let a1 = try submit("alice", cost: 10)
            XCTAssertEqual(try [a1, b2, b3].map { try store.queuePosition(of: XCTUnwrap(store.job(id: $0.id))) }, [0, 1, 2])
            try finish(b1.id)
            XCTAssertEqual(try claim(), a1.id, "alice's job goes before bob's backlog")
            // While bob's second runs, alice sends five small jobs: they fit in before bob's third
            // (50 of 100 cost units), and bob's third still comes before her sixth.
            try finish(a1.id)
            XCTAssertEqual(try claim(), b2.id)
            let small = try (0..<5).map { _ in try submit("alice", cost: 10) }
            let late = try (0..<10).map { _ in try submit("alice", cost: 10) }
            try finish(b2.id)
            var order: [String] = []
            while let id = try claim() { order.append(id); try finish(id) }
            XCTAssertEqual(Array(order.prefix(5)), small.map(\.id))
            XCTAssertLessThan(try XCTUnwrap(order.firstIndex(of: b3.id)), try XCTUnwrap(order.firstIndex(of: late[5].id)))

            let plain = try (0..<3).map { _ in try submit(nil, cost: 1000) } + [try submit(nil, cost: 1)]
            XCTAssertEqual(try (0..<4).compactMap { _ in try claim() }, plain.map(\.id), "one owner: submission order")
        }
    }

    func testIdempotencyKeyReturnsTheSameJobOrReportsReuse() throws {
        try onEachBackend {
            let job = try submitted(newJob(1, key: "k1", hash: "h1"))
            XCTAssertEqual(try store.submit(newJob(1, key: "k1", hash: "h1"), maxQueued: 100), .existing(job))
            XCTAssertEqual(try store.submit(newJob(2, key: "k1", hash: "h2"), maxQueued: 100), .keyReused(job))
            // A repeat is answered even when the queue is full.
            XCTAssertEqual(try store.submit(newJob(1, key: "k1", hash: "h1"), maxQueued: 0), .existing(job))
            XCTAssertEqual(try store.counts()[.queued], 1)
        }
    }

    func testSuccessStoresResultsAndDropsInput() throws {
        try onEachBackend {
            let job = try submitted(newJob())
            _ = try store.claimNext()
            try store.recordProgress(id: job.id, step: 2)
            XCTAssertEqual(try store.job(id: job.id)?.step, 2)
            let result = JobResult(panopticPNG: Data([1]), segmentsJSON: Data("[]".utf8), overlayPNG: Data([3]))
            let done = try store.succeed(id: job.id, result: result)
            XCTAssertEqual(done.state, .succeeded)
            XCTAssertEqual(done.step, 4)
            XCTAssertEqual(try store.job(id: job.id), done)
            XCTAssertNil(try store.input(ofJob: job.seq))
            XCTAssertEqual(try store.result(.panopticPNG, ofJob: job.seq), Data([1]))
            XCTAssertEqual(try store.result(.segmentsJSON, ofJob: job.seq), Data("[]".utf8))
            XCTAssertEqual(try store.result(.overlayPNG, ofJob: job.seq), Data([3]))
            XCTAssertThrowsError(try store.succeed(id: job.id, result: result)) {
                XCTAssertEqual($0 as? JobStoreError, .invalidTransition(id: job.id, from: .succeeded, event: .succeed))
            }
        }
    }

    func testFailureIsRecordedWithReason() throws {
        try onEachBackend {
            let job = try submitted(newJob())
            _ = try store.claimNext()
            try store.fail(id: job.id, failure: JobFailure(code: "bad", message: "it broke"))
            let failed = try XCTUnwrap(store.job(id: job.id))
            XCTAssertEqual(failed.state, .failed)
            XCTAssertEqual(failed.failure, JobFailure(code: "bad", message: "it broke"))
            XCTAssertNil(try store.result(.panopticPNG, ofJob: job.seq))
            XCTAssertThrowsError(try store.recordProgress(id: job.id, step: 1))
        }
    }

    func testCancelQueuedRunningAndFinished() throws {
        try onEachBackend {
            let queued = try submitted(newJob(1))
            let running = try submitted(newJob(2))
            guard case .canceled(let canceled) = try store.requestCancel(id: queued.id) else { return XCTFail() }
            XCTAssertEqual(canceled.state, .canceled)
            XCTAssertNil(try store.input(ofJob: queued.seq))
            XCTAssertEqual(try store.claimNext()?.0.id, running.id)
            XCTAssertEqual(try store.job(id: running.id)?.cancelRequested, false)
            guard case .requested(let requested) = try store.requestCancel(id: running.id) else { return XCTFail() }
            XCTAssertEqual(requested.state, .running)
            XCTAssertEqual(try store.job(id: running.id)?.cancelRequested, true)
            XCTAssertEqual(try store.markCanceled(id: running.id).state, .canceled)
            guard case .alreadyFinished = try store.requestCancel(id: running.id) else { return XCTFail() }
            XCTAssertThrowsError(try store.requestCancel(id: "nope")) { XCTAssertEqual($0 as? JobStoreError, .notFound(id: "nope")) }
        }
    }

    func testInterruptRequeuesAndGivesTheAttemptBack() throws {
        try onEachBackend {
            let job = try submitted(newJob())
            _ = try store.claimNext()
            try store.interrupt(id: job.id)
            let requeued = try XCTUnwrap(store.job(id: job.id))
            XCTAssertEqual(requeued.state, .queued)
            XCTAssertEqual(requeued.attempts, 0)
            XCTAssertNil(requeued.startedAt)
            XCTAssertNotNil(try store.input(ofJob: job.seq))
        }
    }

    func testRecoveryAfterCrashRequeuesThenGivesUp() throws {
        try onEachBackend {
            let job = try submitted(newJob())
            let other = try submitted(newJob(2))
            _ = try store.claimNext()
            try store.close()
            // A new process: the running job is queued again, ahead of the one behind it.
            store = try JobStore(url: url)
            XCTAssertEqual(try store.recoverInterrupted(maxAttempts: 2).requeued, 1)
            XCTAssertEqual(try store.job(id: job.id)?.state, .queued)
            XCTAssertEqual(try store.claimNext()?.0.id, job.id)
            // Second crash with the same job running: its attempts are used up.
            let recovered = try store.recoverInterrupted(maxAttempts: 2)
            XCTAssertEqual(recovered.failed, 1)
            XCTAssertEqual(try store.job(id: job.id)?.failure?.code, "interrupted")
            XCTAssertEqual(try store.job(id: other.id)?.state, .queued)
        }
    }

    func testListingPagesNewestFirstWithFilters() throws {
        try onEachBackend {
            var ids: [String] = []
            for n in 0..<5 { ids.append(try submitted(newJob(n, kind: n % 2 == 0 ? .segmentation : .inpainting)).id) }
            let first = try store.list(limit: 2)
            XCTAssertEqual(first.jobs.map(\.id), [ids[4], ids[3]])
            let second = try store.list(limit: 2, cursor: XCTUnwrap(first.next))
            XCTAssertEqual(second.jobs.map(\.id), [ids[2], ids[1]])
            let third = try store.list(limit: 2, cursor: XCTUnwrap(second.next))
            XCTAssertEqual(third.jobs.map(\.id), [ids[0]])
            XCTAssertNil(third.next)
            XCTAssertEqual(try store.list(kind: .inpainting, limit: 10).jobs.map(\.id), [ids[3], ids[1]])
            _ = try store.claimNext()
            XCTAssertEqual(try store.list(state: .running, limit: 10).jobs.map(\.id), [ids[0]])
            XCTAssertThrowsError(try store.list(limit: 2, cursor: "garbage!")) {
                XCTAssertEqual($0 as? JobStoreError, .invalidCursor("garbage!"))
            }
        }
    }

    func testRetentionDeletesOnlyOldFinishedJobs() throws {
        try onEachBackend {
            let old = try submitted(newJob(1))
            let live = try submitted(newJob(2))
            let now = Date()
            _ = try store.requestCancel(id: old.id, now: now.addingTimeInterval(-3600))
            XCTAssertEqual(try store.deleteFinished(before: now.addingTimeInterval(-60)), 1)
            XCTAssertNil(try store.job(id: old.id))
            XCTAssertNotNil(try store.job(id: live.id))
            XCTAssertEqual(try store.deleteFinished(before: now), 0)
            XCTAssertGreaterThan(store.sizeOnDisk(), 0)
        }
    }
}
