import Foundation
import NNRuntime

/// Everything `segserve serve` can be told, with the defaults it runs on. Loaded once from
/// `config/segserve.yaml` (keys as in `ServiceConfiguration.settings`) plus `SEGSERVE_*`
/// environment variables; see `ServiceConfiguration+Loading.swift`.
public struct ServiceConfiguration: Sendable, Equatable {
    public struct Server: Sendable, Equatable {
        /// Address to bind (default 127.0.0.1; 0.0.0.0 or :: for every interface).
        public var host = "127.0.0.1"
        /// TCP port (default 8080; 0 picks a free one).
        public var port = 8080
        /// Largest request body (default 32 MiB) -> 413.
        public var maxBodyBytes = 32 * 1024 * 1024
        /// Most open connections (default 1000); more are answered 503.
        public var maxConnections = 1000
        /// Seconds to receive a request head (default 10) -> 408.
        public var headerTimeout = 10.0
        /// Longest silence while a body arrives, in seconds (default 30) -> 408.
        public var bodyTimeout = 30.0
        /// Bytes per second a body must average once `body_timeout` has passed (default 1024; 0: none) -> 408.
        public var minBodyRate = 1024
        /// Bytes all bodies being received may claim together (default 256 MiB) -> 503 with Retry-After.
        public var maxInflightBodyBytes = 256 * 1024 * 1024
        /// Seconds after which a request still arriving (head or body) counts as slow (default 2).
        public var slowRequestSeconds = 2.0
        /// Share of `max_connections` slow requests may hold (default 0.5); a connection turning
        /// slow past it is answered 408, so prompt clients keep the rest.
        public var maxSlowConnectionShare = 0.5
        /// Seconds a kept-alive connection may idle (default 60).
        public var idleTimeout = 60.0
        /// Nice levels added to the threads that run handlers and decode uploads (default 19;
        /// 0-19), so a flood of requests cannot take the CPU from running jobs.
        public var requestThreadNice = 19
        /// Threads that run request handlers (default 8; 1-256): a handler waiting on the
        /// database holds one of them, never a thread of Swift's shared pool.
        public var requestThreads = 8
        /// Share of a core each event loop may spend reading, routing and answering while jobs
        /// run (default 0.1; 0 = no limit). Event loops run at full priority, so a status poll is
        /// answered at once; this bounds what a flood of polls takes from the jobs.
        public var busyLoopShare = 0.1
        /// Most `GET /v1/jobs/{id}/events` streams open at once (default 100); more get 503.
        public var maxEventStreams = 100
        /// Most of those one API key may hold (default 16; without keys there is no telling
        /// clients apart, so no such bound) and one job may have (default 4); more get 429.
        public var maxEventStreamsPerKey = 16
        public var maxEventStreamsPerJob = 4
        /// Longest silence on an event stream before a keep-alive comment, in seconds (default 15;
        /// below the 30 s write timeout, which closes streams that stop moving).
        public var eventHeartbeat = 15.0
        /// Host names (no port) requests may be addressed to, `*` for any. Empty (the default):
        /// loopback names when bound to a loopback address, any host otherwise.
        public var allowedHosts: [String] = []
    }

    public struct Model: Sendable, Equatable {
        /// Model directory (default: the embedded model, models/default).
        public var path = "models/default"
        /// Most pixels in an image or mask (default 40 M, e.g. 8000x5000) -> 413.
        public var maxPixels = 40_000_000
    }

    public struct Workers: Sendable, Equatable {
        /// Jobs run at once (default 1: on 2 cores one job using both cores finishes soonest).
        public var count = 1
        /// The runtime's threads (its loops and sgemms), shared by the workers (default 2).
        public var threads = 2
        /// Default precision of jobs that do not ask (default fp32; bf16 runs as fp32 on CPUs
        /// without AVX512-BF16).
        public var precision = Precision.fp32
        /// Most maps in one forward pass: a job's ensemble runs, and with a batch delay other
        /// jobs' steps (default 4; 1 runs them one after another, with less memory).
        public var maxBatch = RuntimeOptions().maxBatch
        /// Longest a job's DDIM step waits for other jobs' steps to share its UNet pass, up to
        /// `maxBatch` maps, in milliseconds (default 0: jobs never share passes).
        public var maxBatchDelayMilliseconds = 0
    }

    public struct Queue: Sendable, Equatable {
        /// Most queued jobs (default 64); a submission beyond is answered 429 with Retry-After.
        public var maxQueued = 64
        /// Longest `Prefer: wait=N` honoured, in seconds (default 60).
        public var maxWait = 60.0
        /// Starts of one job before a crash under it is final (default 3).
        public var maxAttempts = 3
        /// Seconds a worker's claim on a running job holds without renewal (default 30; renewed
        /// every third of it). A node that dies or stalls longer loses its jobs to the others.
        public var leaseTTL = 30.0
    }

