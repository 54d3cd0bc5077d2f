import Foundation
import JobStore
import LDMSeg
import NNRuntime
import Pipeline
import Synchronization

/// The options of a job as the API names them (openapi.yaml `Options`), resolved against the
/// model's defaults and stored with the job, so a job always shows the values it ran with.
package struct JobOptions: Codable, Equatable, Sendable {
    package var steps: Int
    package var seed: UInt64
    package var maskTh: Float
    package var countTh: Int
    package var overlapTh: Float
    /// Segments scored under this are dropped; absent in jobs stored before it existed (0).
    package var minScore: Float?
    package var resolution: Int
    /// Inpainting only: how the mask encodes ids.
    package var maskEncoding: InpaintingMaskEncoding?
    /// Segmentation only: test-time ensembling over seeds and a mirrored run (`Ensemble`).
    package var ensembleSeeds: Int?
    package var flip: Bool?
    /// Number format of the matrix products; absent in jobs stored before it existed (fp32).
    package var precision: Precision?
    /// How runs step from noise to the mask latent; absent in jobs stored before it existed (DDIM).
    package var sampler: Sampler?
    /// DeepCache's interval; absent in jobs stored before it existed (1, every pass full).
    package var deepCache: Int?
    /// ToMe's ratio; absent in jobs stored before it existed (0, no merging).
    package var tokenMerging: Float?
    /// Where the job's JSON is POSTed once it ends (a host of `callbacks.allowed_hosts`).
    package var callbackURL: String?

    package enum CodingKeys: String, CodingKey, CaseIterable {
        case steps, seed, maskTh = "mask_th", countTh = "count_th", overlapTh = "overlap_th", minScore = "min_score", resolution
        case maskEncoding = "mask_encoding", ensembleSeeds = "ensemble_seeds", flip, precision, sampler
        case deepCache = "deep_cache", tokenMerging = "token_merging", callbackURL = "callback_url"
    }

    /// The model's defaults for a job of `kind`.
    package init(_ options: SegmentationOptions, kind: JobKind) {
        steps = options.steps
        seed = options.seed
        maskTh = options.postProcessing.maskThreshold
        countTh = options.postProcessing.countThreshold
        overlapTh = options.postProcessing.overlapThreshold
        minScore = options.postProcessing.minScore
        resolution = options.resolution
        precision = options.precision
        sampler = options.sampler
        deepCache = options.deepCache
        tokenMerging = Float(options.tokenMerging)
        switch kind {
        case .segmentation:
            ensembleSeeds = options.ensemble.seeds
            flip = options.ensemble.flip
        case .inpainting:
            maskEncoding = .coco
        }
    }

    /// DDIM steps the job runs in all: every ensemble run reports its steps.
    package var totalSteps: Int { steps * (ensembleSeeds ?? 1) * (flip == true ? 2 : 1) }

    /// Latent cells of a square image at `resolution`, the most any image's latent has.
    package var latentCells: Int { (resolution / 8) * (resolution / 8) }

    /// The job's work (`limits.max_job_cost`): every step of every run on at most
    /// `latentCells`, plus one unit per `pixelsPerCostUnit` pixels of the image for the work at
    /// its full size (decoding, post-processing, the result files).
    package func cost(pixels: Int = 0) -> Int { totalSteps * latentCells + pixels / Self.pixelsPerCostUnit }

    package static let pixelsPerCostUnit = 128

    package var segmentation: SegmentationOptions {
        SegmentationOptions(steps: steps, seed: seed, resolution: resolution,
                            postProcessing: PostProcessingOptions(maskThreshold: maskTh, countThreshold: countTh, overlapThreshold: overlapTh,
                                                                  minScore: minScore ?? 0),
                            ensemble: Ensemble(seeds: ensembleSeeds ?? 1, flip: flip ?? false),
                            precision: precision ?? .fp32, sampler: sampler ?? .ddim, deepCache: deepCache ?? 1,
                            tokenMerging: Double(tokenMerging ?? 0))
    }

    /// A value of a client's options: from JSON, or a query parameter's text.
    package enum Value: Decodable, CustomStringConvertible {
        case bool(Bool), integer(Int), number(Double), string(String), other

        package init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let i = try? c.decode(Int.self) { self = .integer(i) }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else { self = .other }
        }

        package var integer: Int? {
            switch self {
            case .integer(let i): return i
            case .string(let s): return Int(s)
            default: return nil
            }
        }

        package var bool: Bool? {
            switch self {
            case .bool(let b): return b
            case .string("true"): return true
            case .string("false"): return false
            default: return nil
            }
        }

        package var number: Double? {
            switch self {
            case .integer(let i): return Double(i)
            case .number(let d): return d
            case .string(let s): return Double(s)
            default: return nil
            }
        }

        package var description: String {
            switch self {
            case .bool(let b): return "\(b)"
            case .integer(let i): return "\(i)"
            case .number(let d): return "\(d)"
            case .string(let s): return "'\(s)'"
            case .other: return "a non-scalar value"
            }
        }
    }

    /// Applies a client's options over these; unknown names, wrong types and values outside
    /// `OptionLimits` (steps also within the model's `trainSteps`) are 400s naming the option.
    package mutating func apply(_ values: [String: Value], source: String, trainSteps: Int) throws(OptionError) {
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = values.keys.sorted().first(where: { !known.contains($0) }) {
            throw OptionError("\(source): unknown option '\(unknown)'; known: \(known.sorted().joined(separator: ", "))")
        }
        func integer(_ name: String, _ range: ClosedRange<Int>) throws(OptionError) -> Int? {
            guard let raw = values[name] else { return nil }
            guard let value = raw.integer, range.contains(value) else {
                throw OptionError("\(source): option '\(name)' must be an integer in \(range.lowerBound)...\(range.upperBound); got \(raw)")
            }
            return value
        }
        func number(_ name: String, _ range: ClosedRange<Double>, open: Bool = false) throws(OptionError) -> Float? {
            guard let raw = values[name] else { return nil }
            let (low, high) = (range.lowerBound, range.upperBound)
            guard let value = raw.number, value.isFinite, open ? value > low && value < high : range.contains(value) else {
                let bounds = [low, high].map { $0 == $0.rounded() ? String(Int($0)) : String($0) }.joined(separator: ", ")
                let rule = open ? "(\(bounds))" : "[\(bounds)]"
                throw OptionError("\(source): option '\(name)' must be a number in \(rule); got \(raw)")
            }
            return Float(value)
        }
        func choice<T: RawRepresentable & CaseIterable>(_ name: String) throws(OptionError) -> T? where T.RawValue == String {
            guard let raw = values[name] else { return nil }
            guard case .string(let text) = raw, let value = T(rawValue: text) else {
                let names = T.allCases.map { "'\($0.rawValue)'" }.joined(separator: " or ")
                throw OptionError("\(source): option '\(name)' must be \(names); got \(raw)")
            }
            return value
        }
        if let v = try integer("steps", OptionLimits.steps(trainSteps: trainSteps)) { steps = v }
        if let v = try integer("deep_cache", OptionLimits.deepCache) { deepCache = v }
        if let v = try integer("seed", OptionLimits.seed) { seed = UInt64(v) }
        if let v = try integer("count_th", OptionLimits.countTh) { countTh = v }
        if let v = try integer("resolution", OptionLimits.resolution) {
            let multiple = OptionLimits.resolutionMultiple
            guard v % multiple == 0 else {
                throw OptionError("\(source): option 'resolution' must be a multiple of \(multiple) (the latent's cell); got \(v)")
            }
            resolution = v
        }
        if let v = try number("mask_th", OptionLimits.maskTh, open: true) { maskTh = v }
        if let v = try number("overlap_th", OptionLimits.overlapTh) { overlapTh = v }
        if let v = try number("min_score", OptionLimits.minScore) { minScore = v }
        if let v = try number("token_merging", OptionLimits.tokenMerging) { tokenMerging = v }
        if let raw = values["mask_encoding"] {
            guard maskEncoding != nil else {
                throw OptionError("\(source): option 'mask_encoding' applies to inpainting only")
            }
            guard case .string(let text) = raw, let encoding = InpaintingMaskEncoding(rawValue: text) else {
                throw OptionError("\(source): option 'mask_encoding' must be 'coco' or 'palette'; got \(raw)")
            }
            maskEncoding = encoding
        }
        for name in ["ensemble_seeds", "flip"] where values[name] != nil && ensembleSeeds == nil {
            throw OptionError("\(source): option '\(name)' applies to segmentation only")
        }
        if let v = try integer("ensemble_seeds", OptionLimits.ensembleSeeds) { ensembleSeeds = v }
        if let raw = values["flip"] {
            guard let value = raw.bool else {
                throw OptionError("\(source): option 'flip' must be true or false; got \(raw)")
            }
            flip = value
        }
        if let v: Precision = try choice("precision") { precision = v }
        if let v: Sampler = try choice("sampler") { sampler = v }
        if let raw = values["callback_url"] {
            guard case .string(let text) = raw else {
                throw OptionError("\(source): option 'callback_url' must be a string; got \(raw)")
            }
            do { _ = try CallbackURL(parsing: text) } catch {
                throw OptionError("\(source): option 'callback_url' \(error.reason)")
            }
            callbackURL = text
        }
    }

    /// `callbackURL` parsed (it was checked when set).
    package var callback: CallbackURL? { callbackURL.flatMap { try? CallbackURL(parsing: $0) } }

    /// Decodes stored options; memoised, since jobs share a handful of option sets and every
    /// status poll shows them.
    package static func decoded(from json: Data) -> JobOptions? {
        if let hit = memo.withLock({ $0[json] }) { return hit }
        guard let options = try? JSONDecoder().decode(JobOptions.self, from: json) else { return nil }
        memo.withLock { memo in
            if memo.count >= 1024 { memo.removeAll(keepingCapacity: true) }
            memo[json] = options
        }
        return options
    }

    private static let memo = Mutex<[Data: JobOptions]>([:])

    /// Canonical JSON (sorted keys): stored with the job and part of the idempotency digest.
    package var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }
}

/// Why a client's options cannot be used: the option named and the rule it breaks.
package struct OptionError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
