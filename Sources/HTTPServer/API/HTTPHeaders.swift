/// An ordered list of header fields with ASCII case-insensitive name lookup (RFC 9110 §5).
///
/// Order and repeated names are kept as received, because some fields (Set-Cookie) may not be combined.
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public typealias Field = (name: String, value: String)

    private var fields: [Field]

    public init() { fields = [] }

    public init(_ fields: [Field]) { self.fields = fields }

    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// The first value for `name`, or nil; setting replaces every field of that name (nil removes them).
    public subscript(name: String) -> String? {
        get { fields.first { HTTPHeaders.matches($0.name, name) }?.value }
        set {
            if let newValue { replaceOrAdd(name: name, value: newValue) } else { remove(name: name) }
        }
    }

    /// Every value for `name`, in order.
    public func values(for name: String) -> [String] {
        fields.filter { HTTPHeaders.matches($0.name, name) }.map(\.value)
    }

    public func contains(_ name: String) -> Bool {
        fields.contains { HTTPHeaders.matches($0.name, name) }
    }

    /// True when a comma-separated list field `name` has `token` as one element (case-insensitive).
    public func containsToken(_ token: String, in name: String) -> Bool {
        values(for: name).contains { value in
            HTTPSyntax.listElements(value).contains { HTTPSyntax.equalsIgnoringCase($0.utf8, token.utf8) }
        }
    }

    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces the first field named `name` and removes the others, or appends one if none exists.
    public mutating func replaceOrAdd(name: String, value: String) {
        guard let first = fields.firstIndex(where: { HTTPHeaders.matches($0.name, name) }) else {
            add(name: name, value: value)
            return
        }
        fields[first].value = value
        var index = fields.index(after: first)
        while index < fields.endIndex {
            if HTTPHeaders.matches(fields[index].name, name) { fields.remove(at: index) } else { index += 1 }
        }
    }

    public mutating func remove(name: String) {
        fields.removeAll { HTTPHeaders.matches($0.name, name) }
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    private static func matches(_ lhs: String, _ rhs: String) -> Bool {
        HTTPSyntax.equalsIgnoringCase(lhs.utf8, rhs.utf8)
    }
}
