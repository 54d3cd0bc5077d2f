import Foundation
import NNRuntime

/// DPM-Solver++(2M) on the DDIM schedule's alphas; diffusers' DPMSolverMultistepScheduler
/// (dpmsolver++, midpoint, final sigma zero) on the same timesteps gives the same trajectory.
extension DDIMScheduler {
    /// log(alpha_t / sigma_t): the half log-SNR the solver steps in.
    func halfLogSNR(_ t: Int) -> Double {
        let a = Double(alphasCumprod[t])
        return 0.5 * log(a / (1 - a))
    }

    /// One update of `x` in place from timestep `t` to `next` (nil: the end, where x becomes the
    /// x0 prediction). `previous` is the last step's x0 prediction and timestep, nil at the first
    /// step (first order). The x0 prediction is written to `x0`.
    public func dpmSolverStep(_ x: Tensor, eps: Tensor, t: Int, next: Int?, previous: (x0: Tensor, t: Int)?, x0: Tensor) {
        let a = Double(alphasCumprod[t])
        let alpha = Float(a.squareRoot()), sigma = Float((1 - a).squareRoot())
        for i in 0..<x.count { x0.data[i] = (x.data[i] - sigma * eps.data[i]) / alpha }
        guard let next else {
            for i in 0..<x.count { x.data[i] = x0.data[i] }
            return
        }
        let an = Double(alphasCumprod[next])
        let h = halfLogSNR(next) - halfLogSNR(t)
        let keep = Float((1 - an).squareRoot() / (1 - a).squareRoot())  // sigma_next / sigma_t
        let gain = Float(an.squareRoot() * -expm1(-h))  // -alpha_next (e^-h - 1)
        guard let previous else {
            for i in 0..<x.count { x.data[i] = keep * x.data[i] + gain * x0.data[i] }
            return
        }
        // D = x0 + (x0 - x0_prev) / (2 r), r = h_prev / h
        let slope = Float(h / (2 * (halfLogSNR(t) - halfLogSNR(previous.t))))
        for i in 0..<x.count {
            let d = x0.data[i] + slope * (x0.data[i] - previous.x0.data[i])
            x.data[i] = keep * x.data[i] + gain * d
        }
    }
}
