import Foundation
import TestSupport
import XCTest

/// The real `segserve serve` process killed with SIGKILL while jobs are queued and running:
/// after a restart every acknowledged job completes.
final class RestartRecoveryTests: XCTestCase {
    /// A `segserve serve` child process on a free port.
    final class ServerProcess {
        let process = Process()
        let errors = Pipe()
        private(set) var port = 0

        init(directory: URL) throws {
            // Built beside the test bundle, in the products folder.
            let bundle = Bundle(for: RestartRecoveryTests.self).bundleURL
            let executable = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("segserve") }
                .first { FileManager.default.isExecutableFile(atPath: $0.path) }
            process.executableURL = try XCTUnwrap(executable, "no segserve executable next to \(bundle.path)")
            process.arguments = ["serve", "--port", "0"]
            process.currentDirectoryURL = directory
            process.environment = ProcessInfo.processInfo.environment.merging([
                "SEGSERVE_MODEL": tinyModelPath, "SEGSERVE_DATABASE": directory.appendingPathComponent("jobs.sqlite").path,
                "SEGSERVE_WORKERS_THREADS": "1", "SEGSERVE_LOG_LEVEL": "info",
            ]) { $1 }
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // The "listening" log line names the bound address.
            var text = ""
            let deadline = Date(timeIntervalSinceNow: 30)
            while port == 0 && Date() < deadline {
                let chunk = errors.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
                if let range = text.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                    port = Int(text[range].split(separator: ":").last!)!
                }
            }
            guard port != 0 else {
                process.terminate()
                throw TestClient.ClientError.malformed("segserve did not start: \(text)")
            }
        }

        func kill() {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func request(_ method: String, _ path: String, contentType: String? = nil, body: [UInt8]? = nil) throws -> [String: Any] {
            try jsonObject(try httpRequest(port: port, method, path, headers: contentType.map { [("Content-Type", $0)] } ?? [], body: body))
        }
    }

    func testEveryAcknowledgedJobCompletesAfterSIGKILL() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("segserve-restart-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let png = try pngBytes()

        let first = try ServerProcess(directory: directory)
        let long = try first.request("POST", "/v1/segmentations?steps=100&resolution=128", contentType: "image/png", body: png)
        let longID = try XCTUnwrap(long["id"] as? String)
        var queued: [String] = []
        for seed in 1...3 {
            queued.append(try XCTUnwrap(try first.request("POST", "/v1/segmentations?seed=\(seed)", contentType: "image/png", body: png)["id"] as? String))
        }
        var midRun = false
        let deadline = Date(timeIntervalSinceNow: 30)
        while !midRun && Date() < deadline {
            let job = try first.request("GET", "/v1/jobs/\(longID)")
            midRun = job["state"] as? String == "running" && ((job["progress"] as? [String: Int])?["step"] ?? 0) > 0
        }
        first.kill()
        XCTAssertTrue(midRun, "the process was killed while the first job was running")

        let second = try ServerProcess(directory: directory)
        defer { second.kill() }
        for id in [longID] + queued {
            var job: [String: Any] = [:]
            let until = Date(timeIntervalSinceNow: 120)
            repeat {
                job = try second.request("GET", "/v1/jobs/\(id)")
                if job["state"] as? String == "succeeded" { break }
                Thread.sleep(forTimeInterval: 0.05)
            } while Date() < until
            XCTAssertEqual(job["state"] as? String, "succeeded", "\(id): \(job)")
        }
        XCTAssertEqual(try second.request("GET", "/v1/jobs?state=succeeded")["jobs"].flatMap { ($0 as? [Any])?.count }, 4)
    }
}
