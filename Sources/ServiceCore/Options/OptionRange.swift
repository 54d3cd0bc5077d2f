import LDMSeg

/// The values one option may take, in JSON Schema's words, as `GET /v1/models` states them: a
/// client (the web page among them) reads the ranges instead of copying them.
package struct OptionRange: Encodable, Equatable, Sendable {
    var minimum: Double?
    var maximum: Double?
    var exclusiveMinimum: Double?
    var exclusiveMaximum: Double?
    var multipleOf: Int?

    init(_ range: ClosedRange<Int>, multipleOf: Int? = nil) {
        minimum = Double(range.lowerBound)
        // Int.max (the seed) has no exact JSON number; an unbounded side is left out.
        maximum = range.upperBound == Int.max ? nil : Double(range.upperBound)
        self.multipleOf = multipleOf
    }

    init(_ range: ClosedRange<Double>, exclusive: Bool = false) {
        if exclusive {
            (exclusiveMinimum, exclusiveMaximum) = (range.lowerBound, range.upperBound)
        } else {
            (minimum, maximum) = (range.lowerBound, range.upperBound)
        }
    }

    /// Every numeric option's range for a model trained with `trainSteps` timesteps, with
    /// resolutions up to `maxResolution` (`limits.max_resolution`): what `JobOptions.apply` and
    /// the submission's limits accept.
    package static func all(trainSteps: Int, maxResolution: Int) -> [String: OptionRange] {
        let resolution = OptionLimits.resolution
        return [
            "steps": OptionRange(OptionLimits.steps(trainSteps: trainSteps)),
            "seed": OptionRange(OptionLimits.seed),
            "resolution": OptionRange(resolution.lowerBound...min(resolution.upperBound, maxResolution),
                                      multipleOf: OptionLimits.resolutionMultiple),
            "count_th": OptionRange(OptionLimits.countTh),
            "ensemble_seeds": OptionRange(OptionLimits.ensembleSeeds),
            "deep_cache": OptionRange(OptionLimits.deepCache),
            "mask_th": OptionRange(OptionLimits.maskTh, exclusive: true),
            "overlap_th": OptionRange(OptionLimits.overlapTh),
            "min_score": OptionRange(OptionLimits.minScore),
            "token_merging": OptionRange(OptionLimits.tokenMerging),
        ]
    }
}
