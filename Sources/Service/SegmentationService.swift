import Pipeline
import Foundation
import HTTPServer
import JobStore
import LDMSeg
import Logging
import NNRuntime
import Synchronization

/// The segmentation service: the API of openapi.yaml over the HTTP server, jobs in the store,
/// a worker pool running the model, and metrics. `start()`, later `shutdown()`.
public final class SegmentationService: Sendable {
    public let configuration: ServiceConfiguration
    let model: LDMSegModel
    let store: JobStore
    let logger: Logger
    let metrics = ServiceMetrics()
    let events = JobEvents()
    /// Encoded representations of jobs that are not queued, for status polls.
    let views = JobViewCache()
    let workers: WorkerPool
    /// The runtime's threads, apart from the request threads.
    let compute: ComputePool
    let submissions: SubmissionDecoder
    let decodeQueue: DecodeQueue
    let requestGuard: RequestGuard
    let apiKeys: APIKeys
    let rateLimiter = RateLimiter()
    let eventStreams: StreamSlots
    let callbacks: CallbackDispatcher
    let openAPI: [UInt8]?
    /// `openAPI`'s entity tag, computed once.
    let openAPITag: String
    let web: WebAssets
    private let server = Mutex<HTTPServer?>(nil)
    private let draining = Atomic<Bool>(false)
    private let stopping = Mutex<Task<Void, Never>?>(nil)
    private let cleanup = Mutex<Task<Void, Never>?>(nil)
    private let sweeper = Mutex<Task<Void, Never>?>(nil)

    /// Everything is loaded; nothing listens or runs until `start()`.
    /// `resolveCallbackHost` looks up callback hosts (DNS unless a test stands in for it).
    public init(configuration: ServiceConfiguration, model: LDMSegModel, store: JobStore, logger: Logger,
                resolveCallbackHost: @escaping @Sendable (String) -> [NetworkAddress] = NetworkAddress.resolve) throws {
        self.configuration = configuration
        self.model = model
        self.store = store
        self.logger = logger
        var categories: [PanopticCategory]?
        if let path = configuration.categoriesPath {
            do { categories = try JSONDecoder().decode([PanopticCategory].self, from: Data(contentsOf: URL(fileURLWithPath: path))) } catch {
                throw ConfigurationError("categories_path \(path): \(error)")
            }
        }
        decodeQueue = DecodeQueue(nice: configuration.server.requestThreadNice)
        eventStreams = StreamSlots(limits: .init(total: configuration.server.maxEventStreams,
                                                 perKey: configuration.server.maxEventStreamsPerKey,
                                                 perJob: configuration.server.maxEventStreamsPerJob))
        if !configuration.callbacks.allowedHosts.isEmpty && (configuration.callbacks.secret ?? "").isEmpty {
            throw ConfigurationError("callbacks.secret is needed once callbacks.allowed_hosts lists hosts: receivers check the signature")
        }
        callbacks = try CallbackDispatcher(store: store, settings: configuration.callbacks, logger: logger, resolve: resolveCallbackHost)
        requestGuard = RequestGuard(configured: configuration.server.allowedHosts, boundHost: configuration.server.host)
        apiKeys = try configuration.authKeysFile.map(APIKeys.load) ?? APIKeys([])
        openAPI = FileManager.default.contents(atPath: configuration.openAPIPath).map { [UInt8]($0) }
        openAPITag = entityTag(of: openAPI ?? [])
        if openAPI == nil { logger.warning("no OpenAPI document at \(configuration.openAPIPath); /openapi.yaml answers 404") }
        web = WebAssets(folder: configuration.webRoot)
        if web.isEmpty { logger.warning("no web page in \(configuration.webRoot); / answers 404") }
        var defaults = model.defaultOptions
        defaults.precision = configuration.workers.precision
        if defaults.precision == .bf16 && !RuntimeOptions.bf16Supported {
            logger.warning("workers.precision is bf16 but this CPU has no AVX512-BF16; jobs run in fp32")
        }
        submissions = SubmissionDecoder(defaults: defaults, trainSteps: model.scheduler.trainSteps, maxPixels: configuration.model.maxPixels,
                                        slotCapacity: model.maskAutoencoder.slots - 1, acceptsSemantic: categories != nil,
                                        limits: configuration.limits, callbacks: configuration.callbacks, resolve: resolveCallbackHost)
        compute = ComputePool(threads: configuration.workers.threads, name: "segserve-compute")
        workers = WorkerPool(count: configuration.role.runsJobs ? configuration.workers.count : 0, model: model, runtime: RuntimeOptions(pool: compute, maxBatch: configuration.workers.maxBatch), store: store,
                             runner: JobRunner(pipeline: SegmentationPipeline(maxPixels: configuration.model.maxPixels, categories: categories)),
                             batchDelay: .milliseconds(configuration.workers.maxBatchDelayMilliseconds),
                             jobTimeout: .milliseconds(Int64(configuration.limits.jobTimeout * 1000)),
                             leaseTTL: .milliseconds(Int64(configuration.queue.leaseTTL * 1000)), node: Self.nodeName(),
                             events: events, metrics: metrics, logger: logger)
    }

