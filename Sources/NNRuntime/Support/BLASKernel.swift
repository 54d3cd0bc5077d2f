import Foundation

/// OpenBLAS reads its settings from the environment when the library loads, so a process
/// that wants other settings must set them and re-execute itself before any BLAS call.
///
/// - Kernel: builds up to 0.3.21 give AVX-512 machines newer than Skylake-X (Cooper Lake,
///   Zen 4) the AVX2 sgemm kernel, about 1.4x slower than the Skylake-X one.
/// - Threads: the runtime splits each sgemm across its own `ComputePool` (see `GEMM`), so
///   OpenBLAS runs on the calling thread and starts no threads of its own.
public enum BLASKernel {
    /// Sets `OPENBLAS_CORETYPE=SKYLAKEX` (when the CPU has the AVX-512 subsets it needs) and
    /// `OPENBLAS_NUM_THREADS=1`, each only when not set already, and re-executes the process if
    /// anything changed. Call first in `main`.
    public static func configureProcess() {
        let env = ProcessInfo.processInfo.environment
        var changed = false
        if env["OPENBLAS_CORETYPE"] == nil && cpuHasAVX512() {
            setenv("OPENBLAS_CORETYPE", "SKYLAKEX", 1)
            changed = true
        }
        if env["OPENBLAS_NUM_THREADS"] == nil {
            setenv("OPENBLAS_NUM_THREADS", "1", 1)
            changed = true
        }
        guard changed else { return }
        var argv = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // execv returned: keep running with OpenBLAS's defaults.
    }

    static func cpuHasAVX512() -> Bool {
        // /proc files report size 0, so read through a handle rather than by stat size.
        guard let handle = FileHandle(forReadingAtPath: "/proc/cpuinfo"),
              let bytes = try? handle.readToEnd(), let cpuinfo = String(data: bytes, encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        return ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains)
    }
}
