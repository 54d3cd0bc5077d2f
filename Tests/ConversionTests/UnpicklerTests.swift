import Foundation
import XCTest
@testable import Conversion

final class UnpicklerTests: XCTestCase {
    func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: XCTUnwrap(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))))
    }

    func load(_ bytes: [UInt8]) throws -> PickleValue { try Unpickler.load(bytes).root }

    func pickleError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> CheckpointError? {
        do {
            _ = try Unpickler.load(bytes)
            XCTFail("loaded", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    /// What Python's pickle writes at protocols 2, 4 and 5 comes back as the same values
    /// (written out as json.dump does, tuples and bytes as lists).
    func testPlainValuesOfEveryProtocol() throws {
        let expected = String(decoding: try fixture("plain.json"), as: UTF8.self)
        for protocolVersion in [2, 4, 5] {
            let (root, _, arena) = try Unpickler.load(try fixture("plain-p\(protocolVersion).pkl"))
            XCTAssertEqual(PythonJSON(root).dumped(), expected, "protocol \(protocolVersion)")
            withExtendedLifetime(arena) {}
        }
    }

    /// Classes and functions outside the allow-list are refused by name before anything runs.
    func testForbiddenGlobalsAreNamed() throws {
        // cos\nsystem\n(S'echo hi'\ntR. — the textbook pickle exploit (protocol 0)
        XCTAssertEqual(pickleError(Array("cos\nsystem\n(S'echo hi'\ntR.".utf8)), .forbiddenGlobal("os.system"))
        // protocol 4: STACK_GLOBAL builtins.eval
        let eval: [UInt8] = [0x80, 4, 0x8C, 8] + Array("builtins".utf8) + [0x8C, 4] + Array("eval".utf8) + [0x93, 0x8C, 1, 0x31, 0x85, 0x52, 0x2E]
        XCTAssertEqual(pickleError(eval), .forbiddenGlobal("builtins.eval"))
        // pickle.dumps(collections.Counter(a=1), protocol=2): a class, not a plain dict
        let counter: [UInt8] = [0x80, 2] + Array("ccollections\nCounter\n".utf8) + [0x7D, 0x85, 0x52, 0x2E]
        XCTAssertEqual(pickleError(counter), .forbiddenGlobal("collections.Counter"))
        // A storage type is allowed in persistent ids but cannot be called.
        let storageCall: [UInt8] = [0x80, 2] + Array("ctorch\nFloatStorage\n".utf8) + [0x29, 0x52, 0x2E]
        guard case .pickle(_, let reason) = pickleError(storageCall) else { return XCTFail() }
        XCTAssertTrue(reason.contains("not a callable"), reason)
    }

    func testOpcodesOutsideTheSubsetAreRefused() {
        // NEWOBJ, INST, OBJ, PERSID (text), EXT1, EMPTY_SET
        for op: UInt8 in [0x81, 0x69, 0x6F, 0x50, 0x82, 0x8F] {
            guard case .pickle(0, let reason) = pickleError([op, 0x2E]) else { return XCTFail("0x\(String(op, radix: 16))") }
            XCTAssertTrue(reason.contains("not allowed"), reason)
        }
        guard case .pickle(_, let reason) = pickleError([0x80, 6, 0x4E, 0x2E]) else { return XCTFail() }
        XCTAssertTrue(reason.contains("protocol 6"), reason)
    }

    /// Every cut of a valid pickle is a typed error, as are lengths that run past the end.
    func testTruncatedAndLyingInputs() throws {
        let whole = try fixture("plain-p2.pkl")
        for cut in 0..<whole.count { XCTAssertNotNil(pickleError(Array(whole[..<cut]))) }
        XCTAssertNotNil(pickleError([0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x61, 0x2E]), "BINUNICODE longer than the input")
        XCTAssertNotNil(pickleError([0x80, 4, 0x8D] + [UInt8](repeating: 0xFF, count: 8) + [0x2E]), "BINUNICODE8 of 2^64-1")
        XCTAssertNotNil(pickleError([0x80, 2, 0x68, 9, 0x2E]), "BINGET of an unset memo")
        XCTAssertNotNil(pickleError([0x80, 2, 0x73, 0x2E]), "SETITEM on an empty stack")
        XCTAssertNotNil(pickleError([0x80, 2, 0x5D, 0x28, 0x4E, 0x73, 0x2E]), "SETITEMS without pairs on a list")
        XCTAssertNotNil(pickleError([0x80, 2, 0x8A, 9] + [UInt8](repeating: 1, count: 9) + [0x2E]), "a 9-byte integer")
        XCTAssertNotNil(pickleError([0x80, 2, 0x58, 2, 0, 0, 0, 0xC3, 0x28, 0x2E]), "a string that is not UTF-8")
        XCTAssertNotNil(pickleError([0x7D, 0x5D, 0x4E, 0x73, 0x2E]), "an unhashable dict key")
    }

    func testIntegersKeepTheirSign() throws {
        // LONG1 of 0xFF (one byte: -1) and of 0x00 0x80 (two bytes: -32768)
        guard case .int(let minusOne) = try load([0x80, 2, 0x8A, 1, 0xFF, 0x2E]) else { return XCTFail() }
        XCTAssertEqual(minusOne, -1)
        guard case .int(let big) = try load([0x80, 2, 0x8A, 2, 0x00, 0x80, 0x2E]) else { return XCTFail() }
        XCTAssertEqual(big, -32768)
    }

    /// A deeply nested list and a list that holds itself load and are released without
    /// recursion (a hostile pickle must not overflow the stack when dropped).
    func testDeepAndCyclicStructuresAreReleased() throws {
        let depth = 300_000
        var deep: [UInt8] = [0x80, 2] + [UInt8](repeating: 0x5D, count: depth) + [UInt8](repeating: 0x61, count: depth - 1) + [0x2E]
        do {
            let (root, _, arena) = try Unpickler.load(deep)
            XCTAssertEqual(root.items?.count, 1)
            withExtendedLifetime(arena) {}
        }
        deep = [0x80, 2, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E]  // l = []; l.append(l)
        let (root, _, arena) = try Unpickler.load(deep)
        guard case .list(let outer) = root, case .list(let inner) = outer.items.first else { return XCTFail() }
        XCTAssertTrue(outer === inner)
        withExtendedLifetime(arena) {}
    }

    /// Tensor views are checked against their storage when the pickle is read.
    func testTensorViewsMustFitTheirStorage() throws {
        func rebuild(count: Int, offset: Int, size: [UInt8], stride: [UInt8], key: String = "0", type: String = "FloatStorage") -> [UInt8] {
            func int32(_ v: Int) -> [UInt8] { [0x4A] + withUnsafeBytes(of: Int32(v).littleEndian, Array.init) }
            func text(_ t: String) -> [UInt8] { [0x8C, UInt8(t.utf8.count)] + Array(t.utf8) }
            func ints(_ values: [UInt8]) -> [UInt8] { [0x28] + values.flatMap { [0x4B, $0] } + [0x74] }
            var b: [UInt8] = [0x80, 2]
            b += Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8)
            b += [0x28, 0x28]
            b += text("storage")
            b += Array("ctorch\n\(type)\n".utf8)
            b += text(key)
            b += text("cpu")
            b += int32(count)
            b += [0x74, 0x51]  // TUPLE, BINPERSID
            b += int32(offset)
            b += ints(size)
            b += ints(stride)
            b += [0x89]
            b += Array("ccollections\nOrderedDict\n".utf8)
            b += [0x29, 0x52, 0x74, 0x52, 0x2E]
            return b
        }
        guard case .tensor(let t) = try load(rebuild(count: 6, offset: 0, size: [2, 3], stride: [3, 1])) else { return XCTFail() }
        XCTAssertEqual(t.shape, [2, 3])
        XCTAssertEqual(t.storage, StorageRef(key: "0", dtype: .float32, count: 6))
        XCTAssertNoThrow(try load(rebuild(count: 6, offset: 0, size: [3, 2], stride: [1, 3])), "a transposed view")
        XCTAssertNoThrow(try load(rebuild(count: 0, offset: 0, size: [0, 3], stride: [3, 1])), "an empty tensor")
        XCTAssertNotNil(pickleError(rebuild(count: 6, offset: 1, size: [2, 3], stride: [3, 1])), "one element past the end")
        XCTAssertNotNil(pickleError(rebuild(count: 6, offset: 0, size: [2, 3], stride: [4, 1])), "a stride past the end")
        XCTAssertNotNil(pickleError(rebuild(count: -1, offset: 0, size: [1], stride: [1])), "a negative storage size")
        XCTAssertNotNil(pickleError(rebuild(count: 6, offset: 0, size: [2, 3], stride: [3, 1], type: "ComplexFloatStorage")))
    }
}

extension PythonJSON {
    /// A pickled value as JSON: tuples as lists, bytes as lists of ints, keys as strings.
    init(_ value: PickleValue) {
        switch value {
        case .none: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .float(let f): self = .float(f)
        case .string(let s): self = .string(s)
        case .bytes(let b): self = .array(b.map { .int(Int($0)) })
        case .list(let l), .tuple(let l): self = .array(l.items.map(PythonJSON.init))
        case .dict(let d):
            self = .object(d.keys.map { key in
                switch key {
                case .string(let s): (s, PythonJSON(d[s]!))
                case .int(let i): (String(i), PythonJSON(d.value(key)!))
                case .none: ("null", PythonJSON(d.value(key)!))
                }
            })
        case .global, .storage, .tensor: self = .string(value.typeName)
        }
    }
}
