import Synchronization

/// Packed copies of one layer's constant operands (bf16 or int8), each made the first time the
/// layer runs in that precision and kept; keyed by the layer's own numbering (e.g. a Winograd point).
public final class PackCache: Sendable {
    private let bf16Packs = Mutex<[Int: BF16Matrix]>([:])
    private let int8Packs = Mutex<[Int: Int8Matrix]>([:])

    public init() {}

    /// The bf16 pack under `key`, made by `make` once.
    func bf16(_ key: Int, _ make: () -> BF16Matrix) -> BF16Matrix { Self.get(bf16Packs, key, make) }

    /// The int8 pack under `key`, made by `make` once.
    func int8(_ key: Int, _ make: () -> Int8Matrix) -> Int8Matrix { Self.get(int8Packs, key, make) }

    private static func get<T>(_ packs: borrowing Mutex<[Int: T]>, _ key: Int, _ make: () -> T) -> T {
        packs.withLock { packs in
            if let hit = packs[key] { return hit }
            let pack = make()
            packs[key] = pack
            return pack
        }
    }
}
