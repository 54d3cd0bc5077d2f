import Foundation

/// OpenBLAS picks its kernels when the library loads. Builds up to 0.3.21 give AVX-512
/// machines newer than Skylake-X (Cooper Lake, Zen 4) the AVX2 sgemm kernel, about 1.4x
/// slower than the Skylake-X one; the choice can only be changed through the environment
/// before the process starts.
public enum BLASKernel {
    /// Re-executes the current process with `OPENBLAS_CORETYPE=SKYLAKEX` when the CPU has the
    /// AVX-512 subsets that kernel needs and no core type was chosen. Call first in `main`.
    public static func preferAVX512() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else { return }
        // /proc files report size 0, so read through a handle rather than by stat size.
        guard let handle = FileHandle(forReadingAtPath: "/proc/cpuinfo"),
              let bytes = try? handle.readToEnd(), let cpuinfo = String(data: bytes, encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        guard ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains) else { return }
        setenv("OPENBLAS_CORETYPE", "SKYLAKEX", 1)
        var argv = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // execv returned: keep running with the default kernel.
    }
}
