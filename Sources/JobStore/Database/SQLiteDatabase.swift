import Foundation
import GRDB

/// SQLite in WAL mode through GRDB: readers (status polls) never wait for the writer.
final class SQLiteDatabase: SQLDatabase {
    let pool: DatabasePool
    let path: String
    var dialect: SQLDialect { .sqlite }

    init(path: String, busyTimeout: Duration) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(TimeInterval(busyTimeout.components.seconds))
        configuration.prepareDatabase { db in
            // WAL makes a commit durable against a process crash without an fsync per write.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        self.path = path
        try JobStoreMigrations.sqlite.migrate(pool)
    }

    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T { try pool.read { try body(Connection(db: $0)) } }
    func readStatement<T>(_ body: (any SQLConnection) throws -> T) throws -> T { try pool.unsafeRead { try body(Connection(db: $0)) } }
    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T { try pool.write { try body(Connection(db: $0)) } }
    func close() throws { try pool.close() }

    /// Statements come from GRDB's cache: the store's SQL is a fixed set of strings.
    struct Connection: SQLConnection {
        let db: Database

        func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
            try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
            return db.changesCount
        }

        func fetch(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
            try Row.fetchAll(db.cachedStatement(sql: sql), arguments: Self.arguments(arguments)).map { row in
                SQLRow(values: Dictionary(row.map { column, value in (column, Self.value(value)) }, uniquingKeysWith: { a, _ in a }))
            }
        }

        static func arguments(_ values: [SQLValue]) -> StatementArguments {
            StatementArguments(values.map { value -> (any DatabaseValueConvertible)? in
                switch value {
                case .null: nil
                case .integer(let v): v
                case .real(let v): v
                case .text(let v): v
                case .blob(let v): v
                }
            })
        }

        static func value(_ value: DatabaseValue) -> SQLValue {
            switch value.storage {
            case .null: .null
            case .int64(let v): .integer(v)
            case .double(let v): .real(v)
            case .string(let v): .text(v)
            case .blob(let v): .blob(v)
            }
        }
    }
}
