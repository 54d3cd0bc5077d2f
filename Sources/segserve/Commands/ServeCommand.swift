import ArgumentParser
import Foundation
import JobStore
import LDMSeg
import Logging
import Service
import ServiceCore
import ServiceLifecycle

/// `segserve serve`: the HTTP service. Settings come from the YAML file, then `SEGSERVE_*`
/// environment variables, then these flags.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service (jobs in SQLite or PostgreSQL, a worker pool, Prometheus metrics).",
        discussion: "SIGTERM drains: submissions are refused, running jobs finish or go back to the queue, then the process exits. SIGINT (Ctrl-C), also during a drain, sends running jobs back to the queue at once.")

    @Option(help: "YAML configuration file (default: config/segserve.yaml when it exists)") var config: String?
    @Option(help: "address to bind") var host: String?
    @Option(help: "TCP port (0 picks a free one)") var port: Int?
    @Option(help: "SQLite database file") var database: String?
    @Option(name: .customLong("database-url"), help: "sqlite:///path or postgres://user[:password]@host[:port]/db (wins over --database)")
    var databaseURL: String?
    @Option(help: "all (default), api (answers requests, runs no jobs) or worker (runs jobs; health, readiness, metrics only)")
    var role: ServiceConfiguration.Role?
    @Option(help: "model directory") var model: String?
    @Option(help: "workers running jobs at once") var workers: Int?
    @Option(help: "the runtime's threads (loops and sgemms)") var threads: Int?

    func run() throws {
        var settings = try ServiceConfiguration.load(file: config ?? (FileManager.default.fileExists(atPath: "config/segserve.yaml") ? "config/segserve.yaml" : nil))
        if let host { settings.server.host = host }
        if let port { settings.server.port = port }
        if let database { settings.databasePath = database; settings.databaseURL = nil }
        if let databaseURL { settings.databaseURL = databaseURL }
        if let role { settings.role = role }
        if let model { settings.model.path = model }
        if let workers { settings.workers.count = max(1, workers) }
        if let threads { settings.workers.threads = max(1, threads) }

        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "segserve")
        let loaded = try LDMSegModel(directory: settings.model.path)
        let store = try JobStore(url: settings.storeURL)
        let service = try SegmentationService(configuration: settings, model: loaded, store: store, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], gracefulShutdownSignals: [.sigterm],
                                                      cancellationSignals: [.sigint], logger: logger))
        // The other commands keep the main thread (and glibc's main heap, which HeapTuning
        // tunes); the service runs as a task while the main thread serves Dispatch.
        Task {
            do { try await group.run() } catch {
                logger.critical("the service stopped: \(error)")
                Foundation.exit(1)
            }
            Foundation.exit(0)
        }
        dispatchMain()
    }
}

extension ServiceConfiguration.Role: ExpressibleByArgument {}
