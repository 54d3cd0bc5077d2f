import Foundation
import HTTPServer
import ServiceCore

extension JobOptions {
    /// Parses a JSON object of options; a name given twice is a 400, not a silent choice.
    static func values(fromJSON bytes: [UInt8], source: String) throws(APIError) -> [String: Value] {
        let values: [String: Value]
        do { values = try JSONDecoder().decode([String: Value].self, from: Data(bytes)) } catch {
            throw .badRequest("\(source) must be a JSON object of options", slug: "invalid-option")
        }
        if let twice = JSONObjectKeys.firstDuplicate(in: bytes) {
            throw .badRequest("\(source): option '\(twice)' is given twice", slug: "invalid-option")
        }
        return values
    }

    /// The query's options; a name given twice is a 400.
    static func values(fromQuery items: [HTTPQueryItem]) throws(APIError) -> [String: Value] {
        var values: [String: Value] = [:]
        for item in items {
            guard values.updateValue(.string(item.value), forKey: item.name) == nil else {
                throw .badRequest("query: option '\(item.name)' is given twice", slug: "invalid-option")
            }
        }
        return values
    }

}