    /// What one job may cost, checked when it is submitted and while it runs.
    public struct Limits: Sendable, Equatable {
        public init() {}

        /// Largest `resolution` option (default 1024) -> 400.
        public var maxResolution = 1024
        /// Largest DDIM steps x ensemble runs x (resolution / 8)^2 (default 2,097,152, about 25
        /// default segmentations) -> 400.
        public var maxJobCost = 2_097_152
        /// Seconds a job may run before it fails with `/problems/job-timeout` (default 600).
        public var jobTimeout = 600.0
    }

    /// Job callbacks: a job's `callback_url` gets its JSON once it ends. Off until hosts are listed,
    /// so the service cannot be used to send requests anywhere.
    public struct Callbacks: Sendable, Equatable {
        public init() {}

        /// Host names (no port) a `callback_url` may name (default none: callbacks off -> 400).
        public var allowedHosts: [String] = []
        /// Address ranges a callback may reach although they are not public (loopback, private,
        /// link-local, ...): by default none, so a callback reaches only public addresses.
        package var allowedNetworks: [Network] = []
        /// HMAC-SHA256 key of `X-Segserve-Signature`; needed once hosts are listed.
        public var secret: String?
        /// Deliveries tried before giving up (default 6).
        public var maxAttempts = 6
        /// Seconds before the first retry, doubling for each one after (default 1; at most 300).
        public var retryBase = 1.0
        /// Seconds a receiver has to answer (default 10).
        public var timeout = 10.0
        /// PEM certificates that https receivers may chain to besides the system's trust roots
        /// (a private CA); nil: the system's only.
        public var caFile: String?

        /// Whether a `callback_url` may name `host` (names compare case-insensitively).
        package func allows(host: String) -> Bool { allowedHosts.contains { $0.lowercased() == host.lowercased() } }

        /// Whether a callback may connect to `address`: a public one, or one in `allowedNetworks`.
        package func allows(address: NetworkAddress) -> Bool { address.isPublic || allowedNetworks.contains { $0.contains(address) } }

        /// The address a delivery to `url` connects to, decided on what the host resolves to now
        /// (every address must be allowed, so a name cannot mix a public answer with a private
        /// one), or why there is none. Checked at submission and again before every attempt.
        package func address(for url: CallbackURL, resolve: (String) -> [NetworkAddress] = NetworkAddress.resolve) -> Result<NetworkAddress, CallbackURL.Invalid> {
            let addresses: [NetworkAddress]
            switch url.host {
            case .address(let address): addresses = [address]
            case .name(let name): addresses = resolve(name)
            }
            guard let first = addresses.first else { return .failure(.init(reason: "has host '\(url.hostText)', which does not resolve")) }
            if let refused = addresses.first(where: { !allows(address: $0) }) {
                return .failure(.init(reason: "reaches \(refused), which is not a public address; list its range in callbacks.allowed_networks to allow it"))
            }
            return .success(first)
        }
    }

    public struct Retention: Sendable, Equatable {
        /// Seconds finished jobs and their results are kept (default 86400, a day).
        public var ttl = 86_400.0
        /// Seconds between clean-ups (default 300).
        public var cleanupInterval = 300.0
    }

    public var callbacks = Callbacks()
    public var server = Server()
    public var model = Model()
    public var workers = Workers()
    public var queue = Queue()
    public var limits = Limits()
    public var retention = Retention()
    /// SQLite database (default var/segserve.sqlite; created with its folder), when `databaseURL` is unset.
    public var databasePath = "var/segserve.sqlite"
    /// `sqlite:///path` or `postgres://user[:password]@host[:port]/db`; wins over `databasePath`.
    /// PostgreSQL lets many nodes share one queue.
    public var databaseURL: String?
    /// What this process does: `all` (the default), `api` (answers requests, runs no jobs) or
    /// `worker` (runs jobs; serves only health, readiness and metrics).
    public var role = Role.all

    public enum Role: String, Sendable, CaseIterable {
        case all, api, worker
        public var runsJobs: Bool { self != .api }
        public var servesAPI: Bool { self != .worker }
    }

    /// The job store's URL: `databaseURL`, else the SQLite file.
    public var storeURL: String { databaseURL ?? databasePath }
    /// The OpenAPI document served at /openapi.yaml (default openapi.yaml).
    public var openAPIPath = "openapi.yaml"
    /// The folder of the browser page served at / (default web).
    public var webRoot = "web"
    /// YAML list of API keys (name, sha256, admin, max_active, jobs_per_minute); unset: no keys,
    /// and every caller sees every job.
    public var authKeysFile: String?
    /// COCO panoptic categories JSON for the optional `semantic` part; unset: the request carries none.
    public var categoriesPath: String?
    /// Seconds a SIGTERM waits for running jobs before re-queueing them (default 30).
    public var drainTimeout = 30.0
    /// trace, debug, info, notice, warning, error or critical (default info).
    public var logLevel = "info"

    public init() {}
}