    /// Claims the store, binds the HTTP server, then re-queues jobs a previous process left
    /// running and starts the workers and the retention clean-up; returns the bound address.
    /// A second process on the same SQLite file, or a port already taken, stops the start
    /// before any job is touched.
    @discardableResult
    public func start() throws -> SocketAddress? {
        try store.claimExclusiveUse()
        let http = HTTPServer(configuration: configuration.httpServer, immediate: { [self] in handleImmediately($0) },
                              contended: { [workers] in workers.busyCount > 0 }) { [self] request in
            await handle(request)
        }
        try http.start()
        server.withLock { $0 = http }
        try startWork()
        logger.notice("listening", metadata: ["address": "\(http.localAddress.map { "\($0)" } ?? "?")", "model": "\(model.directory)"])
        return http.localAddress
    }

    /// Drains: readiness fails and submissions get 503, running jobs get `drain_timeout` to
    /// finish (then go back to the queue), requests waiting on a job are answered with its
    /// state, the HTTP server closes, the database is closed. A second call while draining
    /// sends running jobs back to the queue at once (no attempt spent); every call returns when
    /// the service has stopped.
    public func shutdown() async {
        let (task, again) = stopping.withLock { current -> (Task<Void, Never>, Bool) in
            if let current { return (current, true) }
            draining.store(true, ordering: .sequentiallyConsistent)
            let task = Task { await drainAndClose() }
            current = task
            return (task, false)
        }
        if again {
            logger.notice("stopping now: running jobs go back to the queue")
            workers.interruptNow()
        }
        await task.value
    }

