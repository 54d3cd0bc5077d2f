/// A value rebuilt by `Unpickler`: Python's plain types, and the tensors and storages a
/// PyTorch checkpoint refers to. Containers are reference types, as in Python, because a
/// pickle may mutate a container after other values took a reference to it.
package enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list(PickleList)
    case tuple(PickleList)
    case dict(PickleDict)
    /// A module-level name (`module.name`) from the allow-list, before it is called.
    case global(PickleGlobal)
    case storage(StorageRef)
    case tensor(TensorRecord)

    /// Python's type name, for error messages.
    package var typeName: String {
        switch self {
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .list: "list"
        case .tuple: "tuple"
        case .dict: "dict"
        case .global(let g): g.name
        case .storage: "storage"
        case .tensor: "Tensor"
        }
    }

    package var dict: PickleDict? { if case .dict(let d) = self { d } else { nil } }
    package var string: String? { if case .string(let s) = self { s } else { nil } }
    package var tensor: TensorRecord? { if case .tensor(let t) = self { t } else { nil } }

    /// The items of a list or tuple.
    package var items: [PickleValue]? {
        switch self {
        case .list(let l), .tuple(let l): l.items
        default: nil
        }
    }

    /// Python's truth value (`bool(x)`).
    package var truthy: Bool {
        switch self {
        case .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .float(let f): f != 0
        case .string(let s): !s.isEmpty
        case .bytes(let b): !b.isEmpty
        case .list(let l), .tuple(let l): !l.items.isEmpty
        case .dict(let d): !d.keys.isEmpty
        case .global, .storage, .tensor: true
        }
    }
}

/// A list or tuple; `Unpickler` empties every one it made when it is done, so deep or cyclic
/// nesting in a hostile pickle is released without recursion.
package final class PickleList: @unchecked Sendable {
    package internal(set) var items: [PickleValue]
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// A dict in insertion order. Keys are strings, ints, bools or None, as a checkpoint's
/// configuration and optimizer state use.
package final class PickleDict: @unchecked Sendable {
    package enum Key: Hashable, Sendable {
        case string(String), int(Int), none

        init?(_ value: PickleValue) {
            switch value {
            case .string(let s): self = .string(s)
            case .int(let i): self = .int(i)
            case .bool(let b): self = .int(b ? 1 : 0)  // Python: True == 1, one key
            case .none: self = .none
            default: return nil
            }
        }
    }

    package private(set) var keys: [Key] = []
    private var values: [Key: PickleValue] = [:]

    package subscript(key: String) -> PickleValue? { values[.string(key)] }
    package func value(_ key: Key) -> PickleValue? { values[key] }

    /// The string-keyed entries in insertion order.
    package var stringEntries: [(String, PickleValue)] {
        keys.compactMap { key in
            guard case .string(let s) = key, let v = values[key] else { return nil }
            return (s, v)
        }
    }

    func set(_ key: Key, _ value: PickleValue) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }

    func removeAll() {
        keys = []
        values = [:]
    }
}

/// A callable the unpickler allows, by its Python name.
package struct PickleGlobal: Sendable, Equatable {
    package let name: String
}

/// A storage a checkpoint's tensors view: the archive record `key`, of `count` elements.
package struct StorageRef: Sendable, Equatable {
    package let key: String
    package let dtype: TorchDType
    package let count: Int
}

/// A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage.
package struct TensorRecord: Sendable, Equatable {
    package let storage: StorageRef
    package let offset: Int
    package let shape: [Int]
    package let strides: [Int]

    package var count: Int { shape.reduce(1, *) }
    package var dtype: TorchDType { storage.dtype }

    /// Row-major without gaps: elements `offset ..< offset + count` of the storage in order.
    package var isContiguous: Bool {
        var expected = 1
        for (size, stride) in zip(shape, strides).reversed() where size != 1 {
            guard stride == expected else { return false }
            expected *= size
        }
        return true
    }
}

/// The element types of PyTorch's typed storages.
package enum TorchDType: String, Sendable, CaseIterable {
    case float64 = "DoubleStorage", float32 = "FloatStorage", float16 = "HalfStorage", bfloat16 = "BFloat16Storage"
    case int64 = "LongStorage", int32 = "IntStorage", int16 = "ShortStorage", int8 = "CharStorage"
    case uint8 = "ByteStorage", bool = "BoolStorage"

    package var size: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        }
    }
}
