import Foundation

/// Why the server could not start listening.
public enum HTTPServerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `host` did not resolve to an address to bind.
    case addressResolution(host: String, port: Int, reason: String)
    /// A socket call failed; `errno` is the system error number.
    case socketCall(operation: String, host: String, port: Int, errno: Int32)
    /// `start()` was called on a server that is running or stopped.
    case alreadyStarted

    public var description: String {
        switch self {
        case .addressResolution(let host, let port, let reason):
            "cannot resolve \(host):\(port): \(reason)"
        case .socketCall(let operation, let host, let port, let code):
            "\(operation) failed for \(host):\(port): \(String(cString: strerror(code))) (errno \(code))"
        case .alreadyStarted:
            "the server was already started"
        }
    }
}
