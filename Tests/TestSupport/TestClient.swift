import Foundation
import XCTest
import HTTPServer

/// A blocking TCP client for live tests; every read and write gives up after `timeout`, so a
/// misbehaving server fails a test instead of hanging it.
public final class TestClient {
    public struct Response {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }

        public init(status: Int, headers: HTTPHeaders, body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    public enum ClientError: Error, CustomStringConvertible {
        case connect(errno: Int32)
        case io(operation: String, errno: Int32)
        case closedByPeer(received: Int)
        case malformed(String)

        public var description: String {
            switch self {
            case .connect(let code): "connect failed: errno \(code)"
            case .io(let operation, let code): "\(operation) failed: errno \(code)"
            case .closedByPeer(let received): "connection closed by the server after \(received) buffered bytes"
            case .malformed(let text): "malformed response: \(text)"
            }
        }
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    public init(port: Int, host: String = "127.0.0.1", timeout: TimeInterval = 5) throws {
        let isIPv6 = host.contains(":")
        fd = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var time = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - floor(timeout)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        let status: Int32
        if isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = UInt16(port).bigEndian
            inet_pton(AF_INET6, host, &address.sin6_addr)
            status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            inet_pton(AF_INET, host, &address.sin_addr)
            status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard status == 0 else {
            let code = errno
            Glibc.close(fd)
            throw ClientError.connect(errno: code)
        }
    }

    deinit { close() }

    /// Closes the socket (idempotent), as a client does when it is done.
    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw ClientError.io(operation: "send", errno: errno) }
            offset += count
        }
    }

    /// Bytes sent by `sendInBackground`; `sent` is written before `done` is signalled.
    public final class BackgroundSend: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        public var sent = 0

        /// Waits for the sender to finish and returns how many bytes it sent, nil on timeout.
        public func wait(seconds: Double = 5) -> Int? {
            done.wait(timeout: .now() + seconds) == .success ? sent : nil
        }
    }

    /// Sends `bytes` from another thread, so the test can read while the server still receives;
    /// sending stops early if the server stops accepting bytes (reset or closed).
    public func sendInBackground(_ bytes: [UInt8]) -> BackgroundSend {
        let result = BackgroundSend()
        let fd = self.fd
        DispatchQueue.global().async {
            while result.sent < bytes.count {
                let count = bytes[result.sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard count > 0 else { break }
                result.sent += count
            }
            result.done.signal()
        }
        return result
    }

    /// Reads one response; `bodyless` for answers to HEAD. A chunked body is read to its last
    /// chunk unless `headOnly`, which leaves the body to `readChunk` or `readToEnd`.
    public func readResponse(bodyless: Bool = false, headOnly: Bool = false) throws -> Response {
        let headEnd = try fill { buffer in
            buffer.indices.dropLast(3).first { buffer[$0..<($0 + 4)] == [13, 10, 13, 10] }.map { $0 + 4 }
        }
        let head = String(decoding: buffer[..<headEnd], as: UTF8.self)
        buffer.removeFirst(headEnd)
        var lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw ClientError.malformed(head)
        }
        var headers = HTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw ClientError.malformed(line) }
            headers.add(name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        if headOnly { return Response(status: status, headers: headers, body: []) }
        if !bodyless, headers["Transfer-Encoding"]?.lowercased() == "chunked" {
            var body: [UInt8] = []
            while case let chunk = try readChunk(), !chunk.isEmpty { body += chunk }
            return Response(status: status, headers: headers, body: body)
        }
        let length = bodyless || (100..<200).contains(status) ? 0 : Int(headers["Content-Length"] ?? "0") ?? 0
        _ = try fill { $0.count >= length ? length : nil }
        let body = Array(buffer[..<length])
        buffer.removeFirst(length)
        return Response(status: status, headers: headers, body: body)
    }

    /// Reads the next chunk of a chunked body; empty for the last chunk (no trailers expected).
    public func readChunk() throws -> [UInt8] {
        let lineEnd = try fill { b in b.indices.dropLast().first { b[$0] == 13 && b[$0 + 1] == 10 } }
        let line = String(decoding: buffer[..<lineEnd], as: UTF8.self)
        guard let size = Int(line.split(separator: ";").first.map(String.init) ?? "", radix: 16) else {
            throw ClientError.malformed("chunk size line \(line)")
        }
        buffer.removeFirst(lineEnd + 2)
        _ = try fill { $0.count >= size + 2 ? true : nil }
        let data = Array(buffer[..<size])
        buffer.removeFirst(size + 2)
        return data
    }

    /// Reads until the server closes the connection (a close-delimited body).
    public func readToEnd() throws -> [UInt8] {
        while true {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            if count < 0 { throw ClientError.io(operation: "recv", errno: errno) }
            buffer += chunk[..<count]
        }
        defer { buffer.removeAll() }
        return buffer
    }

    /// True when the server closed the connection (EOF or reset) before `timeout`, with no further bytes.
    public func isClosedByServer() -> Bool {
        guard buffer.isEmpty else { return false }
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, 0)
        return count == 0 || (count < 0 && errno == ECONNRESET)
    }

    /// Half-closes the sending side, as a client does after its last request.
    public func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads until `complete` finds what it needs in the buffer, returning its result.
    private func fill<T>(until complete: ([UInt8]) -> T?) throws -> T {
        while true {
            if let result = complete(buffer) { return result }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { throw ClientError.closedByPeer(received: buffer.count) }
            guard count > 0 else { throw ClientError.io(operation: "recv", errno: errno) }
            buffer += chunk[..<count]
        }
    }
}
