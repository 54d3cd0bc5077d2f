import XCTest
@testable import HTTPServer

/// The loop's CPU allowance per window: spent, then renewed when the window turns.
final class LoopBudgetTests: XCTestCase {
    func testAllowanceIsSpentWithinAWindowAndRenewedAfter() {
        var budget = LoopBudget(share: 0.1, window: 20_000_000)
        XCTAssertEqual(budget.allowance, 2_000_000)
        let t = UInt64(5_000_000_000)
        XCTAssertFalse(budget.isSpent(now: t))
        budget.charge(1_500_000, now: t + 1_000)
        XCTAssertFalse(budget.isSpent(now: t + 2_000))
        budget.charge(600_000, now: t + 3_000)
        XCTAssertTrue(budget.isSpent(now: t + 4_000))
        XCTAssertEqual(budget.windowEnd, t + 20_000_000, "the window opened at the first look")
        XCTAssertTrue(budget.isSpent(now: t + 19_999_999))
        XCTAssertFalse(budget.isSpent(now: t + 20_000_000), "a new window")
        XCTAssertEqual(budget.used, 0)
    }

    func testNoShareMeansNoLimit() {
        var budget = LoopBudget(share: 0)
        budget.charge(10_000_000_000, now: 1)
        XCTAssertFalse(budget.isSpent(now: 2))
        XCTAssertEqual(LoopBudget(share: 3).allowance, LoopBudget(share: 1).allowance, "at most the whole window")
    }
}
