import HTTPServer
import XCTest

final class RequestExecutorTests: XCTestCase {
    /// Tasks that prefer the executor run on its threads, many at once.
    func testTasksRunOnItsThreads() async {
        let executor = RequestExecutor(threads: 3, name: "executor-test")
        defer { executor.shutdown() }
        let names = await withTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask(executorPreference: executor) { currentThreadName() } }
            return await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        XCTAssertFalse(names.isEmpty)
        XCTAssertTrue(names.allSatisfy { $0.hasPrefix("executor-test-") }, "\(names)")
    }

    /// Work that arrives after shutdown still runs (on the shared pool): no task is left hanging.
    func testWorkAfterShutdownStillRuns() async {
        let executor = RequestExecutor(threads: 1)
        executor.shutdown()
        let value = await Task(executorPreference: executor) { () async -> Int in
            try? await Task.sleep(for: .milliseconds(10))
            return 42
        }.value
        XCTAssertEqual(value, 42)
    }
}
