import Foundation

/// A value bound to or read from a statement, in the types both backends store.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

/// Swift values a statement takes as arguments.
protocol SQLArgument { var sqlValue: SQLValue { get } }
extension Int: SQLArgument { var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLArgument { var sqlValue: SQLValue { .integer(self) } }
extension Double: SQLArgument { var sqlValue: SQLValue { .real(self) } }
extension String: SQLArgument { var sqlValue: SQLValue { .text(self) } }
extension Data: SQLArgument { var sqlValue: SQLValue { .blob(self) } }
extension Date: SQLArgument { var sqlValue: SQLValue { .real(timeIntervalSince1970) } }
extension Optional: SQLArgument where Wrapped: SQLArgument { var sqlValue: SQLValue { self?.sqlValue ?? .null } }

/// One result row, by column name.
struct SQLRow: Sendable {
    let values: [String: SQLValue]

    func int(_ column: String) -> Int? {
        switch values[column] {
        case .integer(let v): Int(v)
        case .real(let v): Int(v)
        default: nil
        }
    }

    func int64(_ column: String) -> Int64? { int(column).map(Int64.init) }

    func double(_ column: String) -> Double? {
        switch values[column] {
        case .real(let v): v
        case .integer(let v): Double(v)
        default: nil
        }
    }

    func date(_ column: String) -> Date? { double(column).map(Date.init(timeIntervalSince1970:)) }

    func text(_ column: String) -> String? {
        if case .text(let v) = values[column] { return v }
        return nil
    }

    func blob(_ column: String) -> Data? {
        switch values[column] {
        case .blob(let v): v
        case .text(let v): Data(v.utf8)
        default: nil
        }
    }
}
