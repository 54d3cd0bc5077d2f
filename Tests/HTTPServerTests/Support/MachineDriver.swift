@testable import HTTPServer

/// Drives a `ConnectionStateMachine` with text and summarises its actions for comparison.
struct MachineDriver {
    enum Step: Equatable {
        case none
        case dispatch(String)
        case write(Int, close: Bool)
        case writeContinue
        case close
    }

    static let second: UInt64 = 1_000_000_000

    var machine: ConnectionStateMachine
    /// The last dispatched request and the last written response, for closer inspection.
    var lastRequest: HTTPRequest?
    var lastWrite: (response: HTTPResponse, context: ResponseContext)?

    init(configure: (inout HTTPServerConfiguration) -> Void = { _ in }, budget: BodyMemoryBudget? = nil, now: UInt64 = 0) {
        var configuration = HTTPServerConfiguration()
        configuration.timeouts.headerRead = .seconds(5)
        configuration.timeouts.bodyRead = .seconds(7)
        configuration.timeouts.idle = .seconds(11)
        configuration.timeouts.write = .seconds(13)
        configuration.limits.minBodyRate = 0  // tests of the rate set one
        configure(&configuration)
        machine = ConnectionStateMachine(configuration: configuration, budget: budget, now: now)
    }

    mutating func receive(_ text: String, at now: UInt64 = 0) -> Step {
        receive(Array(text.utf8), at: now)
    }

    mutating func receive(_ bytes: [UInt8], at now: UInt64 = 0) -> Step {
        record(bytes.withUnsafeBytes { machine.received($0, now: now) })
    }

    /// Feeds one byte at a time and returns every non-`none` step.
    mutating func receiveByteAtATime(_ text: String, at now: UInt64 = 0) -> [Step] {
        text.utf8.map { receive([$0], at: now) }.filter { $0 != .none }
    }

    mutating func respond(_ status: HTTPStatus = .ok, headers: HTTPHeaders = [:], at now: UInt64 = 0) -> Step {
        record(machine.responseReady(HTTPResponse(status: status, headers: headers, body: Array("ok".utf8)), now: now))
    }

    mutating func writeDone(at now: UInt64 = 0) -> Step { record(machine.writeCompleted(now: now)) }
    mutating func eof(at now: UInt64 = 0) -> Step { record(machine.inputEnded(now: now)) }
    mutating func tick(at now: UInt64) -> Step { record(machine.timerFired(now: now)) }
    mutating func shutdown(at now: UInt64 = 0) -> Step { record(machine.beginShutdown(now: now)) }

    /// Answers and flushes the current request, returning the step after the write completes.
    mutating func answer(_ status: HTTPStatus = .ok, at now: UInt64 = 0) -> Step {
        _ = respond(status, at: now)
        return writeDone(at: now)
    }

    mutating func record(_ action: ConnectionAction) -> Step {
        switch action {
        case .none: return .none
        case .dispatch(let request):
            lastRequest = request
            return .dispatch("\(request.method) \(request.target)")
        case .write(let response, let context):
            lastWrite = (response, context)
            return .write(response.status.code, close: context.closeConnection)
        case .writeContinue: return .writeContinue
        case .close: return .close
        }
    }
}
