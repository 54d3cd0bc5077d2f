import Foundation
import LDMSeg
import NNRuntime
import Yams

/// A configuration file or variable that cannot be used, named precisely.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    public var description: String
    package init(_ description: String) { self.description = description }
}

extension ServiceConfiguration {
    /// One setting: its dotted key in YAML, its environment variable, and how a value is applied.
    package struct Setting: Sendable {
        package let key: String
        package let environment: String
        /// Whether a YAML sequence is accepted (given to `apply` comma-joined).
        package var isList = false
        package let apply: @Sendable (inout ServiceConfiguration, String) throws -> Void

        package static func string(_ key: String, _ path: WritableKeyPath<ServiceConfiguration, String> & Sendable,
                           env: String? = nil) -> Setting {
            Setting(key: key, environment: env ?? variable(key)) { $0[keyPath: path] = $1 }
        }

        package static func optionalString(_ key: String, _ path: WritableKeyPath<ServiceConfiguration, String?> & Sendable) -> Setting {
            Setting(key: key, environment: variable(key)) { $0[keyPath: path] = $1.isEmpty ? nil : $1 }
        }

        /// A list: a YAML sequence, or comma-separated text (the environment's form).
        package static func list(_ key: String, _ path: WritableKeyPath<ServiceConfiguration, [String]> & Sendable) -> Setting {
            Setting(key: key, environment: variable(key), isList: true) { config, text in
                config[keyPath: path] = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
        }

        /// A list of address ranges in CIDR form (`10.0.0.0/8`, `fd00::/8`).
        package static func networks(_ key: String, _ path: WritableKeyPath<ServiceConfiguration, [Network]> & Sendable) -> Setting {
            Setting(key: key, environment: variable(key), isList: true) { config, text in
                config[keyPath: path] = try text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map {
                    guard let network = Network(parsing: $0) else { throw ConfigurationError("\(key): '\($0)' is not an address range such as 10.0.0.0/8 or fd00::/8") }
                    return network
                }
            }
        }

        package static func int(_ key: String, _ path: WritableKeyPath<ServiceConfiguration, Int> & Sendable,
                        _ range: ClosedRange<Int>, env: String? = nil) -> Setting {
            Setting(key: key, environment: env ?? variable(key)) { config, text in
                guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                    throw ConfigurationError("\(key): '\(text)' is not an integer in \(range.lowerBound)...\(range.upperBound)")
                }
                config[keyPath: path] = value
            }
        }

        package static func role(_ key: String, _ path: WritableKeyPath<ServiceConfiguration, Role> & Sendable) -> Setting {
            Setting(key: key, environment: variable(key)) { config, text in
                guard let value = Role(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
                    throw ConfigurationError("\(key): '\(text)' is not one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                config[keyPath: path] = value
            }
        }

        package static func precision(_ key: String, _ path: WritableKeyPath<ServiceConfiguration, Precision> & Sendable) -> Setting {
            Setting(key: key, environment: variable(key)) { config, text in
                guard let value = Precision(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
                    throw ConfigurationError("\(key): '\(text)' is not one of \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                config[keyPath: path] = value
            }
        }

        package static func seconds(_ key: String, _ path: WritableKeyPath<ServiceConfiguration, Double> & Sendable) -> Setting {
            Setting(key: key, environment: variable(key)) { config, text in
                guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, value >= 0 else {
                    throw ConfigurationError("\(key): '\(text)' is not a number of seconds >= 0")
                }
                config[keyPath: path] = value
            }
        }

        package static func fraction(_ key: String, _ path: WritableKeyPath<ServiceConfiguration, Double> & Sendable) -> Setting {
            Setting(key: key, environment: variable(key)) { config, text in
                guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value >= 0, value <= 1 else {
                    throw ConfigurationError("\(key): '\(text)' is not a number in 0...1")
                }
                config[keyPath: path] = value
            }
        }

        /// `server.max_body_bytes` -> `SEGSERVE_SERVER_MAX_BODY_BYTES`.
        package static func variable(_ key: String) -> String {
            "SEGSERVE_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
        }
    }

    /// Every setting; `config/segserve.yaml` documents each.
    package static let settings: [Setting] = [
        .string("server.host", \.server.host, env: "SEGSERVE_HOST"),
        .int("server.port", \.server.port, 0...65535, env: "SEGSERVE_PORT"),
        .int("server.max_body_bytes", \.server.maxBodyBytes, 1...(1 << 32)),
        .int("server.max_connections", \.server.maxConnections, 1...1_000_000),
        .seconds("server.header_timeout", \.server.headerTimeout),
        .seconds("server.body_timeout", \.server.bodyTimeout),
        .int("server.min_body_rate", \.server.minBodyRate, 0...(1 << 30)),
        .int("server.max_inflight_body_bytes", \.server.maxInflightBodyBytes, 1...(1 << 40)),
        .seconds("server.slow_request_seconds", \.server.slowRequestSeconds),
        .fraction("server.max_slow_connection_share", \.server.maxSlowConnectionShare),
        .seconds("server.idle_timeout", \.server.idleTimeout),
        .int("server.request_thread_nice", \.server.requestThreadNice, 0...19),
        .int("server.request_threads", \.server.requestThreads, 1...256),
        .fraction("server.busy_loop_share", \.server.busyLoopShare),
        .int("server.max_event_streams", \.server.maxEventStreams, 1...1_000_000),
        .int("server.max_event_streams_per_key", \.server.maxEventStreamsPerKey, 1...1_000_000),
        .int("server.max_event_streams_per_job", \.server.maxEventStreamsPerJob, 1...1_000_000),
        .seconds("server.event_heartbeat", \.server.eventHeartbeat),
        .list("server.allowed_hosts", \.server.allowedHosts),
        .string("model.path", \.model.path, env: "SEGSERVE_MODEL"),
        .int("model.max_pixels", \.model.maxPixels, 1...1_000_000_000),
        .int("workers.count", \.workers.count, 1...64),
        .int("workers.threads", \.workers.threads, 1...256),
        .precision("workers.precision", \.workers.precision),
        .int("workers.max_batch", \.workers.maxBatch, 1...64),
        .int("workers.max_batch_delay_ms", \.workers.maxBatchDelayMilliseconds, 0...1000),
        .int("queue.max_queued", \.queue.maxQueued, 0...1_000_000),
        .seconds("queue.max_wait", \.queue.maxWait),
        .int("queue.max_attempts", \.queue.maxAttempts, 1...100),
        .seconds("queue.lease_ttl", \.queue.leaseTTL),
        .int("limits.max_resolution", \.limits.maxResolution, OptionLimits.resolution),
        .int("limits.max_job_cost", \.limits.maxJobCost, 1...Int(Int32.max)),
        .seconds("limits.job_timeout", \.limits.jobTimeout),
        .seconds("retention.ttl", \.retention.ttl),
        .seconds("retention.cleanup_interval", \.retention.cleanupInterval),
        .string("database.path", \.databasePath, env: "SEGSERVE_DATABASE"),
        .optionalString("database.url", \.databaseURL),
        .role("role", \.role),
        .list("callbacks.allowed_hosts", \.callbacks.allowedHosts),
        .networks("callbacks.allowed_networks", \.callbacks.allowedNetworks),
        .optionalString("callbacks.secret", \.callbacks.secret),
        .int("callbacks.max_attempts", \.callbacks.maxAttempts, 1...100),
        .seconds("callbacks.retry_base", \.callbacks.retryBase),
        .seconds("callbacks.timeout", \.callbacks.timeout),
        .optionalString("callbacks.ca_file", \.callbacks.caFile),
        .string("openapi_path", \.openAPIPath),
        .string("web_root", \.webRoot),
        .optionalString("categories_path", \.categoriesPath),
        .optionalString("auth.keys_file", \.authKeysFile),
        .seconds("drain_timeout", \.drainTimeout),
        .string("log_level", \.logLevel),
    ]

    /// Defaults, then the YAML file (if any), then the environment. Unknown keys, malformed
    /// values and an unreadable file are errors: a typo must not silently fall back to a default.
    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceConfiguration {
        var config = ServiceConfiguration()
        let byKey = Dictionary(uniqueKeysWithValues: settings.map { ($0.key, $0) })
        if let file {
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw ConfigurationError("cannot read \(file): \(error.localizedDescription)")
            }
            let values: [(key: String, value: String, isList: Bool)]
            do { values = try flatten(try Yams.compose(yaml: text), prefix: "") } catch let error as ConfigurationError {
                throw ConfigurationError("\(file): \(error.description)")
            } catch {
                throw ConfigurationError("\(file): not valid YAML: \(error)")
            }
            for (key, value, isList) in values {
                guard let setting = byKey[key] else { throw ConfigurationError("\(file): unknown setting '\(key)'") }
                guard !isList || setting.isList else { throw ConfigurationError("\(file): \(key): expected a single value") }
                do { try setting.apply(&config, value) } catch let error as ConfigurationError {
                    throw ConfigurationError("\(file): \(error.description)")
                }
            }
        }
        for setting in settings {
            guard let value = environment[setting.environment] else { continue }
            do { try setting.apply(&config, value) } catch let error as ConfigurationError {
                throw ConfigurationError("\(setting.environment): \(error.description)")
            }
        }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(config.logLevel) else {
            throw ConfigurationError("log_level: '\(config.logLevel)' is not a log level")
        }
        return config
    }

    /// Nested mappings to dotted keys with scalar values; null values are skipped.
    private static func flatten(_ node: Node?, prefix: String) throws -> [(key: String, value: String, isList: Bool)] {
        guard let node else { return [] }
        switch node {
        case .mapping(let mapping):
            return try mapping.flatMap { key, value -> [(key: String, value: String, isList: Bool)] in
                guard let name = key.string else { throw ConfigurationError("keys must be strings") }
                return try flatten(value, prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
            }
        case .scalar(let scalar):
            if prefix.isEmpty { throw ConfigurationError("expected a mapping of settings") }
            return node.null != nil ? [] : [(prefix, scalar.string, false)]
        case .sequence(let items):
            if prefix.isEmpty { throw ConfigurationError("expected a mapping of settings") }
            let values = items.compactMap { $0.scalar?.string }
            guard values.count == items.count, !values.contains(where: { $0.contains(",") }) else {
                throw ConfigurationError("\(prefix): expected a list of single values")
            }
            return [(prefix, values.joined(separator: ","), true)]
        case .alias:
            if prefix.isEmpty { throw ConfigurationError("expected a mapping of settings") }
            throw ConfigurationError("\(prefix): expected a single value")
        }
    }
}
