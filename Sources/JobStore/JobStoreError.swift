/// Why a store operation was refused.
public enum JobStoreError: Error, Equatable, CustomStringConvertible {
    case notFound(id: String)
    case invalidTransition(id: String, from: JobState, event: JobEvent)
    case invalidCursor(String)
    /// The caller's lease on a running job expired and another node holds it now (or the job
    /// ended): its late progress or completion is refused.
    case leaseLost(id: String)
    /// The database cannot be reached or refused the statement.
    case unavailable(reason: String)
    /// `database.url` names no backend this build has.
    case invalidURL(String)
    /// Another process has claimed this SQLite file (`claimExclusiveUse`).
    case inUse(path: String)

    public var description: String {
        switch self {
        case let .notFound(id): return "no job \(id)"
        case let .invalidTransition(id, from, event): return "job \(id) is \(from.rawValue); '\(event.rawValue)' is not allowed"
        case let .invalidCursor(cursor): return "invalid cursor '\(cursor)'"
        case let .leaseLost(id): return "job \(id): this worker's lease was taken over"
        case let .unavailable(reason): return "job store unavailable: \(reason)"
        case let .invalidURL(url): return "database.url '\(url)': expected sqlite:///path or postgres://user@host:port/db"
        case let .inUse(path): return "another segserve process serves \(path); stop it first, or give this one its own database (several nodes share PostgreSQL)"
        }
    }
}
