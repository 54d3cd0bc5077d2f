// NNRuntime module.
