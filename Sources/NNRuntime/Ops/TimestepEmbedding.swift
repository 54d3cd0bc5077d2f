import Foundation

/// Sinusoidal timestep embedding, diffusers `get_timestep_embedding` semantics.
public func timestepEmbedding(_ t: Float, dim: Int, flipSinToCos: Bool, freqShift: Float,
                              maxPeriod: Float = 10000) -> Tensor {
    let half = dim / 2
    let out = Tensor.zeros([dim])
    for i in 0..<half {
        // Float32 at every step, as torch computes it: arguments reach 1000 rad, so rounding matters.
        let exponent = Float(-Foundation.log(Double(maxPeriod))) * Float(i) / (Float(half) - freqShift)
        let freq = Foundation.exp(exponent)
        let arg = t * freq
        let (s, c) = (Foundation.sin(arg), Foundation.cos(arg))
        if flipSinToCos { out[i] = c; out[half + i] = s } else { out[i] = s; out[half + i] = c }
    }
    return out
}
