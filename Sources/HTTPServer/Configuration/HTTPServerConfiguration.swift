import Foundation

/// Where the server listens and the limits and timeouts it enforces; every field has a documented default.
public struct HTTPServerConfiguration: Sendable {
    /// Size limits; exceeding one is answered with the status named on the field.
    public struct Limits: Sendable {
        /// Longest request line without CRLF (default 8 KiB) -> 414.
        public var maxRequestLineBytes: Int = 8 * 1024
        /// Largest header (or trailer) section, field lines with their CRLFs (default 32 KiB) -> 431.
        public var maxHeaderBytes: Int = 32 * 1024
        /// Most header (or trailer) fields in one request (default 100) -> 431.
        public var maxHeaderCount: Int = 100
        /// Largest request body, Content-Length or chunked total (default 16 MiB) -> 413.
        public var maxBodyBytes: Int = 16 * 1024 * 1024
        /// Bytes all bodies being received may claim together (default 256 MiB); a body that would
        /// pass it is answered 503 with Retry-After before its bytes are read.
        public var maxInflightBodyBytes: Int = 256 * 1024 * 1024
        /// Bytes per second a body must average once one body timeout has passed (default 1024;
        /// 0: none) -> 408, so a client dribbling bytes cannot hold a connection for long.
        public var minBodyRate: Int = 1024
        /// Seconds after which a request still arriving (head or body) counts as slow (default 2).
        public var slowRequestSeconds: Double = 2
        /// Share of `maxConnections` that slow requests may hold (default 0.5); a connection
        /// turning slow past it is answered 408, keeping the rest for clients that send promptly.
        public var maxSlowConnectionShare: Double = 0.5
        /// Most open client connections (default 1000); one more is answered 503 and closed.
        public var maxConnections: Int = 1000
        /// Most parsed requests queued behind the one being answered on one connection (default 16);
        /// past that the server stops reading from the connection until it catches up.
        public var maxPipelinedRequests: Int = 16

        public init() {}
    }

    /// Timeouts; each guards one phase of a connection.
    public struct Timeouts: Sendable {
        /// Time allowed from the first byte of a request (or from accept, or from the end of the
        /// previous response) until its head is complete (default 10 s); defeats slowloris -> 408.
        public var headerRead: Duration = .seconds(10)
        /// Longest silence while a body is arriving (default 30 s) -> 408.
        public var bodyRead: Duration = .seconds(30)
        /// How long a kept-alive connection may sit idle between requests (default 60 s); then it is closed.
        public var idle: Duration = .seconds(60)
        /// Longest wait for the client to accept response bytes (default 30 s); then it is closed.
        public var write: Duration = .seconds(30)

        public init() {}
    }

    /// Host name or numeric address to bind (default `127.0.0.1`; `0.0.0.0` or `::` for all interfaces).
    public var host: String = "127.0.0.1"
    /// TCP port (default 8080); 0 picks a free port, readable from `HTTPServer.localAddress`.
    public var port: Int = 8080
    /// Listen backlog (default 512).
    public var backlog: Int32 = 512
    /// Serial event loops that own connections (default: one per active CPU).
    public var eventLoopCount: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Threads that run handlers (default 8): a handler may block one (a synchronous database
    /// call) while the others go on.
    public var requestThreads: Int = 8
    /// Nice levels added to the threads that run the handler (default 0; Linux keeps nice
    /// values per thread). Raise it to keep requests from taking the CPU from work that runs on
    /// threads of its own. Event loops (and the immediate handler) keep the server's priority,
    /// bounded by `busyLoopShare` instead, so a cheap request is answered without waiting.
    public var requestThreadNice: Int = 0
    /// Share of a core each event loop may spend on its connections while the server's
    /// `contended` check holds (default 0: no limit); past it, reading waits for the next 20 ms.
    public var busyLoopShare: Double = 0
    public var limits = Limits()
    public var timeouts = Timeouts()

    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }
}
