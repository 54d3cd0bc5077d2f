import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// A PostgreSQL server shared by every node, through PostgresNIO's event-loop API so the
/// store's calls stay synchronous: a caller's thread waits for its own query and nothing else.
/// Connections are pooled; one that fails is dropped and the next call opens a new one, so the
/// store rides out a server restart (the calls in flight then fail, as a crash would).
final class PostgresDatabase: SQLDatabase, @unchecked Sendable {
    var dialect: SQLDialect { .postgres }
    let configuration: PostgresConnection.Configuration
    let url: PostgresURL
    private let group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    private let logger: Logger
    private let maxConnections: Int
    private let condition = NSCondition()
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var closed = false
    private var nextID = 0

    init(url: PostgresURL, maxConnections: Int = 8, logger: Logger = Logger(label: "segserve.postgres")) throws {
        self.url = url
        var configuration = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user,
                                                             password: url.password, database: url.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        // A node stopped inside a transaction (SIGSTOP, a VM pause) would hold its row locks, and
        // the sweeper skips locked rows: the server ends such a session and frees them.
        configuration.options.additionalStartupParameters = [("idle_in_transaction_session_timeout", "5000")]
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.logger = logger
        try JobStoreMigrations.postgres.migrate(self)
    }

    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try withConnection { connection in
            try connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [])
            return try finish(connection, body)
        }
    }

    func readStatement<T>(_ body: (any SQLConnection) throws -> T) throws -> T { try withConnection { try body($0) } }

    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try withConnection { connection in
            try connection.run("BEGIN", [])
            return try finish(connection, body)
        }
    }

    private func finish<T>(_ connection: Connection, _ body: (any SQLConnection) throws -> T) throws -> T {
        do {
            let value = try body(connection)
            try connection.run("COMMIT", [])
            return value
        } catch {
            _ = try? connection.run("ROLLBACK", [])
            throw error
        }
    }

    var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }

    func close() throws {
        condition.lock()
        closed = true
        let connections = idle
        idle = []
        condition.unlock()
        for c in connections { try? (c.close() as EventLoopFuture<Void>).wait() }
    }

    /// A connection of its own, for LISTEN: notifications arrive on an event loop and are handed to `handler`.
    func listen(_ channel: String, handler: @escaping @Sendable (String) -> Void) throws -> PostgresConnection {
        let connection = try connect()
        connection.addListener(channel: channel) { _, notification in handler(notification.payload) }
        _ = try connection.query(PostgresQuery(unsafeSQL: "LISTEN \(channel)"), logger: logger).wait()
        return connection
    }

    func connect() throws -> PostgresConnection {
        condition.lock()
        nextID += 1
        let id = nextID
        condition.unlock()
        do {
            return try PostgresConnection.connect(on: group.next(), configuration: configuration, id: id, logger: logger).wait()
        } catch {
            throw JobStoreError.unavailable(reason: "cannot connect to \(url.redacted): \(Self.describe(error))")
        }
    }

    private func withConnection<T>(_ body: (Connection) throws -> T) throws -> T {
        let connection = try checkOut()
        var healthy = true
        defer { checkIn(connection, healthy: healthy) }
        do {
            return try body(Connection(connection: connection, logger: logger))
        } catch let error as JobStoreError {
            throw error
        } catch {
            // A server error leaves the connection usable; a broken connection does not.
            healthy = !connection.isClosed && (error as? PSQLError)?.serverInfo != nil
            throw JobStoreError.unavailable(reason: Self.describe(error))
        }
    }

    private func checkOut() throws -> PostgresConnection {
        condition.lock()
        while true {
            if closed { condition.unlock(); throw JobStoreError.unavailable(reason: "the store is closed") }
            if let c = idle.popLast() {
                condition.unlock()
                if c.isClosed { return try replace() }
                return c
            }
            if open < maxConnections { break }
            condition.wait()
        }
        open += 1
        condition.unlock()
        do { return try connect() } catch {
            condition.lock(); open -= 1; condition.signal(); condition.unlock()
            throw error
        }
    }

    /// A closed idle connection gives its place to a new one.
    private func replace() throws -> PostgresConnection {
        do { return try connect() } catch {
            condition.lock(); open -= 1; condition.signal(); condition.unlock()
            throw error
        }
    }

    private func checkIn(_ connection: PostgresConnection, healthy: Bool) {
        condition.lock()
        defer { condition.signal(); condition.unlock() }
        if healthy && !closed && !connection.isClosed {
            idle.append(connection)
        } else {
            open -= 1
            let closing: EventLoopFuture<Void> = connection.close()
            _ = closing
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return "PostgreSQL: \(message)" }
            return "PostgreSQL: \(e.code)"
        }
        return "\(error)"
    }

    /// Runs the store's `?`-placeholder SQL as PostgreSQL's numbered parameters.
    struct Connection: SQLConnection {
        let connection: PostgresConnection
        let logger: Logger

        func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
            try run(sql, arguments).metadata.rows ?? 0
        }

        func fetch(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
            try run(sql, arguments).rows.map { row in
                SQLRow(values: Dictionary(row.map { ($0.columnName, Self.value($0)) }, uniquingKeysWith: { a, _ in a }))
            }
        }

        @discardableResult
        func run(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
            var binds = PostgresBindings(capacity: arguments.count)
            for a in arguments {
                switch a {
                case .null: binds.appendNull()
                case .integer(let v): binds.append(v)
                case .real(let v): binds.append(v)
                case .text(let v): binds.append(v)
                case .blob(let v): try binds.append(v)
                }
            }
            return try connection.query(PostgresQuery(unsafeSQL: Self.numbered(sql), binds: binds), logger: logger).wait()
        }

        /// `?` -> `$1`, `$2`, ... (the store's SQL has no `?` inside literals).
        static func numbered(_ sql: String) -> String {
            var out = "", n = 0
            out.reserveCapacity(sql.count + 16)
            for ch in sql {
                if ch == "?" { n += 1; out += "$\(n)" } else { out.append(ch) }
            }
            return out
        }

        static func value(_ cell: PostgresCell) -> SQLValue {
            guard cell.bytes != nil else { return .null }
            switch cell.dataType {
            case .int2, .int4, .int8: return (try? cell.decode(Int64.self)).map(SQLValue.integer) ?? .null
            case .float4, .float8: return (try? cell.decode(Double.self)).map(SQLValue.real) ?? .null
            case .bool: return (try? cell.decode(Bool.self)).map { .integer($0 ? 1 : 0) } ?? .null
            case .bytea: return (try? cell.decode(Data.self)).map(SQLValue.blob) ?? .null
            default: return (try? cell.decode(String.self)).map(SQLValue.text) ?? .null
            }
        }
    }
}

/// `postgres://user[:password]@host[:port]/database`.
struct PostgresURL: Sendable, Equatable {
    var user: String
    var password: String?
    var host: String
    var port: Int
    var database: String

    init?(_ text: String) {
        guard let c = URLComponents(string: text), ["postgres", "postgresql"].contains(c.scheme ?? ""),
              let host = c.host, !host.isEmpty, let user = c.user, !user.isEmpty else { return nil }
        let database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        guard !database.isEmpty else { return nil }
        self.user = user.removingPercentEncoding ?? user
        password = c.password.map { $0.removingPercentEncoding ?? $0 }
        self.host = host
        port = c.port ?? 5432
        self.database = database
    }

    /// The URL without its password, for logs and errors.
    var redacted: String { "postgres://\(user)@\(host):\(port)/\(database)" }
}
