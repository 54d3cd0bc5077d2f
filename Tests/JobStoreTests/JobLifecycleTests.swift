import JobStore
import XCTest

/// The job lifecycle as a pure function: every (state, event) pair, no database.
final class JobLifecycleTests: XCTestCase {
    func testAllowedTransitions() {
        let allowed: [JobState: [JobEvent: JobState]] = [
            .queued: [.claim: .running, .cancel: .canceled, .fail: .failed],
            .running: [.progress: .running, .succeed: .succeeded, .fail: .failed, .cancel: .canceled, .interrupt: .queued],
            .succeeded: [:], .failed: [:], .canceled: [:],
        ]
        for state in JobState.allCases {
            for event in JobEvent.allCases {
                XCTAssertEqual(state.after(event), allowed[state]?[event], "\(state) after \(event)")
            }
        }
    }

    func testTerminalStatesAreFinal() {
        for state in JobState.allCases where state.isTerminal {
            XCTAssertTrue(JobEvent.allCases.allSatisfy { state.after($0) == nil }, "\(state)")
        }
        XCTAssertFalse(JobState.queued.isTerminal)
        XCTAssertFalse(JobState.running.isTerminal)
    }
}
