import Crypto

extension Digest {
    /// Lower-case hex, as stored for idempotency digests and API key hashes.
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}
