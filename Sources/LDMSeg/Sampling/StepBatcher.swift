import Foundation
import NNRuntime

/// Dynamic batching across jobs: the DDIM steps of jobs denoising at once on one model merge
/// into shared UNet passes, as an inference server batches concurrent requests. Each job keeps
/// its own thread, progress and cancellation: it hands its runs' next step here and gets them
/// back advanced. Share one batcher among the `Segmenter`s of one model.
///
/// The first step handed in leads a pass. It waits up to `maxDelay` for the next step of every
/// other job denoising latents of its size, until the pass holds `RuntimeOptions.maxBatch`
/// maps; then it runs them all through the UNet on its own worker's scratch memory. A job alone
/// never waits. Passes run one at a time: the workers share one compute pool.
public final class StepBatcher: @unchecked Sendable {
    /// Steps that may share a pass: same UNet input size and product precision.
    struct Key: Hashable {
        let shape: [Int]
        let precision: Precision
    }

    /// One job's runs waiting for their next step.
    private final class Request {
        let runs: [DenoisingRun]
        let key: Key
        var done = false
        init(runs: [DenoisingRun], key: Key) {
            self.runs = runs
            self.key = key
        }
    }

    /// Longest a step waits for other jobs' steps to join its pass.
    public let maxDelay: Duration
    /// Called after each pass with its maps and the jobs they came from.
    private let observe: @Sendable (_ maps: Int, _ jobs: Int) -> Void
    private let condition = NSCondition()
    /// Steps handed in and not yet taken into a pass, oldest first; guarded by `condition`.
    private var pending: [Request] = []
    /// Whether a pass is being gathered or run; guarded by `condition`.
    private var leading = false
    /// Jobs inside `denoise`, by key; guarded by `condition`.
    private var denoising: [Key: Int] = [:]

    public init(maxDelay: Duration, observe: @escaping @Sendable (_ maps: Int, _ jobs: Int) -> Void = { _, _ in }) {
        self.maxDelay = maxDelay
        self.observe = observe
    }

    /// Jobs inside `denoise` on any key.
    var denoisingJobs: Int { locked { denoising.values.reduce(0, +) } }

    /// The key of `runs`' next step on `ws`.
    static func key(_ runs: [DenoisingRun], _ ws: Workspace) -> Key {
        Key(shape: runs[0].inputShape, precision: ws.options.effectivePrecision)
    }

    /// Brackets one job's denoising of latents under `key`: passes wait only for jobs inside.
    func denoising<T>(_ key: Key, _ body: () throws -> T) rethrows -> T {
        locked { denoising[key, default: 0] += 1 }
        defer {
            locked {
                denoising[key]! -= 1
                if denoising[key] == 0 { denoising[key] = nil }
            }
            condition.broadcast()
        }
        return try body()
    }

    /// Advances each of `runs` by one step, in a pass of its own or shared with other jobs.
    func step(_ runs: [DenoisingRun], on segmenter: Segmenter) {
        let request = Request(runs: runs, key: Self.key(runs, segmenter.ws))
        condition.lock()
        pending.append(request)
        condition.broadcast()
        while !request.done {
            if !leading && pending.first === request {
                lead(request, on: segmenter)
            } else {
                condition.wait()
            }
        }
        condition.unlock()
    }

    /// Gathers a pass around `first`, runs it and hands every step back; called with the lock
    /// held, returns with it held.
    private func lead(_ first: Request, on segmenter: Segmenter) {
        leading = true
        let limit = segmenter.ws.options.maxBatch
        let deadline = Date(timeIntervalSinceNow: maxDelay / .seconds(1))
        while Date() < deadline {
            let same = pending.filter { $0.key == first.key }
            let maps = same.reduce(0) { $0 + $1.runs.count }
            // Jobs of this size busy between steps; each has at most one step pending.
            let coming = (denoising[first.key] ?? 0) - same.count
            if maps >= limit || coming <= 0 { break }
            _ = condition.wait(until: deadline)
        }
        var pass: [Request] = [], maps = 0
        for request in pending where request.key == first.key && (pass.isEmpty || maps + request.runs.count <= limit) {
            pass.append(request)
            maps += request.runs.count
        }
        pending.removeAll { request in pass.contains { $0 === request } }
        condition.unlock()
        segmenter.step(pass.flatMap(\.runs))
        observe(maps, pass.count)
        condition.lock()
        for request in pass { request.done = true }
        leading = false
        condition.broadcast()
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }
}
