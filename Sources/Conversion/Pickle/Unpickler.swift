/// A restricted pickle machine for PyTorch checkpoints (`data.pkl`, protocols 2 to 5).
///
/// It runs only the opcodes that rebuild plain values and dicts, and calls only an allow-list
/// of globals: `collections.OrderedDict`, torch's tensor and parameter rebuilders, typed storage
/// names in persistent ids, and `_codecs.encode` for protocol-2 bytes. Anything else, a class
/// to instantiate or a function to call, is refused by name: a checkpoint is untrusted input.
package final class Unpickler {
    /// The callables `REDUCE` may call, and the storage types persistent ids may name.
    static let allowedGlobals: Set<String> = Set([
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state", "_codecs.encode",
    ] + TorchDType.allCases.map { "torch.\($0.rawValue)" })

    private let bytes: [UInt8]
    private var position = 0
    private var stack: [PickleValue] = []
    private var metastack: [[PickleValue]] = []
    private var memo: [Int: PickleValue] = [:]
    private let arena = PickleArena()
    private var storages: [String: StorageRef] = [:]

    /// Runs `bytes` to its STOP; the result's containers stay valid while the arena lives.
    package static func load(_ bytes: [UInt8]) throws(CheckpointError) -> (root: PickleValue, storages: [String: StorageRef], arena: PickleArena) {
        let machine = Unpickler(bytes: bytes)
        let root = try machine.run()
        return (root, machine.storages, machine.arena)
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func run() throws(CheckpointError) -> PickleValue {
        while true {
            let at = position
            let op = try byte()
            switch op {
            case 0x80:  // PROTO
                let version = try byte()
                guard version <= 5 else { throw fail(at, "pickle protocol \(version) is newer than 5") }
            case 0x95: _ = try take(8)  // FRAME: a read-ahead hint
            case 0x2E:  // STOP
                guard let root = stack.popLast() else { throw fail(at, "STOP with an empty stack") }
                return root
            case 0x28:  // MARK
                metastack.append(stack)
                stack = []
            case 0x30:  // POP
                if stack.popLast() == nil { _ = try popMark(at) }
            case 0x31: _ = try popMark(at)  // POP_MARK
            case 0x32: stack.append(try top(at))  // DUP
            case 0x4E: stack.append(.none)  // NONE
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case 0x4A: stack.append(.int(Int(Int32(bitPattern: UInt32(try littleEndian(4))))))  // BININT
            case 0x4B: stack.append(.int(Int(try byte())))  // BININT1
            case 0x4D: stack.append(.int(Int(try littleEndian(2))))  // BININT2
            case 0x8A: stack.append(.int(try long(count: Int(try byte()), at)))  // LONG1
            case 0x8B: stack.append(.int(try long(count: try length(4, at), at)))  // LONG4
            case 0x47:  // BINFLOAT, big-endian
                stack.append(.float(Double(bitPattern: try take(8).reduce(0) { $0 << 8 | UInt64($1) })))
            case 0x58: stack.append(.string(try utf8(count: try length(4, at), at)))  // BINUNICODE
            case 0x8C: stack.append(.string(try utf8(count: Int(try byte()), at)))  // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8(count: try length(8, at), at)))  // BINUNICODE8
            case 0x42: stack.append(.bytes(Array(try take(try length(4, at)))))  // BINBYTES
            case 0x43: stack.append(.bytes(Array(try take(Int(try byte())))))  // SHORT_BINBYTES
            case 0x8E: stack.append(.bytes(Array(try take(try length(8, at)))))  // BINBYTES8
            case 0x7D: stack.append(.dict(arena.dict()))  // EMPTY_DICT
            case 0x5D: stack.append(.list(arena.list()))  // EMPTY_LIST
            case 0x29: stack.append(.tuple(arena.list()))  // EMPTY_TUPLE
            case 0x74:  // TUPLE
                let items = try popMark(at)
                stack.append(.tuple(arena.list(items)))
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                let n = Int(op - 0x84)
                guard stack.count >= n else { throw fail(at, "TUPLE\(n) with \(stack.count) items on the stack") }
                stack.append(.tuple(arena.list(Array(stack.suffix(n)))))
                stack.removeSubrange(stack.count - n - 1..<stack.count - 1)
            case 0x71: try put(Int(try byte()), at)  // BINPUT
            case 0x72: try put(Int(try littleEndian(4)), at)  // LONG_BINPUT
            case 0x94: try put(memo.count, at)  // MEMOIZE
            case 0x68: try get(Int(try byte()), at)  // BINGET
            case 0x6A: try get(Int(try littleEndian(4)), at)  // LONG_BINGET
            case 0x61:  // APPEND
                let value = try pop(at)
                try list(at).items.append(value)
            case 0x65:  // APPENDS
                let values = try popMark(at)
                try list(at).items.append(contentsOf: values)
            case 0x73:  // SETITEM
                let value = try pop(at), key = try pop(at)
                try setItems([key, value], at)
            case 0x75:  // SETITEMS (the items are popped before the dict below them is read)
                let items = try popMark(at)
                try setItems(items, at)
            case 0x63:  // GLOBAL "module\nname\n"
                let module = try line(at), name = try line(at)
                stack.append(.global(try global(module, name, at)))
            case 0x93:  // STACK_GLOBAL
                guard case .string(let name) = try pop(at), case .string(let module) = try pop(at) else {
                    throw fail(at, "STACK_GLOBAL needs two strings")
                }
                stack.append(.global(try global(module, name, at)))
            case 0x52:  // REDUCE
                let args = try pop(at), callable = try pop(at)
                guard case .global(let g) = callable, case .tuple(let tuple) = args else {
                    throw fail(at, "REDUCE calls \(callable.typeName) with \(args.typeName)")
                }
                stack.append(try call(g, tuple.items, at))
            case 0x62:  // BUILD: only the attributes torch keeps on an OrderedDict (`_metadata`)
                let state = try pop(at), target = try top(at)
                guard case .dict = target, case .dict = state else {
                    throw fail(at, "BUILD sets the state of \(target.typeName) from \(state.typeName)")
                }
            case 0x51:  // BINPERSID
                stack.append(.storage(try storage(try pop(at), at)))
            default:
                throw fail(at, "opcode 0x\(String(op, radix: 16)) is not allowed")
            }
        }
    }

    // MARK: - Calls

    private func global(_ module: String, _ name: String, _ at: Int) throws(CheckpointError) -> PickleGlobal {
        let full = "\(module).\(name)"
        guard Self.allowedGlobals.contains(full) else { throw .forbiddenGlobal(full) }
        return PickleGlobal(name: full)
    }

    private func call(_ g: PickleGlobal, _ args: [PickleValue], _ at: Int) throws(CheckpointError) -> PickleValue {
        switch g.name {
        case "collections.OrderedDict":
            guard args.isEmpty else { throw fail(at, "OrderedDict is called with \(args.count) arguments") }
            return .dict(arena.dict())
        case "torch._utils._rebuild_tensor_v2":
            guard args.count == 6 || args.count == 7, case .storage(let storage) = args[0], case .int(let offset) = args[1],
                  let shape = ints(args[2]), let strides = ints(args[3]) else {
                throw fail(at, "_rebuild_tensor_v2 takes (storage, offset, size, stride, ...)")
            }
            return .tensor(try tensor(storage, offset, shape, strides, at))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let data = args.first, case .tensor = data else { throw fail(at, "\(g.name) takes a tensor") }
            return data
        case "_codecs.encode":
            guard args.count == 2, case .string(let text) = args[0], case .string(let encoding) = args[1],
                  ["latin1", "latin-1"].contains(encoding.lowercased()) else {
                throw fail(at, "_codecs.encode takes (str, 'latin1')")
            }
            var out: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard scalar.value <= 0xFF else { throw fail(at, "_codecs.encode: U+\(String(scalar.value, radix: 16)) is not latin-1") }
                out.append(UInt8(scalar.value))
            }
            return .bytes(out)
        default:
            throw fail(at, "\(g.name) is a storage type, not a callable")
        }
    }

    /// A persistent id `('storage', torch.<T>Storage, key, location, numel)`.
    private func storage(_ pid: PickleValue, _ at: Int) throws(CheckpointError) -> StorageRef {
        guard case .tuple(let t) = pid, t.items.count == 5, t.items[0].string == "storage",
              case .global(let type) = t.items[1], case .string(let key) = t.items[2], case .int(let count) = t.items[4] else {
            throw fail(at, "persistent id is not ('storage', type, key, location, numel)")
        }
        guard type.name.hasPrefix("torch."), let dtype = TorchDType(rawValue: String(type.name.dropFirst(6))) else {
            throw fail(at, "\(type.name) is not a storage type")
        }
        guard count >= 0, count <= Int.max / 8 else { throw fail(at, "storage '\(key)' has \(count) elements") }
        let ref = StorageRef(key: key, dtype: dtype, count: count)
        if let seen = storages[key], seen != ref {
            throw fail(at, "storage '\(key)' is named as \(seen.dtype.rawValue) x \(seen.count) and as \(dtype.rawValue) x \(count)")
        }
        storages[key] = ref
        return ref
    }

    /// A strided view that must lie inside its storage; sizes are checked without overflow.
    private func tensor(_ storage: StorageRef, _ offset: Int, _ shape: [Int], _ strides: [Int], _ at: Int) throws(CheckpointError) -> TensorRecord {
        guard shape.count == strides.count, shape.count <= 16, offset >= 0, shape.allSatisfy({ $0 >= 0 }),
              strides.allSatisfy({ $0 >= 0 }) else {
            throw fail(at, "tensor of size \(shape), stride \(strides), offset \(offset)")
        }
        var count = 1, last = offset
        for (size, stride) in zip(shape, strides) {
            let (c, o1) = count.multipliedReportingOverflow(by: size)
            let (extent, o2) = (size == 0 ? 0 : size - 1).multipliedReportingOverflow(by: stride)
            let (l, o3) = last.addingReportingOverflow(extent)
            guard !o1, !o2, !o3 else { throw fail(at, "tensor of size \(shape) overflows") }
            count = c
            last = l
        }
        guard count == 0 || last < storage.count else {
            throw fail(at, "tensor of size \(shape), stride \(strides), offset \(offset) reads past its storage of \(storage.count)")
        }
        return TensorRecord(storage: storage, offset: offset, shape: shape, strides: strides)
    }

    private func ints(_ value: PickleValue) -> [Int]? {
        guard let items = value.items else { return nil }
        var out: [Int] = []
        for item in items {
            guard case .int(let i) = item else { return nil }
            out.append(i)
        }
        return out
    }

    // MARK: - Stack and memo

    private func pop(_ at: Int) throws(CheckpointError) -> PickleValue {
        guard let v = stack.popLast() else { throw fail(at, "stack underflow") }
        return v
    }

    private func top(_ at: Int) throws(CheckpointError) -> PickleValue {
        guard let v = stack.last else { throw fail(at, "stack underflow") }
        return v
    }

    private func popMark(_ at: Int) throws(CheckpointError) -> [PickleValue] {
        guard let outer = metastack.popLast() else { throw fail(at, "no MARK to pop to") }
        defer { stack = outer }
        return stack
    }

    private func list(_ at: Int) throws(CheckpointError) -> PickleList {
        guard case .list(let l) = try top(at) else { throw fail(at, "APPEND to \(try top(at).typeName)") }
        return l
    }

    private func setItems(_ flat: [PickleValue], _ at: Int) throws(CheckpointError) {
        guard case .dict(let d) = try top(at) else { throw fail(at, "SETITEM on \(try top(at).typeName)") }
        guard flat.count % 2 == 0 else { throw fail(at, "SETITEMS with an odd number of items") }
        for i in stride(from: 0, to: flat.count, by: 2) {
            guard let key = PickleDict.Key(flat[i]) else { throw fail(at, "a dict key of type \(flat[i].typeName)") }
            d.set(key, flat[i + 1])
        }
    }

    private func put(_ index: Int, _ at: Int) throws(CheckpointError) { memo[index] = try top(at) }

    private func get(_ index: Int, _ at: Int) throws(CheckpointError) {
        guard let v = memo[index] else { throw fail(at, "memo \(index) is unset") }
        stack.append(v)
    }

    // MARK: - Reading

    private func byte() throws(CheckpointError) -> UInt8 {
        let one = try take(1)
        return one[one.startIndex]
    }

    private func take(_ count: Int) throws(CheckpointError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else { throw fail(position, "truncated: \(count) bytes wanted") }
        defer { position += count }
        return bytes[position..<position + count]
    }

    private func littleEndian(_ count: Int) throws(CheckpointError) -> UInt64 {
        try take(count).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A length field, which must fit what is left of the pickle.
    private func length(_ count: Int, _ at: Int) throws(CheckpointError) -> Int {
        let n = try littleEndian(count)
        guard n <= UInt64(bytes.count - position) else { throw fail(at, "a length of \(n) runs past the end") }
        return Int(n)
    }

    /// A two's-complement little-endian integer of at most 8 bytes.
    private func long(count: Int, _ at: Int) throws(CheckpointError) -> Int {
        guard count <= 8 else { throw fail(at, "an integer of \(count) bytes") }
        guard count > 0 else { return 0 }
        let raw = try littleEndian(count)
        let shift = UInt64(64 - 8 * count)
        return Int(bitPattern: UInt(raw << shift)) >> shift
    }

    private func utf8(count: Int, _ at: Int) throws(CheckpointError) -> String {
        guard let s = String(validating: try take(count), as: UTF8.self) else { throw fail(at, "a string that is not UTF-8") }
        return s
    }

    /// A newline-terminated ASCII name of GLOBAL.
    private func line(_ at: Int) throws(CheckpointError) -> String {
        guard let end = bytes[position...].prefix(256).firstIndex(of: 0x0A) else { throw fail(at, "GLOBAL name without a newline") }
        let text = try utf8(count: end - position, at)
        position += 1
        return text
    }

    private func fail(_ at: Int, _ reason: String) -> CheckpointError { .pickle(offset: at, reason: reason) }
}

/// Owns every container an unpickling made and empties them all at the end, so a deep or
/// cyclic structure is released without recursion or leaks.
package final class PickleArena: @unchecked Sendable {
    private var lists: [PickleList] = []
    private var dicts: [PickleDict] = []

    func list(_ items: [PickleValue] = []) -> PickleList {
        let l = PickleList(items)
        lists.append(l)
        return l
    }

    func dict() -> PickleDict {
        let d = PickleDict()
        dicts.append(d)
        return d
    }

    deinit {
        for l in lists { l.items = [] }
        for d in dicts { d.removeAll() }
    }
}
