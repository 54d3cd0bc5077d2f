import CKernels

/// glibc maps every allocation above its mmap threshold (at most 32 MiB) afresh and unmaps it
/// when freed, so a 64-channel 512x512 map (64 MiB) is page-faulted in, zeroed by the kernel
/// and unmapped again at every layer: about a fifth of a TAESD encoder pass went to that.
/// Serving large blocks from the heap and not trimming it lets the next layer reuse the
/// pages. The cost: the process keeps its peak heap instead of returning it to the system.
public enum HeapTuning {
    /// Call once at start-up, before large tensors exist. A no-op off glibc.
    public static func keepLargeBlocks() { segserve_keep_large_blocks() }
}
