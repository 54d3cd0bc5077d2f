import Foundation

/// The SQL a backend speaks where the two differ.
enum SQLDialect: Sendable {
    case sqlite, postgres

    /// Locks the rows a transaction reads for update (PostgreSQL; SQLite has one writer anyway).
    var forUpdate: String { self == .postgres ? " FOR UPDATE" : "" }
    /// Takes the next row no other transaction holds, so nodes claim different jobs at once.
    var skipLocked: String { self == .postgres ? " FOR UPDATE SKIP LOCKED" : "" }
    /// Between a job's owner and its idempotency key in the stored key: a character neither
    /// can hold (PostgreSQL's text takes no NUL; SQLite keeps the NUL it always had).
    var keySeparator: String { self == .postgres ? "\u{1F}" : "\u{0}" }
    /// `skipLocked` for the rows of one table of a join.
    func skipLocked(of table: String) -> String { self == .postgres ? " FOR UPDATE OF \(table) SKIP LOCKED" : "" }
}

/// One connection inside a read or a transaction. Statements use `?` placeholders.
protocol SQLConnection {
    /// Runs a statement; returns the number of rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int
    func fetch(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow]
}

extension SQLConnection {
    @discardableResult
    func execute(_ sql: String, _ arguments: any SQLArgument...) throws -> Int { try execute(sql, arguments.map(\.sqlValue)) }
    func fetch(_ sql: String, _ arguments: any SQLArgument...) throws -> [SQLRow] { try fetch(sql, arguments.map(\.sqlValue)) }
    func fetchOne(_ sql: String, _ arguments: any SQLArgument...) throws -> SQLRow? { try fetch(sql, arguments.map(\.sqlValue)).first }
}

/// A database the job store runs on: SQLite in one file, or a PostgreSQL server many nodes share.
protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// Reads that see one consistent state.
    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// A single statement on the hot path (status polls), without a transaction where the backend allows.
    func readStatement<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// One transaction: committed when `body` returns, rolled back when it throws.
    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    func close() throws
}
