import Crypto
import Foundation
import JobStore
import Logging
import ServiceCore
import Synchronization

/// Delivers job callbacks: once a job with a `callback_url` ends, its JSON is POSTed there with
/// `X-Segserve-Signature: sha256=<HMAC-SHA256 of the body, hex>`. A 2xx answer delivers it;
/// anything else (or no answer within the timeout) is retried after `retry_base` seconds,
/// doubling, up to `max_attempts`. Every attempt is recorded in the store, which also holds
/// what is pending, so deliveries resume after a restart.
///
/// Before each attempt the host is resolved again and every address checked
/// (`Callbacks.address(for:)`), so a name that turned private since submission (DNS
/// rebinding) is refused; the delivery then connects to the very address checked
/// (`CallbackClient`), with the name in its Host field and, for https, its TLS name check.
package final class CallbackDispatcher: Sendable {
    private let store: JobStore
    private let settings: ServiceConfiguration.Callbacks
    private let logger: Logger
    private let client: CallbackClient
    private let resolve: @Sendable (String) -> [NetworkAddress]
    private let loop = Mutex<Task<Void, Never>?>(nil)

    /// How often the store is asked for callbacks that are due.
    static let interval: Duration = .milliseconds(200)
    static let maxRetryDelay = 300.0

    /// Throws when `callbacks.ca_file` cannot be read as PEM certificates.
    package init(store: JobStore, settings: ServiceConfiguration.Callbacks, logger: Logger,
         resolve: @escaping @Sendable (String) -> [NetworkAddress] = NetworkAddress.resolve) throws {
        self.store = store
        self.settings = settings
        self.logger = logger
        self.resolve = resolve
        do {
            client = try CallbackClient(caFile: settings.caFile, timeout: settings.timeout)
        } catch {
            throw ConfigurationError("callbacks.ca_file \(settings.caFile ?? ""): \(error)")
        }
    }

    /// Starts delivering; `representation` gives the body for a job (its API JSON). The loop
    /// runs on `executor` when given, since its store calls block.
    package func start(on executor: (any TaskExecutor)? = nil, representation: @escaping @Sendable (Job) -> [UInt8]?) {
        guard !settings.allowedHosts.isEmpty else { return }
        let task = Task(executorPreference: executor) { [self] in
            while !Task.isCancelled {
                for callback in (try? store.dueCallbacks()) ?? [] {
                    if Task.isCancelled { break }
                    await deliver(callback, representation: representation)
                }
                try? await Task.sleep(for: Self.interval)
            }
        }
        loop.withLock { $0 = task }
    }

    /// Stops after the delivery in progress; what is pending stays in the store.
    package func stop() async {
        let task = loop.withLock { current -> Task<Void, Never>? in
            defer { current = nil }
            return current
        }
        task?.cancel()
        await task?.value
    }

    /// The signature header's value for `body`.
    static func signature(_ body: [UInt8], secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    /// The wait before retry `attempt` (1-based: the first retry waits `retry_base`).
    func retryDelay(afterAttempt attempt: Int) -> Double {
        min(Self.maxRetryDelay, settings.retryBase * pow(2, Double(attempt - 1)))
    }

    private func deliver(_ callback: Callback, representation: (Job) -> [UInt8]?) async {
        guard let job = try? store.job(id: callback.jobID), let body = representation(job) else { return }
        var status: Int?
        var failure: String?
        let parsed = try? CallbackURL(parsing: callback.url)
        let hostAllowed = parsed.map { settings.allows(host: $0.hostName) } ?? false
        let target = parsed.map { settings.address(for: $0, resolve: resolve) }
        if let parsed, hostAllowed, case .success(let address)? = target {
            let headers = [("Content-Type", "application/json"),
                           ("X-Segserve-Signature", Self.signature(body, secret: settings.secret ?? "")),
                           ("X-Segserve-Delivery", "\(job.id)/\(callback.attempts + 1)")]
            do {
                status = try await client.post(parsed, to: address, headers: headers, body: body)
            } catch {
                failure = String("\(error)".prefix(500))
            }
        } else if case .failure(let refused)? = target, hostAllowed {
            failure = "the callback URL \(refused.reason)"
        } else {
            failure = "the callback host is no longer allowed (callbacks.allowed_hosts)"
        }
        let delivered = status.map { (200..<300).contains($0) } ?? false
        let attempt = callback.attempts + 1
        let retryAt = delivered || attempt >= settings.maxAttempts || !hostAllowed
            ? nil : Date(timeIntervalSinceNow: retryDelay(afterAttempt: attempt))
        do {
            try store.recordCallbackAttempt(callback, status: status, error: failure ?? (delivered ? nil : "status \(status ?? 0)"),
                                            delivered: delivered, retryAt: retryAt)
        } catch {
            logger.error("cannot record a callback attempt", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
        let outcome = delivered ? "delivered" : retryAt == nil ? "given up" : "will retry"
        logger.info("callback \(outcome)", metadata: ["job": "\(job.id)", "attempt": "\(attempt)", "status": "\(status.map(String.init) ?? "none")"])
    }
}
