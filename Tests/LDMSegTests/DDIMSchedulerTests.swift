import XCTest
@testable import LDMSeg
import NNRuntime

final class DDIMSchedulerTests: XCTestCase {
    func testTimestepsFollowLDMSeg() throws {
        let s = try DDIMScheduler()
        let t = s.timesteps(steps: 50)
        XCTAssertEqual(t.count, 50)
        XCTAssertEqual(t.first, 999)
        XCTAssertEqual(t[1], 979)
        XCTAssertEqual(t.last, 19)
        XCTAssertEqual(s.timesteps(steps: 1), [999])
        XCTAssertEqual(s.timesteps(steps: 4), [999, 749, 499, 249])
    }

    func testScaledLinearSchedule() throws {
        let s = try DDIMScheduler()
        // diffusers: betas = linspace(sqrt(0.00085), sqrt(0.012), 1000)^2, alphas_cumprod = cumprod(1 - betas)
        XCTAssertEqual(s.alphasCumprod[0], 1 - 0.00085, accuracy: 1e-7)
        XCTAssertEqual(s.alphasCumprod[999], 0.0046600951, accuracy: 1e-8)  // torch float32 cumprod
        XCTAssertEqual(s.previousAlpha(19, steps: 50), s.alphasCumprod[0], "final alpha is alphas_cumprod[0]")
        XCTAssertEqual(s.previousAlpha(999, steps: 50), s.alphasCumprod[979])
    }

    func testStepRecoversCleanSampleWhenEpsilonIsExact() throws {
        let s = try DDIMScheduler()
        let x0 = Tensor(shape: [4], values: [0.5, -1, 2, 0])
        let eps = Tensor(shape: [4], values: [1, 0.25, -0.5, 2])
        let a = s.alphasCumprod[499]
        let x = Tensor(shape: [4], values: (0..<4).map { a.squareRoot() * x0[$0] + (1 - a).squareRoot() * eps[$0] })
        let y = x.copy()
        s.step(y, eps: eps, t: 499, steps: 4, last: true)
        for i in 0..<4 { XCTAssertEqual(y[i], x0[i], accuracy: 1e-5) }
        s.step(x, eps: eps, t: 499, steps: 4, last: false)
        let ap = s.alphasCumprod[249]
        for i in 0..<4 { XCTAssertEqual(x[i], ap.squareRoot() * x0[i] + (1 - ap).squareRoot() * eps[i], accuracy: 1e-5) }
    }

    func testRejectsUnknownSchedule() {
        var c = SchedulerConfig()
        c.betaSchedule = "cosine"
        XCTAssertThrowsError(try DDIMScheduler(config: c))
    }
}