    private func drainAndClose() async {
        logger.notice("draining")
        await workers.drain(timeout: .milliseconds(Int64(configuration.drainTimeout * 1000)))
        events.releaseAll()
        cleanup.withLock { $0?.cancel() }
        sweeper.withLock { $0?.cancel() }
        await callbacks.stop()
        compute.shutdown()
        if let http = server.withLock({ $0 }) { await http.shutdown(gracePeriod: .seconds(5)) }
        do { try store.close() } catch { logger.error("closing the database: \(error)") }
        logger.notice("stopped")
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Everything `start()` does but listen: recovery, workers, retention. Requests then go to
    /// `handle(_:)` directly (the in-process tests do).
    func startWork() throws {
        try store.claimExclusiveUse()
        // A store of this process's own holds no job another process runs; a shared one does,
        // and its sweeper requeues those whose lease lapsed instead.
        if !store.isShared {
            let recovered = try store.recoverInterrupted(maxAttempts: configuration.queue.maxAttempts)
            if recovered.requeued + recovered.failed > 0 {
                logger.notice("recovered jobs left running", metadata: ["requeued": "\(recovered.requeued)", "failed": "\(recovered.failed)"])
            }
        }
        observeJobChanges()
        workers.start()
        startCleanup()
        startSweeper()
        callbacks.start(representation: { [weak self] job in (try? self?.representation(job)).map(APIJSON.encode) })
    }

    /// The one place job changes fan out, on every backend and whoever made them: cached views
    /// are dropped, watchers and event streams hear of them, idle workers wake for queued jobs,
    /// and this node's own submissions and ends are counted.
    private func observeJobChanges() {
        store.observeChanges({ [views, events, workers, metrics] change in
            views.invalidate(change.id)
            if change.isLocal { metrics.record(change) }
            switch change.kind {
            case .submitted, .requeued:
                events.progressed(change.id)
                workers.wake()
            case .updated:
                events.progressed(change.id)
            case .cancelRequested:
                events.requestCancel(change.id)
            case .ended:
                events.finished(change.id)
            case .deleted:
                break
            }
        }, resynced: { [views, workers] in
            views.invalidateAll()
            workers.wake()
        })
    }

    /// Deletes finished jobs older than the retention TTL, now and every `cleanup_interval`.
    private func startCleanup() {
        let (ttl, interval) = (configuration.retention.ttl, max(1, configuration.retention.cleanupInterval))
        let task = Task { [store, logger] in
            while !Task.isCancelled {
                do {
                    let removed = try store.deleteFinished(before: Date(timeIntervalSinceNow: -ttl))
                    if removed > 0 {
                        logger.info("retention: deleted finished jobs", metadata: ["count": "\(removed)"])
                    }
                } catch { logger.error("retention clean-up failed: \(error)") }
                try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
            }
        }
        cleanup.withLock { $0 = task }
    }

    /// Requeues running jobs whose lease lapsed (their node died or stalled), every half TTL.
    private func startSweeper() {
        let (maxAttempts, interval) = (configuration.queue.maxAttempts, max(0.05, configuration.queue.leaseTTL / 2))
        let task = Task { [store, logger] in
            while !Task.isCancelled {
                do {
                    let swept = try store.requeueExpiredLeases(maxAttempts: maxAttempts)
                    if swept.requeued + swept.failed > 0 {
                        logger.notice("requeued jobs whose lease lapsed", metadata: ["requeued": "\(swept.requeued)", "failed": "\(swept.failed)"])
                    }
                } catch { logger.error("lease sweep failed: \(error)") }
                try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
            }
        }
        sweeper.withLock { $0 = task }
    }

    /// A name for this process in claims: host and process id.
    static func nodeName() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    // MARK: - Requests

    /// Headers on every response: no content sniffing, and a policy that lets pages of this
    /// server load only from this server (and be framed by none).
    static let securityHeaders: HTTPHeaders = [
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        "Referrer-Policy": "no-referrer",
    ]

    /// Checks, routes and answers a request, and records its metrics.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let clock = ContinuousClock()
        let start = clock.now
        var template = "unmatched"
        var response: HTTPResponse
        do {
            try requestGuard.check(request)
            let (route, matched) = try Route.match(method: request.method, path: request.path).get()
            template = matched
            if !configuration.role.servesAPI && !route.isOperational {
                throw APIError.notFound("this node runs jobs only (role: worker); send requests to an API node")
            }
            response = try await respond(to: route, request, as: try caller(of: request, for: route))
        } catch let error as APIError {
            response = error.response
        } catch {
            // The error's text stays in the log; the client gets a reference to find it.
            let reference = UUID().uuidString.lowercased()
            logger.error("unexpected error", metadata: ["path": "\(request.path)", "error": "\(error)", "reference": "\(reference)"])
            response = APIError.internal("an internal error occurred; reference \(reference)").response
        }
        return finish(response, to: request, route: template, since: start)
    }

    /// `handle` for the requests it can answer from memory at once (health, readiness, a job's
    /// view held by `views`), on the event loop; nil for every other request, and for any
    /// that would be an error, which `handle` then answers.
    public func handleImmediately(_ request: HTTPRequest) -> HTTPResponse? {
        let start = ContinuousClock.now
        guard case .success(let (route, template)) = Route.match(method: request.method, path: request.path),
              (try? requestGuard.check(request)) != nil else { return nil }
        let response: HTTPResponse
        switch route {
        case .health:
            response = APIJSON.response(["status": "ok"])
        case .getJob(let id):
            guard configuration.role.servesAPI, let view = cachedView(of: id, wait: waitSeconds(request)), let caller = try? caller(of: request, for: route), caller.mayAccess(view.owner) else {
                return nil
            }
            response = APIJSON.response(encoded: view.body)
        default:
            return nil
        }
        return finish(response, to: request, route: template, since: start)
    }

