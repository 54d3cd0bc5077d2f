import Foundation

// libFuzzer harness: `data.pkl` bytes run through the restricted unpickler a checkpoint is read
// with, then the result walked as the converter walks it.

/// Set, every input is a finding: shows a failing run is reported (tools/tests/test_fuzz.py).
let selfTest = ProcessInfo.processInfo.environment["SEGSERVE_FUZZ_SELF_TEST"] != nil

@_cdecl("LLVMFuzzerTestOneInput")
public func pickleFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    precondition(!selfTest, "SEGSERVE_FUZZ_SELF_TEST")
    guard let (root, storages, arena) = try? Unpickler.load(Array(UnsafeBufferPointer(start: data, count: size))) else { return 0 }
    withExtendedLifetime(arena) {
        for storage in storages.values { precondition(storage.count >= 0) }
        let parts = root.dict?.stringEntries.map(\.1) ?? []
        for value in parts + parts.flatMap({ $0.dict?.stringEntries.map(\.1) ?? [] }) {
            guard let tensor = value.tensor else { _ = value.text; continue }
            guard tensor.count > 0 else { continue }
            let last = zip(tensor.shape, tensor.strides).reduce(tensor.offset) { $0 + ($1.0 - 1) * $1.1 }
            precondition(last < tensor.storage.count, "every element of a view lies in its storage")
        }
    }
    return 0
}
