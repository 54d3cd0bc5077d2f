import Foundation
import XCTest
import ZIPFoundation
@testable import Conversion

final class TorchCheckpointTests: XCTestCase {
    var fixture: String { Bundle.module.url(forResource: "Fixtures/tensors", withExtension: "pt")!.path }

    struct Expected: Decodable {
        struct Tensor: Decodable { let shape: [Int]; let values: [Float] }
        let prefix: String
        let tensors: [String: Tensor]
    }

    /// Every tensor of a torch.save file, of every dtype and layout, reads as torch's to(float32) gives it.
    func testTensorsOfEveryKindReadAsTorchReadsThem() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Bundle.module.url(forResource: "Fixtures/tensors", withExtension: "json")!))
        let checkpoint = try TorchCheckpoint(path: fixture)
        let state = try XCTUnwrap(checkpoint.root.dict?["state"]?.dict)
        XCTAssertEqual(state.stringEntries.map(\.0).sorted(), expected.tensors.keys.sorted())
        for (name, value) in state.stringEntries {
            let tensor = try XCTUnwrap(value.tensor, name)
            XCTAssertEqual(tensor.shape, expected.tensors[name]!.shape, name)
            XCTAssertEqual(try checkpoint.floats(tensor, name: name), expected.tensors[name]!.values, name)
        }
        XCTAssertEqual(state["head"]?.tensor?.storage, state["tail"]?.tensor?.storage, "views of one storage share it")
        guard case .int(3) = checkpoint.root.dict?["step"] else { return XCTFail("step") }
        XCTAssertEqual(checkpoint.root.dict?["p"]?.dict?["name"]?.string, "fixture")
    }

    // MARK: - Hostile archives

    /// The fixture's records, rewritten into a new archive after `edit`.
    func rewritten(_ edit: (inout [(path: String, data: Data, compressed: Bool)]) -> Void) throws -> String {
        let source = try Archive(url: URL(fileURLWithPath: fixture), accessMode: .read)
        var records: [(path: String, data: Data, compressed: Bool)] = []
        for entry in source {
            var data = Data()
            _ = try source.extract(entry) { data.append($0) }
            records.append((entry.path, data, false))
        }
        edit(&records)
        let path = NSTemporaryDirectory() + "hostile-\(UUID().uuidString).pt"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
        for r in records {
            try archive.addEntry(with: r.path, type: .file, uncompressedSize: Int64(r.data.count),
                                 compressionMethod: r.compressed ? .deflate : .none) { position, size in
                r.data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        return path
    }

    func archiveError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try TorchCheckpoint(path: path)
            XCTFail("opened", file: file, line: line)
        } catch let CheckpointError.archive(_, reason) {
            return reason
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
        return ""
    }

    /// A fuzzed archive whose central directory points past 2^63 (ZIPFoundation trapped on it).
    func testOffsetsPastTheFileAreErrors() throws {
        let path = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/hostile-offset", withExtension: "pt")).path
        XCTAssertFalse(archiveError(path).isEmpty)
    }

    func testTheFixtureRewrittenStillReads() throws {
        XCTAssertNoThrow(try TorchCheckpoint(path: try rewritten { _ in }))
    }

    /// A compressed record is refused before anything is inflated, so no zip bomb expands.
    func testCompressedRecordsAreRefused() throws {
        let bomb = try rewritten { records in
            for i in records.indices where records[i].path.hasSuffix("/data.pkl") { records[i].compressed = true }
        }
        XCTAssertTrue(archiveError(bomb).contains("compressed"))
        let storage = try rewritten { records in
            records.append(("tensors/data/huge", Data(count: 50 << 20), true))  // 50 MiB of zeros in a few KiB
            for i in records.indices where records[i].path == "tensors/data/0" { records[i].compressed = true }
        }
        let checkpoint = try TorchCheckpoint(path: storage)
        let tensor = try XCTUnwrap(checkpoint.root.dict?["state"]?.dict?["conv.weight"]?.tensor)
        XCTAssertThrowsError(try checkpoint.floats(tensor, name: "conv.weight")) { error in
            guard case CheckpointError.archive(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("compressed"), reason)
        }
    }

    /// A storage record shorter or longer than the pickle says, or missing, is refused at open.
    func testRecordSizesMustMatchTheirStorages() throws {
        for change in [{ (d: inout Data) in d.removeLast(4) }, { (d: inout Data) in d.append(0) }] {
            let path = try rewritten { records in
                for i in records.indices where records[i].path == "tensors/data/0" { change(&records[i].data) }
            }
            XCTAssertTrue(archiveError(path).contains("bytes"))
        }
        let missing = try rewritten { $0.removeAll { $0.path == "tensors/data/1" } }
        XCTAssertTrue(archiveError(missing).contains("no record"))
    }

    func testWhatIsNotACheckpointIsNamed() throws {
        let text = NSTemporaryDirectory() + "not-a-zip-\(UUID().uuidString).pt"
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: text))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: text) }
        XCTAssertTrue(archiveError(text).contains("not a zip"))
        XCTAssertTrue(archiveError(try rewritten { $0.removeAll { $0.path.hasSuffix("data.pkl") } }).contains("data.pkl"))
        let bigEndian = try rewritten { records in
            for i in records.indices where records[i].path.hasSuffix("/byteorder") { records[i].data = Data("big".utf8) }
        }
        XCTAssertTrue(archiveError(bigEndian).contains("byte order"))
        XCTAssertTrue(archiveError(NSTemporaryDirectory() + "absent-\(UUID().uuidString).pt").contains("not a zip"))
    }

    /// A byte changed on disk after the archive was written is caught by the record's CRC-32.
    func testDamagedRecordsAreCaught() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture)))
        let cpu = Array("cpu".utf8)
        let at = try XCTUnwrap((0..<bytes.count - 3).first { Array(bytes[$0..<$0 + 3]) == cpu }, "data.pkl names the storages' location")
        bytes[at + 2] = UInt8(ascii: "v")
        let path = NSTemporaryDirectory() + "damaged-\(UUID().uuidString).pt"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertTrue(archiveError(path).contains("damaged"))
    }

    /// A checkpoint that calls a function when unpickled (as a class with __reduce__ makes) is
    /// refused naming the function.
    func testAPickleThatRunsCodeIsRefused() throws {
        let path = try rewritten { records in
            for i in records.indices where records[i].path.hasSuffix("/data.pkl") {
                records[i].data = Data([0x80, 2] + Array("cposix\nsystem\n".utf8) + [0x8C, 2] + Array("id".utf8) + [0x85, 0x52, 0x2E])
            }
        }
        XCTAssertThrowsError(try TorchCheckpoint(path: path)) { XCTAssertEqual($0 as? CheckpointError, .forbiddenGlobal("posix.system")) }
    }
}
