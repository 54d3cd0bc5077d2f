import Foundation
import HTTPServer
import JobStore
import LDMSeg
import Logging
import NNRuntime
import ServiceCore
import Synchronization

/// The API of openapi.yaml: checks, routes and answers requests over the job store. It runs no
/// jobs; what it needs to know of the workers comes in as `WorkerGauge`.
package final class ServiceAPI: Sendable {
    /// What the API shows of the workers: for `/metrics`, and Retry-After when the queue is full.
    package struct WorkerGauge: Sendable {
        package var count: @Sendable () -> Int
        package var busy: @Sendable () -> Int
        /// Seconds until a full queue likely has room for one more job.
        package var secondsUntilAPlaceFrees: @Sendable () -> Int

        package init(count: @escaping @Sendable () -> Int, busy: @escaping @Sendable () -> Int,
                     secondsUntilAPlaceFrees: @escaping @Sendable () -> Int) {
            self.count = count
            self.busy = busy
            self.secondsUntilAPlaceFrees = secondsUntilAPlaceFrees
        }
    }

    let configuration: ServiceConfiguration
    let model: LDMSegModel
    let store: JobStore
    let logger: Logger
    let metrics: ServiceMetrics
    let workers: WorkerGauge
    package let waiters = JobWaiters()
    /// Encoded representations of jobs that are not queued, for status polls.
    package let views = JobViewCache()
    let submissions: SubmissionDecoder
    let decodeQueue: DecodeQueue
    /// Where handlers and event streams run: threads of their own, lowered once.
    package let executor: RequestExecutor
    let requestGuard: RequestGuard
    let apiKeys: APIKeys
    let rateLimiter = RateLimiter()
    let eventStreams: StreamSlots
    let openAPI: [UInt8]?
    /// `openAPI`'s entity tag, computed once.
    let openAPITag: String
    let web: WebAssets
    private let draining = Atomic<Bool>(false)

    /// `resolveCallbackHost` looks up callback hosts (DNS unless a test stands in for it).
    package init(configuration: ServiceConfiguration, model: LDMSegModel, store: JobStore, metrics: ServiceMetrics,
                 workers: WorkerGauge, logger: Logger,
                 resolveCallbackHost: @escaping @Sendable (String) -> [NetworkAddress] = NetworkAddress.resolve) throws {
        self.configuration = configuration
        self.model = model
        self.store = store
        self.metrics = metrics
        self.workers = workers
        self.logger = logger
        decodeQueue = DecodeQueue(nice: configuration.server.requestThreadNice)
        executor = RequestExecutor(threads: configuration.server.requestThreads, nice: configuration.server.requestThreadNice,
                                   name: "segserve-request")
        eventStreams = StreamSlots(limits: .init(total: configuration.server.maxEventStreams,
                                                 perKey: configuration.server.maxEventStreamsPerKey,
                                                 perJob: configuration.server.maxEventStreamsPerJob))
        requestGuard = RequestGuard(configured: configuration.server.allowedHosts, boundHost: configuration.server.host)
        apiKeys = try configuration.authKeysFile.map(APIKeys.load) ?? APIKeys([])
        openAPI = FileManager.default.contents(atPath: configuration.openAPIPath).map { [UInt8]($0) }
        openAPITag = entityTag(of: openAPI ?? [])
        if openAPI == nil { logger.warning("no OpenAPI document at \(configuration.openAPIPath); /openapi.yaml answers 404") }
        web = WebAssets(folder: configuration.webRoot)
        if web.isEmpty { logger.warning("no web page in \(configuration.webRoot); / answers 404") }
        var defaults = model.defaultOptions
        defaults.precision = configuration.workers.precision
        submissions = SubmissionDecoder(defaults: defaults, trainSteps: model.scheduler.trainSteps, maxPixels: configuration.model.maxPixels,
                                        slotCapacity: model.maskAutoencoder.slots - 1, acceptsSemantic: configuration.categoriesPath != nil,
                                        limits: configuration.limits, callbacks: configuration.callbacks, resolve: resolveCallbackHost)
    }

    /// Readiness fails and submissions get 503 from now on.
    package func beginDraining() {
        draining.store(true, ordering: .sequentiallyConsistent)
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Headers on every response: no content sniffing, and a policy that lets pages of this
    /// server load only from this server (and be framed by none).
    static let securityHeaders: HTTPHeaders = [
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        "Referrer-Policy": "no-referrer",
    ]

    /// Checks, routes and answers a request, and records its metrics.
    package func handle(_ request: HTTPRequest) async -> HTTPResponse {
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
    package func handleImmediately(_ request: HTTPRequest) -> HTTPResponse? {
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
                                      workers: workers.count(), busyWorkers: workers.busy())
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
            var limits: [String: OptionRange]
            enum CodingKeys: String, CodingKey { case name, imageEncoder = "image_encoder", defaults, limits }
        }
        let name = model.config.name
        return APIJSON.response(["models": [Model(name: name, imageEncoder: model.config.imageEncoder.type,
                                                  defaults: JobOptions(submissions.defaults, kind: .segmentation),
                                                  limits: OptionRange.all(trainSteps: submissions.trainSteps,
                                                                          maxResolution: configuration.limits.maxResolution))]])
    }
}
