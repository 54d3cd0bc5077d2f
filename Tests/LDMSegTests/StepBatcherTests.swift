import Dispatch
import Foundation
import NNRuntime
import Synchronization
import TestSupport
import XCTest
@testable import LDMSeg

/// Jobs denoising at once on workers that share a `StepBatcher` share UNet passes, and each
/// keeps its own progress, cancellation and result.
final class StepBatcherTests: XCTestCase {
    /// Every pass's `(maps, jobs)`, as the batcher reports them.
    final class Passes: Sendable {
        let all = Mutex<[(maps: Int, jobs: Int)]>([])
        func record(_ maps: Int, _ jobs: Int) { all.withLock { $0.append((maps, jobs)) } }
        var list: [(maps: Int, jobs: Int)] { all.withLock { $0 } }
    }

    /// One job's image, options, progress and cancellation.
    struct Job {
        var width = 32, height = 24
        var seed: UInt64 = 0
        var runs = 1
        var resolution = 64
        var progress: Segmenter.Progress = { _, _ in }
        var isCancelled: () -> Bool = { false }
    }

    let steps = 12

    func options(_ model: LDMSegModel, _ job: Job) -> SegmentationOptions {
        var options = model.defaultOptions
        options.steps = steps
        options.seed = job.seed
        options.ensemble = Ensemble(seeds: job.runs)
        options.resolution = job.resolution
        return options
    }

    /// Runs `jobs` at once, each on its own thread and `Segmenter`; their results or errors.
    func runTogether(_ jobs: [Job], batcher: StepBatcher?, maxBatch: Int = 4) throws -> [Result<PanopticResult, any Error>] {
        let model = try tinyModel()
        let results = Mutex([Result<PanopticResult, any Error>?](repeating: nil, count: jobs.count))
        let group = DispatchGroup()
        for (i, job) in jobs.enumerated() {
            nonisolated(unsafe) let segmenter = Segmenter(model: model, runtime: RuntimeOptions(pool: .testing, maxBatch: maxBatch),
                                                          batcher: batcher)
            let rgb = image(width: job.width, height: job.height), options = options(model, job)
            nonisolated(unsafe) let job = job
            let thread = Thread {
                let result = Result {
                    try segmenter.segment(rgb: rgb, width: job.width, height: job.height, options: options,
                                          progress: job.progress, isCancelled: job.isCancelled)
                }
                results.withLock { $0[i] = result }
                group.leave()
            }
            group.enter()
            thread.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success, "jobs did not finish")
        return results.withLock { $0.map { $0! } }
    }

    /// Share of pixels two results agree on.
    func agreement(_ a: PanopticResult, _ b: PanopticResult) -> Double {
        Double(zip(a.ids, b.ids).filter { $0 == $1 }.count) / Double(a.ids.count)
    }

    /// A progress callback that holds its job after the first step until `jobs` jobs are
    /// denoising on `batcher`, so the jobs' later steps can all meet.
    func meeting(_ jobs: Int, on batcher: StepBatcher) -> Segmenter.Progress {
        { done, _ in
            let deadline = ContinuousClock.now + .seconds(30)
            while done == 1 && batcher.denoisingJobs < jobs && ContinuousClock.now < deadline { usleep(200) }
        }
    }

    func testJobsDenoisingAtOnceSharePassesAndGetTheirOwnResults() throws {
        let passes = Passes()
        let batcher = StepBatcher(maxDelay: .seconds(10), observe: passes.record)
        var jobs = [Job(seed: 1), Job(seed: 2)]
        jobs[0].progress = meeting(2, on: batcher)
        jobs[1].progress = meeting(2, on: batcher)
        let together = try runTogether(jobs, batcher: batcher).map { try $0.get() }
        let alone = try runTogether([Job(seed: 1), Job(seed: 2)], batcher: nil).map { try $0.get() }

        let list = passes.list
        XCTAssertEqual(list.reduce(0) { $0 + $1.maps }, 2 * steps, "every step of both jobs ran once")
        // From the second job's first step on, each step of one shares a pass with the other's.
        XCTAssertGreaterThanOrEqual(list.filter { $0.jobs == 2 && $0.maps == 2 }.count, steps - 1, "\(list)")
        for (t, s) in zip(together, alone) {
            XCTAssertGreaterThanOrEqual(agreement(t, s), 0.99)
        }
        XCTAssertLessThan(agreement(together[0], together[1]), 1, "the two seeds' results are their own")
    }

    func testPassesHoldAtMostMaxBatchMaps() throws {
        let passes = Passes()
        let batcher = StepBatcher(maxDelay: .seconds(10), observe: passes.record)
        // Two ensembles of 3 runs: at maxBatch 4 they never fit one pass together.
        var jobs = [Job(seed: 1, runs: 3), Job(seed: 2, runs: 3)]
        jobs[0].progress = meeting(2, on: batcher)
        jobs[1].progress = meeting(2, on: batcher)
        for result in try runTogether(jobs, batcher: batcher) { _ = try result.get() }
        let list = passes.list
        XCTAssertEqual(list.reduce(0) { $0 + $1.maps }, 2 * 3 * steps)
        XCTAssertTrue(list.allSatisfy { $0.maps <= 4 && $0.jobs == 1 }, "\(list)")
    }

    func testAJobAloneOrOfAnotherSizeNeverWaits() throws {
        let passes = Passes()
        let batcher = StepBatcher(maxDelay: .seconds(30), observe: passes.record)
        let start = ContinuousClock.now
        _ = try runTogether([Job()], batcher: batcher)[0].get()
        // Latents of another size cannot share a pass, so neither job waits for the other.
        for result in try runTogether([Job(), Job(resolution: 128)], batcher: batcher) {
            _ = try result.get()
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(20), "a step waited for a job it cannot share with")
        XCTAssertEqual(passes.list.count, 3 * steps)
        XCTAssertTrue(passes.list.allSatisfy { $0.jobs == 1 })
    }

    func testACancelledJobStopsWithoutHoldingItsPartner() throws {
        let passes = Passes()
        let batcher = StepBatcher(maxDelay: .seconds(30), observe: passes.record)
        let steppedA = Atomic<Int>(0)
        var jobs = [Job(seed: 1), Job(seed: 2)]
        let meet = meeting(2, on: batcher)
        jobs[0].progress = { done, total in
            steppedA.store(done, ordering: .relaxed)
            meet(done, total)
        }
        jobs[0].isCancelled = { steppedA.load(ordering: .relaxed) >= 4 }
        jobs[1].progress = meet
        let start = ContinuousClock.now
        let results = try runTogether(jobs, batcher: batcher)
        guard case .failure(LDMSegError.cancelled) = results[0] else { return XCTFail("job A: \(results[0])") }
        let alone = try runTogether([Job(seed: 2)], batcher: nil)[0].get()
        XCTAssertGreaterThanOrEqual(agreement(try results[1].get(), alone), 0.99)
        // Once A stopped, B's steps no longer waited for it.
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(20))
        XCTAssertEqual(passes.list.reduce(0) { $0 + $1.maps }, 4 + steps)
    }
}
