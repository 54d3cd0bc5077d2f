import Foundation

// libFuzzer harness: a whole checkpoint file (zip archive, data.pkl, storage records) opened as
// `segserve convert` opens it, then every tensor of its top-level dicts read.

let fuzzPath = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory())
    + "segserve-fuzz-\(getpid()).pt"
/// Set, every input is a finding: shows a failing run is reported (tools/tests/test_fuzz.py).
let selfTest = ProcessInfo.processInfo.environment["SEGSERVE_FUZZ_SELF_TEST"] != nil

@_cdecl("LLVMFuzzerTestOneInput")
public func checkpointFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    precondition(!selfTest, "SEGSERVE_FUZZ_SELF_TEST")
    guard FileManager.default.createFile(atPath: fuzzPath, contents: Data(bytes: data, count: size)) else { return 0 }
    defer { unlink(fuzzPath) }
    guard let checkpoint = try? TorchCheckpoint(path: fuzzPath) else { return 0 }
    let parts = checkpoint.root.dict?.stringEntries.map(\.1) ?? []
    for value in parts + parts.flatMap({ $0.dict?.stringEntries.map(\.1) ?? [] }) {
        guard let tensor = value.tensor, let floats = try? checkpoint.floats(tensor, name: "fuzz") else { continue }
        precondition(floats.count == tensor.count, "a tensor reads as many values as its shape holds")
    }
    return 0
}