    /// Answers a revalidation with 304, adds the security headers and records the request's metrics.
    private func finish(_ response: HTTPResponse, to request: HTTPRequest, route template: String,
                        since start: ContinuousClock.Instant) -> HTTPResponse {
        var response = response.evaluatingConditions(of: request)
        for (name, value) in Self.securityHeaders where response.headers[name] == nil { response.headers[name] = value }
        metrics.request(method: request.method.rawValue, route: template, status: response.status.code, duration: .now - start)
        logger.debug("\(request.method) \(request.target) \(response.status.code)")
        return response
    }

    /// With API keys configured, job and model routes need `Authorization: Bearer <key>`;
    /// health, readiness, metrics, the contract and the page's files stay open (the page asks
    /// its user for a key).
    private func caller(of request: HTTPRequest, for route: Route) throws -> Caller {
        guard !apiKeys.isEmpty else { return Caller(key: nil) }
        switch route {
        case .health, .ready, .metrics, .openAPI, .page: return Caller(key: nil)
        default: break
        }
        let challenge: HTTPHeaders = ["WWW-Authenticate": "Bearer realm=\"segserve\""]
        guard let value = request.headers["Authorization"], value.lowercased().hasPrefix("bearer ") else {
            throw APIError(status: .unauthorized, slug: "unauthorized", detail: "this server needs an API key: Authorization: Bearer <key>",
                           headers: challenge)
        }
        guard let key = apiKeys.key(for: String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces)) else {
            throw APIError(status: .unauthorized, slug: "unauthorized", detail: "the API key is not known here", headers: challenge)
        }
        return Caller(key: key)
    }

    private func respond(to route: Route, _ request: HTTPRequest, as caller: Caller) async throws -> HTTPResponse {
        switch route {
        case .createSegmentation: return try await submit(request, kind: .segmentation, as: caller)
        case .createInpainting: return try await submit(request, kind: .inpainting, as: caller)
        case .listJobs: return try listJobs(request, as: caller)
        case .getJob(let id): return try await getJob(id, wait: waitSeconds(request), as: caller)
        case .jobEvents(let id): return try jobEvents(id, request, as: caller)
        case .cancelJob(let id): return try await cancelJob(id, as: caller)
        case .result(let id, let file): return try result(id, file, as: caller)
        case .listModels: return listModels()
        case .health: return APIJSON.response(["status": "ok"])
        case .ready:
            if isDraining { throw APIError.unavailable("the service is shutting down") }
            do { try store.ping() } catch { throw APIError.unavailable("the job store does not answer: \(error)") }
            return APIJSON.response(["status": "ready"])
        case .metrics:
            let body = metrics.render(counts: try store.counts(), databaseBytes: store.sizeOnDisk(),
                                      workers: workers.workerCount, busyWorkers: workers.busyCount)
            return HTTPResponse(headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"], body: body)
        case .openAPI:
            guard let openAPI else { throw APIError.notFound("this server has no OpenAPI document") }
            return HTTPResponse(headers: ["Content-Type": "application/yaml", "Cache-Control": "no-cache", "ETag": openAPITag],
                                body: openAPI)
        case .page(let file):
            guard let page = web.response(file) else { throw APIError.notFound("no page file \(file)") }
            return page
        }
    }

    private func listModels() -> HTTPResponse {
        struct Model: Encodable {
            var name: String
            var imageEncoder: String
            var defaults: JobOptions
            enum CodingKeys: String, CodingKey { case name, imageEncoder = "image_encoder", defaults }
        }
        let name = model.config.name
        return APIJSON.response(["models": [Model(name: name, imageEncoder: model.config.imageEncoder.type,
                                                  defaults: JobOptions(submissions.defaults, kind: .segmentation))]])
    }
}
