/// Why a store operation was refused.
public enum JobStoreError: Error, Equatable, CustomStringConvertible {
    case notFound(id: String)
    case invalidTransition(id: String, from: JobState, event: JobEvent)
    case invalidCursor(String)

    public var description: String {
        switch self {
        case let .notFound(id): return "no job \(id)"
        case let .invalidTransition(id, from, event): return "job \(id) is \(from.rawValue); '\(event.rawValue)' is not allowed"
        case let .invalidCursor(cursor): return "invalid cursor '\(cursor)'"
        }
    }
}
