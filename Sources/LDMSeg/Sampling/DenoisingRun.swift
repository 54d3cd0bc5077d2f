import NNRuntime

/// One chain of sampler steps from noise to a mask latent: what a batched step advances. Runs of
/// one ensemble, or of several jobs, step together through one UNet pass (see `Segmenter.step`).
final class DenoisingRun {
    /// The mask latent `[Lm, h, w]`, denoised in place; x0 once `isFinished`.
    let x: Tensor
    /// The image latent `[Li, h, w]` the run is conditioned on.
    let image: Tensor
    /// Self-conditioning: the previous step's x0 estimate, zeros before the first step.
    let estimate: Tensor?
    /// Inpainting: cells held to the encoded partial map.
    let known: KnownLatent?
    /// The run's timesteps, noisiest first: one per step.
    let timesteps: [Int]
    let sampler: Sampler
    /// DeepCache: a full UNet pass every this many steps, shallow passes between (1: all full).
    let deepCacheInterval: Int
    /// ToMe: the share of the top-level transformers' tokens merged (0: none).
    let tokenMerging: Float
    /// The deep feature of the run's last full pass, kept for the shallow passes after it.
    var deep: Tensor?
    /// DPM-Solver++: the last step's x0 prediction, for the second-order update.
    private var history: Tensor?
    /// Steps taken so far.
    private(set) var completed = 0

    /// A partial map's scaled latent, the latent cells it fully covers, and their noise.
    typealias KnownLatent = (z: Tensor, cells: [Bool], noise: Tensor)

    init(noise x: Tensor, image: Tensor, known: KnownLatent?, steps: Int, scheduler: DDIMScheduler, sampler: Sampler,
         selfConditioning: Bool, deepCacheInterval: Int = 1, tokenMerging: Float = 0) {
        precondition(x.rank == 3 && image.rank == 3 && x.shape.dropFirst() == image.shape.dropFirst(),
                     "run latent \(x.shape) for image latent \(image.shape)")
        self.x = x
        self.image = image
        self.known = known
        timesteps = scheduler.timesteps(steps: steps)
        self.sampler = sampler
        self.deepCacheInterval = deepCacheInterval
        self.tokenMerging = tokenMerging
        estimate = selfConditioning ? Tensor.zeros(x.shape) : nil
    }

    var isFinished: Bool { completed == timesteps.count }

    /// Whether the next step runs the whole UNet (and refreshes `deep`).
    var needsFullPass: Bool { deep == nil || completed % deepCacheInterval == 0 }

    /// The next step's timestep.
    var timestep: Int { timesteps[completed] }

    /// The shape of `input`.
    var inputShape: [Int] {
        [x.shape[0] + image.shape[0] + (estimate?.shape[0] ?? 0), x.shape[1], x.shape[2]]
    }

    /// The next step's UNet input: `[Lm + Li (+ Lm), h, w]`.
    var input: Tensor { Tensor.concat([x, image] + (estimate.map { [$0] } ?? [])) }

    /// Applies the UNet's epsilon `[Lm, h, w]` for the next step.
    func advance(eps: Tensor, _ sched: DDIMScheduler) {
        let t = timestep, steps = timesteps.count, last = completed == steps - 1
        let next = last ? nil : timesteps[completed + 1]
        switch sampler {
        case .ddim:
            sched.step(x, eps: eps, t: t, steps: steps, last: last, x0: estimate)
        case .dpmSolver:
            let x0 = Tensor(shape: x.shape)
            sched.dpmSolverStep(x, eps: eps, t: t, next: next, previous: history.map { ($0, timesteps[completed - 1]) }, x0: x0)
            estimate?.data.update(from: x0.data, count: x0.count)
            history = x0
        }
        if let known {
            // Known cells follow the encoded partial map, noised to the level x is now at;
            // their x0 is the partial map's latent itself.
            let a = next.map { sched.alphasCumprod[$0] } ?? 1
            let sa = a.squareRoot(), sn = (1 - a).squareRoot()
            let plane = x.count / x.shape[0]
            for c in 0..<x.shape[0] {
                for p in 0..<plane where known.cells[p] {
                    let j = c * plane + p
                    x.data[j] = sa * known.z.data[j] + sn * known.noise.data[j]
                    estimate?.data[j] = known.z.data[j]
                }
            }
        }
        completed += 1
    }
}
