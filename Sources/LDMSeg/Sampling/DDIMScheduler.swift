import Foundation
import NNRuntime

/// Noise schedule settings (diffusers DDIM config names).
public struct SchedulerConfig: Sendable, Codable, Equatable {
    public var numTrainTimesteps: Int = 1000
    public var betaStart: Double = 0.00085
    public var betaEnd: Double = 0.012
    public var betaSchedule: String = "scaled_linear"

    public init() {}

    enum CodingKeys: String, CodingKey {
        case numTrainTimesteps = "num_train_timesteps", betaStart = "beta_start", betaEnd = "beta_end"
        case betaSchedule = "beta_schedule"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        numTrainTimesteps = try c.decodeIfPresent(Int.self, forKey: .numTrainTimesteps) ?? numTrainTimesteps
        betaStart = try c.decodeIfPresent(Double.self, forKey: .betaStart) ?? betaStart
        betaEnd = try c.decodeIfPresent(Double.self, forKey: .betaEnd) ?? betaEnd
        betaSchedule = try c.decodeIfPresent(String.self, forKey: .betaSchedule) ?? betaSchedule
    }
}

/// LDMSeg's DDIM sampler (eta 0): timesteps `(N-1)r ... r, 0` shifted by `r-1`, final alpha
/// `alphas_cumprod[0]`, and the last step returns the x0 prediction itself.
public struct DDIMScheduler: Sendable {
    public let alphasCumprod: [Float]

    public init(config: SchedulerConfig = SchedulerConfig()) throws {
        let t = config.numTrainTimesteps
        guard t > 1 else { throw LDMSegError.invalidConfig("num_train_timesteps \(t) must be > 1") }
        // Float32 steps as torch computes them (linspace, square, cumprod).
        var betas = [Float](repeating: 0, count: t)
        switch config.betaSchedule {
        case "scaled_linear":
            let a = Float(config.betaStart.squareRoot()), b = Float(config.betaEnd.squareRoot())
            for i in 0..<t { let v = a + (b - a) * Float(i) / Float(t - 1); betas[i] = v * v }
        case "linear":
            for i in 0..<t { betas[i] = Float(config.betaStart) + Float(config.betaEnd - config.betaStart) * Float(i) / Float(t - 1) }
        default:
            throw LDMSegError.invalidConfig("beta_schedule '\(config.betaSchedule)' (scaled_linear or linear)")
        }
        var acc: Float = 1
        alphasCumprod = betas.map { acc *= (1 - $0); return acc }
    }

    public var trainSteps: Int { alphasCumprod.count }

    /// The timesteps of an `steps`-step run, noisiest first.
    public func timesteps(steps: Int) -> [Int] {
        let ratio = trainSteps / steps
        return (0..<steps).reversed().map { $0 * ratio + ratio - 1 }
    }

    /// alpha_cumprod of the step after `t` (the final alpha past the start).
    public func previousAlpha(_ t: Int, steps: Int) -> Float {
        let prev = t - trainSteps / steps
        return prev >= 0 ? alphasCumprod[prev] : alphasCumprod[0]
    }

    /// One DDIM update of `x` in place given the model's epsilon; `last` returns x0. The x0
    /// estimate is also written to `x0` when given (self-conditioning feeds it back).
    public func step(_ x: Tensor, eps: Tensor, t: Int, steps: Int, last: Bool, x0 estimate: Tensor? = nil) {
        let a = alphasCumprod[t], ap = previousAlpha(t, steps: steps)
        let sa = a.squareRoot(), s1a = (1 - a).squareRoot()
        let sap = ap.squareRoot(), s1ap = (1 - ap).squareRoot()
        for i in 0..<x.count {
            let x0 = (x.data[i] - s1a * eps.data[i]) / sa
            estimate?.data[i] = x0
            x.data[i] = last ? x0 : sap * x0 + s1ap * eps.data[i]
        }
    }
}
