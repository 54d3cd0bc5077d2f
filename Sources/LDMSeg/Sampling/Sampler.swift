/// How a run steps from noise to a mask latent. Both take the same timesteps (DDIM's), feed back
/// the same x0 estimate for self-conditioning and hold inpainting's known cells the same way.
public enum Sampler: String, Sendable, Codable, CaseIterable {
    /// DDIM with eta 0, the paper's sampler.
    case ddim
    /// DPM-Solver++(2M) (Lu et al. 2022): second-order multistep on the x0 predictions, first
    /// order at the first step and the last, which returns x0 as DDIM's does.
    case dpmSolver = "dpm-solver++"
}
