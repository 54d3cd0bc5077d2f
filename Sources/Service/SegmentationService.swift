import API
import Foundation
import HTTPServer
import JobStore
import LDMSeg
import Logging
import NNRuntime
import Pipeline
import ServiceCore
import ServiceLifecycle
import Synchronization
import Worker

/// The service `segserve serve` runs: the API over the HTTP server, the workers running the
/// model, the store's upkeep and callback deliveries, all on one store whose committed changes
/// fan out in one place (`observeJobChanges`). `start()`, later `shutdown()`.
public final class SegmentationService: ServiceLifecycle.Service, Sendable {
    public let configuration: ServiceConfiguration
    let model: LDMSegModel
    let store: JobStore
    let logger: Logger
    let metrics = ServiceMetrics()
    let api: ServiceAPI
    let workers: WorkerPool
    /// The runtime's threads, apart from the request threads.
    let compute: ComputePool
    let callbacks: CallbackDispatcher
    let maintenance: StoreMaintenance
    private let server = Mutex<HTTPServer?>(nil)
    private let stopping = Mutex<Task<Void, Never>?>(nil)

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
        if !configuration.callbacks.allowedHosts.isEmpty && (configuration.callbacks.secret ?? "").isEmpty {
            throw ConfigurationError("callbacks.secret is needed once callbacks.allowed_hosts lists hosts: receivers check the signature")
        }
        let asked = configuration.workers.precision
        let runs = RuntimeOptions(precision: asked).effectivePrecision
        if runs != asked {
            logger.warning("workers.precision is \(asked.rawValue) but this CPU lacks its instructions; jobs run in \(runs.rawValue)")
        }
        callbacks = try CallbackDispatcher(store: store, settings: configuration.callbacks, logger: logger, resolve: resolveCallbackHost)
        compute = ComputePool(threads: configuration.workers.threads, name: "segserve-compute")
        let settings = WorkerPool.Settings(count: configuration.role.runsJobs ? configuration.workers.count : 0,
                                           batchDelay: .milliseconds(configuration.workers.maxBatchDelayMilliseconds),
                                           jobTimeout: .milliseconds(Int64(configuration.limits.jobTimeout * 1000)),
                                           leaseTTL: .milliseconds(Int64(configuration.queue.leaseTTL * 1000)), node: Self.nodeName())
        let workers = WorkerPool(settings, model: model, runtime: RuntimeOptions(pool: compute, maxBatch: configuration.workers.maxBatch), store: store,
                                 runner: JobRunner(pipeline: SegmentationPipeline(maxPixels: configuration.model.maxPixels, categories: categories)),
                                 metrics: metrics, logger: logger)
        self.workers = workers
        api = try ServiceAPI(configuration: configuration, model: model, store: store, metrics: metrics,
                             workers: .init(count: { workers.workerCount }, busy: { workers.busyCount },
                                            secondsUntilAPlaceFrees: { workers.secondsUntilAPlaceFrees() }),
                             logger: logger, resolveCallbackHost: resolveCallbackHost)
        maintenance = StoreMaintenance(store: store, logger: logger)
    }

    /// Claims the store, binds the HTTP server, then re-queues jobs a previous process left
    /// running and starts the workers and the store's upkeep; returns the bound address.
    /// A second process on the same SQLite file, or a port already taken, stops the start
    /// before any job is touched.
    @discardableResult
    public func start() throws -> SocketAddress? {
        try store.claimExclusiveUse()
        let http = HTTPServer(configuration: configuration.httpServer, executor: api.executor, immediate: { [api] in api.handleImmediately($0) },
                              contended: { [workers] in workers.busyCount > 0 }) { [api] request in
            await api.handle(request)
        }
        try http.start()
        server.withLock { $0 = http }
        try startWork()
        logger.notice("listening", metadata: ["address": "\(http.localAddress.map { "\($0)" } ?? "?")", "model": "\(model.directory)"])
        return http.localAddress
    }

    /// Checks, routes and answers a request (the in-process tests call it directly).
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        await api.handle(request)
    }

    /// Runs under a `ServiceGroup`: starts, serves until the group shuts down gracefully
    /// (SIGTERM), then drains (`shutdown`); cancelled (SIGINT), before or while draining, it
    /// sends running jobs back to the queue at once.
    public func run() async throws {
        try start()
        try? await gracefulShutdown()
        await withTaskCancellationHandler {
            await shutdown()
        } onCancel: {
            Task { await self.shutdown() }
        }
    }

    /// Drains: readiness fails and submissions get 503, running jobs get `drain_timeout` to
    /// finish (then go back to the queue), requests waiting on a job are answered with its
    /// state, the HTTP server closes, the database is closed. A second call while draining
    /// sends running jobs back to the queue at once (no attempt spent); every call returns when
    /// the service has stopped.
    public func shutdown() async {
        let (task, again) = stopping.withLock { current -> (Task<Void, Never>, Bool) in
            if let current { return (current, true) }
            api.beginDraining()
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
        api.waiters.releaseAll()
        maintenance.stop()
        await callbacks.stop()
        compute.shutdown()
        if let http = server.withLock({ $0 }) { await http.shutdown(gracePeriod: .seconds(5)) }
        api.executor.shutdown()
        do { try store.close() } catch { logger.error("closing the database: \(error)") }
        logger.notice("stopped")
    }

    /// Everything `start()` does but listen: recovery, workers, the store's upkeep, callbacks.
    /// Requests then go to `handle(_:)` directly (the in-process tests do).
    func startWork() throws {
        try store.claimExclusiveUse()
        // A store of this process's own holds no job another process runs; a shared one does,
        // and its lease sweep requeues those whose lease lapsed instead.
        if !store.isShared {
            let recovered = try store.recoverInterrupted(maxAttempts: configuration.queue.maxAttempts)
            if recovered.requeued + recovered.failed > 0 {
                logger.notice("recovered jobs left running", metadata: ["requeued": "\(recovered.requeued)", "failed": "\(recovered.failed)"])
            }
        }
        observeJobChanges()
        workers.start()
        maintenance.start(leaseTTL: configuration.queue.leaseTTL, maxAttempts: configuration.queue.maxAttempts,
                          retentionTTL: configuration.retention.ttl, cleanupInterval: configuration.retention.cleanupInterval)
        callbacks.start(on: api.executor, representation: { [api] job in api.callbackBody(of: job) })
    }

    /// The one place job changes fan out, on every backend and whoever made them: cached views
    /// are dropped, watchers and event streams hear of them, idle workers wake for queued jobs
    /// and running ones hear of cancel requests, and this node's own submissions and ends are counted.
    private func observeJobChanges() {
        store.observeChanges({ [api, workers, metrics] change in
            api.views.invalidate(change.id)
            if change.isLocal { metrics.record(change) }
            switch change.kind {
            case .submitted, .requeued:
                api.waiters.progressed(change.id)
                workers.wake()
            case .updated:
                api.waiters.progressed(change.id)
            case .cancelRequested:
                workers.requestCancel(change.id)
            case .ended:
                api.waiters.finished(change.id)
            case .deleted:
                break
            }
        }, resynced: { [api, workers] in
            api.views.invalidateAll()
            workers.wake()
        })
    }

    /// A name for this process in claims: host and process id.
    static func nodeName() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    }
}
