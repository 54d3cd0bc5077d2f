import NNRuntime

/// Module constructors keyed by checkpoint prefixes (`down_blocks.0.resnets.1.conv1`).
extension WeightStore {
    func conv(_ prefix: String, stride: Int = 1, padding: Padding? = nil, bias: Bool = true) throws -> Conv2D {
        let w = try parameter(prefix + ".weight")
        guard w.rank == 4 else { throw NNError.shapeMismatch(name: prefix + ".weight", expected: [-1, -1, -1, -1], actual: w.shape) }
        let b = bias ? try optionalTensor(prefix + ".bias", shape: [w.shape[0]]) : nil
        return Conv2D(weight: w, bias: b, stride: stride, padding: padding ?? .same(w.shape[2] / 2))
    }

    func depthwise(_ prefix: String, stride: Int) throws -> DepthwiseConv2D {
        let w = try tensor(prefix + ".weight")
        guard w.rank == 4, w.shape[1] == 1, w.shape[2] == 3, w.shape[3] == 3 else {
            throw NNError.shapeMismatch(name: prefix + ".weight", expected: [-1, 1, 3, 3], actual: w.shape)
        }
        return DepthwiseConv2D(weight: w, bias: try optionalTensor(prefix + ".bias", shape: [w.shape[0]]), stride: stride)
    }

    func linear(_ prefix: String) throws -> Linear {
        let w = try parameter(prefix + ".weight")
        guard w.rank == 2 else { throw NNError.shapeMismatch(name: prefix + ".weight", expected: [-1, -1], actual: w.shape) }
        return Linear(weight: w, bias: try optionalTensor(prefix + ".bias", shape: [w.shape[0]]))
    }

    func groupNorm(_ prefix: String, groups: Int, eps: Float) throws -> GroupNorm {
        let w = try tensor(prefix + ".weight")
        guard w.rank == 1, w.shape[0] % groups == 0 else {
            throw LDMSegError.invalidConfig("'\(prefix)': \(w.shape[0]) channels are not divisible into \(groups) groups")
        }
        return GroupNorm(groups: groups, eps: eps, weight: w, bias: try tensor(prefix + ".bias", shape: w.shape))
    }

    func layerNorm(_ prefix: String, eps: Float) throws -> LayerNorm {
        let w = try tensor(prefix + ".weight")
        return LayerNorm(eps: eps, weight: w, bias: try optionalTensor(prefix + ".bias", shape: w.shape))
    }
}
