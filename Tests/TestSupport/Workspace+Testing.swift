import NNRuntime

extension ComputePool {
    /// Two threads, so the tests run the parallel split of every loop on any machine.
    public static let testing = ComputePool(threads: 2, name: "test-compute")
}

extension Workspace {
    /// A workspace on `ComputePool.testing`, with `configure` applied to the default options.
    public static func testing(_ configure: (inout RuntimeOptions) -> Void = { _ in }) -> Workspace {
        var options = RuntimeOptions(pool: .testing)
        configure(&options)
        return Workspace(options: options)
    }
}
