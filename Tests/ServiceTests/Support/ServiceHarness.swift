import Foundation
import HTTPServer
import Imaging
import JobStore
import LDMSeg
import Logging
import Synchronization
@testable import API
@testable import Service
@testable import ServiceCore
@testable import Worker
import TestSupport
import XCTest

/// The tiny random-weight model of the parity tests: fast enough to run real jobs in tests.
let tinyModelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("LDMSegTests/Fixtures/tiny_model").path

/// A service with a fresh database and the tiny model, answering either over real sockets
/// (127.0.0.1, a free port) or in-process, each request handed to `SegmentationService.handle`.
final class ServiceHarness {
    enum Transport { case sockets, inProcess }

    let directory: URL
    let service: SegmentationService
    let transport: Transport
    /// The bound port (sockets only).
    let port: Int

    init(_ transport: Transport = .sockets, configure: (inout ServiceConfiguration) -> Void = { _ in },
         resolve: @escaping @Sendable (String) -> [NetworkAddress] = NetworkAddress.resolve) throws {
        self.transport = transport
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("segserve-\(UUID().uuidString)")
        var configuration = ServiceConfiguration()
        configuration.server.port = 0
        configuration.model.path = tinyModelPath
        configuration.databasePath = directory.appendingPathComponent("jobs.sqlite").path
        configuration.openAPIPath = repositoryRoot.appendingPathComponent("openapi.yaml").path
        configuration.workers.threads = 1
        configuration.drainTimeout = 2
        configure(&configuration)
        var logger = Logger(label: "segserve-test")
        logger.logLevel = .critical
        service = try SegmentationService(configuration: configuration, model: try LDMSegModel(directory: configuration.model.path),
                                          store: try JobStore(path: configuration.databasePath), logger: logger,
                                          resolveCallbackHost: resolve)
        switch transport {
        case .sockets: port = try XCTUnwrap(service.start()).port
        case .inProcess: try service.startWork(); port = 0
        }
    }

    func stop() {
        let done = DispatchSemaphore(value: 0)
        let service = self.service
        Task {
            await service.shutdown()
            done.signal()
        }
        _ = done.wait(timeout: .now() + 20)
        try? FileManager.default.removeItem(at: directory)
    }

    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) throws -> TestClient.Response {
        guard transport == .inProcess else { return try httpRequest(port: port, method, path, headers: headers, body: body) }
        // What the wire adds: Host, as every HTTP/1.1 client sends it, and the framing header the
        // handler checks for a body.
        let host = headers.contains { $0.0.lowercased() == "host" } ? [] : [(name: "Host", value: "127.0.0.1")]
        let fields = host + headers.map { (name: $0.0, value: $0.1) } + (body.map { [(name: "Content-Length", value: "\($0.count)")] } ?? [])
        let request = HTTPRequest(method: HTTPMethod(rawValue: method), target: path, headers: HTTPHeaders(fields), body: body ?? [])
        let answered = DispatchSemaphore(value: 0)
        let response = Mutex<HTTPResponse?>(nil)
        let service = self.service
        Task {
            var answer = await service.handle(request)
            // A streamed body is read to its end, as a client would.
            if let stream = answer.stream { for await bytes in stream { answer.body += bytes } }
            let final = answer
            response.withLock { $0 = final }
            answered.signal()
        }
        guard answered.wait(timeout: .now() + 60) == .success, let answer = response.withLock({ $0 }) else {
            throw TestClient.ClientError.malformed("no answer to \(method) \(path) within 60 s")
        }
        return TestClient.Response(status: answer.status.code, headers: answer.headers, body: answer.body)
    }

    func json(_ response: TestClient.Response) throws -> [String: Any] { try jsonObject(response) }

    /// Submits and returns the job's JSON.
    func submit(_ path: String = "/v1/segmentations", body: (contentType: String, bytes: [UInt8]),
                headers: [(String, String)] = []) throws -> [String: Any] {
        let response = try request("POST", path, headers: [("Content-Type", body.contentType)] + headers, body: body.bytes)
        XCTAssertEqual(response.status, 202, response.text)
        return try json(response)
    }

    /// Waits (Prefer: wait, repeated) until the job has ended; returns its JSON.
    func finished(_ id: String, within seconds: Double = 60) throws -> [String: Any] {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while true {
            let job = try json(try request("GET", "/v1/jobs/\(id)", headers: [("Prefer", "wait=5")]))
            let state = job["state"] as? String
            if state != "queued" && state != "running" || Date() > deadline { return job }
        }
    }

    /// Polls until `condition` holds for the job's JSON or `seconds` pass.
    func waitFor(_ id: String, seconds: Double = 30, _ condition: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while true {
            let job = try json(try request("GET", "/v1/jobs/\(id)"))
            if condition(job) || Date() > deadline { return job }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }
}

/// One request on its own connection to 127.0.0.1:`port`.
func httpRequest(port: Int, _ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                 timeout: TimeInterval = 30) throws -> TestClient.Response {
    let client = try TestClient(port: port, timeout: timeout)
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    if let body { head += "Content-Length: \(body.count)\r\n" }
    try client.send(Array((head + "\r\n").utf8) + (body ?? []))
    return try client.readResponse(bodyless: method == "HEAD")
}

func jsonObject(_ response: TestClient.Response) throws -> [String: Any] {
    try XCTUnwrap(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any], response.text)
}
