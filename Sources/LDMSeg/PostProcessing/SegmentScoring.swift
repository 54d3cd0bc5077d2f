import Foundation

/// What a result's segment scores are read from: post-processing's confidence map and, for an
/// ensemble, how well each segment agrees with its matched slot in every run.
public struct ScoreEvidence: Sendable, Equatable {
    public var confidence: ConfidenceMap
    /// Per segment id: the mean IoU, over the runs, of the segment's slot in the averaged map
    /// and the same slot in each run (after slot matching), at the working size. Nil for one run.
    public var agreement: [UInt32: Float]?
    public var runs: Int
    /// Whether the scores went through the model's calibration (`PanopticResult.score`).
    public var calibrated = false

    public init(confidence: ConfidenceMap, agreement: [UInt32: Float]? = nil, runs: Int = 1) {
        self.confidence = confidence
        self.agreement = agreement
        self.runs = runs
    }
}

/// Turns a segment's evidence into a score in [0, 1]: how likely it is to be right (IoU over
/// 0.5 with a true segment). Logistic in the segment's mean confidence c and, for ensembles, its
/// agreement a, with coefficients fitted on training images (`config.json` `scoring`,
/// `tools/train/scores.py`); without them, c for one run and (c + a) / 2 for an ensemble.
public struct SegmentScoring: Sendable, Codable, Equatable {
    /// [bias, weight of c] for single runs.
    public var single: [Float]
    /// [bias, weight of c, weight of a] for ensembles.
    public var ensemble: [Float]

    public init(single: [Float], ensemble: [Float]) {
        self.single = single
        self.ensemble = ensemble
    }

    /// Coefficient counts, checked when a model loads.
    public var isValid: Bool { single.count == 2 && ensemble.count == 3 && (single + ensemble).allSatisfy(\.isFinite) }

    /// The score of a segment with mean confidence `c` and agreement `a` (nil: one run).
    public static func score(confidence c: Float, agreement a: Float?, calibration: SegmentScoring?) -> Float {
        guard let calibration else { return a.map { (c + $0) / 2 } ?? c }
        let z = a.map { calibration.ensemble[0] + calibration.ensemble[1] * c + calibration.ensemble[2] * $0 }
            ?? calibration.single[0] + calibration.single[1] * c
        return 1 / (1 + expf(-z))
    }

    /// Each segment's mean confidence, sampled on the confidence map's grid (a segment smaller
    /// than one cell takes the cell at its box's centre).
    static func meanConfidence(ids: [UInt32], width: Int, height: Int, segments: [PanopticSegment],
                               confidence map: ConfidenceMap) -> [UInt32: Float] {
        var sums: [UInt32: (sum: Float, count: Int)] = [:]
        for cy in 0..<map.height {
            let row = (cy * height + height / 2) / map.height
            for cx in 0..<map.width {
                let id = ids[min(row, height - 1) * width + min((cx * width + width / 2) / map.width, width - 1)]
                guard id != 0 else { continue }
                sums[id, default: (0, 0)].sum += map.values[cy * map.width + cx]
                sums[id, default: (0, 0)].count += 1
            }
        }
        var means: [UInt32: Float] = [:]
        for segment in segments {
            if let s = sums[segment.id], s.count > 0 {
                means[segment.id] = s.sum / Float(s.count)
            } else {
                let (x, y) = (segment.bbox[0] + segment.bbox[2] / 2, segment.bbox[1] + segment.bbox[3] / 2)
                means[segment.id] = map.value(x: x, y: y, outputWidth: width, outputHeight: height)
            }
        }
        return means
    }

    /// Per slot (index = slot): the mean IoU over `runs` of `final == slot` and `run == slot`.
    static func agreement(final: [Int32], runs: [[Int32]], slots: Int) -> [Float] {
        var finalArea = [Int](repeating: 0, count: slots)
        for f in final where f >= 0 { finalArea[Int(f)] += 1 }
        var total = [Float](repeating: 0, count: slots)
        for run in runs {
            var inter = [Int](repeating: 0, count: slots), area = [Int](repeating: 0, count: slots)
            for (f, r) in zip(final, run) {
                if r >= 0 { area[Int(r)] += 1 }
                if f >= 0 && f == r { inter[Int(f)] += 1 }
            }
            for k in 0..<slots where finalArea[k] > 0 {
                total[k] += Float(inter[k]) / Float(finalArea[k] + area[k] - inter[k])
            }
        }
        return total.map { $0 / Float(max(runs.count, 1)) }
    }
}

extension PanopticResult {
    /// Sets every segment's `score` from `evidence` (no-op without it).
    public mutating func score(calibration: SegmentScoring?) {
        guard let evidence else { return }
        self.evidence?.calibrated = calibration != nil
        let means = SegmentScoring.meanConfidence(ids: ids, width: width, height: height, segments: segments,
                                                  confidence: evidence.confidence)
        for i in segments.indices {
            let id = segments[i].id
            let raw = SegmentScoring.score(confidence: means[id] ?? 0, agreement: evidence.agreement.map { $0[id] ?? 0 },
                                           calibration: calibration)
            segments[i].score = (raw * 1000).rounded() / 1000
        }
    }

    /// This result without the segments scored under `minScore` (but those in `except`): their
    /// pixels become void.
    public func keeping(minScore: Float, except kept: Set<UInt32> = []) -> PanopticResult {
        guard minScore > 0 else { return self }
        let dropped = Set(segments.filter { ($0.score ?? 1) < minScore && !kept.contains($0.id) }.map(\.id))
        guard !dropped.isEmpty else { return self }
        var result = self
        for i in result.ids.indices where dropped.contains(result.ids[i]) { result.ids[i] = 0 }
        result.segments.removeAll { dropped.contains($0.id) }
        return result
    }
}
