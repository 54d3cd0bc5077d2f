import Foundation

// libFuzzer harness: a `.safetensors` file (header length, JSON header, data) opened as a model
// directory's weights are, then every tensor decoded.

let fuzzPath = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory())
    + "segserve-fuzz-\(getpid()).safetensors"
/// Set, every input is a finding: shows a failing run is reported (tools/tests/test_fuzz.py).
let selfTest = ProcessInfo.processInfo.environment["SEGSERVE_FUZZ_SELF_TEST"] != nil

@_cdecl("LLVMFuzzerTestOneInput")
public func safeTensorsFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    precondition(!selfTest, "SEGSERVE_FUZZ_SELF_TEST")
    guard FileManager.default.createFile(atPath: fuzzPath, contents: Data(bytes: data, count: size)) else { return 0 }
    defer { unlink(fuzzPath) }
    guard let file = try? SafeTensorsFile(path: fuzzPath) else { return 0 }
    for name in file.names {
        guard let tensor = try? file.tensor(name) else { continue }
        precondition(tensor.count * 2 <= size, "a tensor holds no more elements than the file has bytes")
    }
    return 0
}
