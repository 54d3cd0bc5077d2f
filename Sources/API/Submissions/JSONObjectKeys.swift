import Foundation
import ServiceCore

/// The member names of a JSON object as written, which a decoder folds into a dictionary: a
/// repeated name (`{"steps":1,"steps":5000}`) would otherwise pass silently with one value.
enum JSONObjectKeys {
    /// The first top-level member name that occurs twice (after unescaping), or nil. `bytes`
    /// must already have decoded as a JSON object.
    static func firstDuplicate(in bytes: [UInt8]) -> String? {
        var seen = Set<String>()
        var depth = 0
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                while index < bytes.count && bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard depth == 1, isFollowedByColon(bytes, after: index), let name = unescaped(bytes[start...min(index, bytes.count - 1)]) else {
                    break
                }
                if !seen.insert(name).inserted { return name }
            default: break
            }
            index += 1
        }
        return nil
    }

    private static func isFollowedByColon(_ bytes: [UInt8], after index: Int) -> Bool {
        var next = index + 1
        while next < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[next]) { next += 1 }
        return next < bytes.count && bytes[next] == UInt8(ascii: ":")
    }

    /// A JSON string literal's value (escapes such as \u0073 resolved).
    private static func unescaped(_ literal: ArraySlice<UInt8>) -> String? {
        try? JSONDecoder().decode([String].self, from: Data([UInt8(ascii: "[")] + literal + [UInt8(ascii: "]")])).first
    }
}
