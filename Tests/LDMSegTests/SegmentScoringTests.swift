@testable import LDMSeg
import XCTest

/// Segment scores: their evidence (confidence per segment, agreement between runs), the
/// calibration, and dropping segments under `min_score`.
final class SegmentScoringTests: XCTestCase {
    func testAgreementIsTheMeanIoUWithEachRun() {
        let final: [Int32] = [0, 0, 1, 1, -1, 2]
        let runs: [[Int32]] = [[0, 0, 1, 1, -1, 2],   // the same: IoU 1 each
                               [0, 1, 1, 1, 2, -1]]   // slot 0: 1/2, slot 1: 2/3, slot 2: 0/2
        let a = SegmentScoring.agreement(final: final, runs: runs, slots: 4)
        XCTAssertEqual(a[0], 0.75, accuracy: 1e-6)
        XCTAssertEqual(a[1], (1 + 2.0 / 3) / 2, accuracy: 1e-6)
        XCTAssertEqual(a[2], 0.5, accuracy: 1e-6)
        XCTAssertEqual(a[3], 0, "a slot the final map lacks")
    }

    func testScoresComeFromConfidenceAndAgreementThroughTheCalibration() {
        XCTAssertEqual(SegmentScoring.score(confidence: 0.8, agreement: nil, calibration: nil), 0.8)
        XCTAssertEqual(SegmentScoring.score(confidence: 0.8, agreement: 0.4, calibration: nil), 0.6, accuracy: 1e-6)
        let calibration = SegmentScoring(single: [-2, 4], ensemble: [-3, 2, 2])
        XCTAssertEqual(SegmentScoring.score(confidence: 0.5, agreement: nil, calibration: calibration), 0.5, accuracy: 1e-6)
        XCTAssertEqual(SegmentScoring.score(confidence: 1, agreement: 1, calibration: calibration), 1 / (1 + expf(-1)), accuracy: 1e-6)
        XCTAssertTrue(calibration.isValid)
        XCTAssertFalse(SegmentScoring(single: [1], ensemble: [0, 1, 1]).isValid)
        XCTAssertFalse(SegmentScoring(single: [0, .nan], ensemble: [0, 1, 1]).isValid)
    }

    /// Confidence is averaged over each segment's cells of the (smaller) confidence map; the
    /// scores land on the segments; min_score voids the low ones and keeps the rest as they were.
    func testResultsAreScoredAndLowScoresDropped() {
        let ids: [UInt32] = [1, 1, 2, 2,
                             1, 1, 2, 2,
                             0, 0, 3, 3,
                             0, 0, 3, 3]
        var result = PanopticResult(width: 4, height: 4, ids: ids)
        result.evidence = ScoreEvidence(confidence: ConfidenceMap(width: 2, height: 2, values: [0.9, 0.3, 0.5, 0.7]),
                                        agreement: [1: 1.0, 2: 0.5, 3: 0.1], runs: 4)
        result.score(calibration: nil)
        XCTAssertEqual(result.segments.map(\.score), [0.95, 0.4, 0.4])
        XCTAssertEqual(result.evidence?.calibrated, false)
        let kept = result.keeping(minScore: 0.5)
        XCTAssertEqual(kept.segments.map(\.id), [1])
        XCTAssertEqual(kept.ids, ids.map { $0 == 1 ? 1 : 0 })
        XCTAssertEqual(result.keeping(minScore: 0), result)
    }
}
