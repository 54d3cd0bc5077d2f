import Crypto
import ServiceCore

extension Digest {
    /// Lower-case hex, as stored for idempotency digests and API key hashes.
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}

/// A strong entity tag for `body`: its SHA-256, so the tag changes exactly when the bytes do.
func entityTag(of body: [UInt8]) -> String { "\"\(SHA256.hash(data: body).hex.prefix(32))\"" }
