import Glibc

/// An IPv4 or IPv6 address, and whether a callback may reach it: loopback, private, link-local
/// (cloud metadata at 169.254.169.254 among them), shared, multicast, documentation and other
/// special-purpose ranges are not public, so a callback URL cannot make the service a proxy into
/// its own network unless an operator allows a range (`callbacks.allowed_networks`).
public struct NetworkAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 bytes, network order.
    package let bytes: [UInt8]

    package var isIPv6: Bool { bytes.count == 16 }

    /// Four decimal numbers 0-255, no leading zeros.
    public init?(ipv4 text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part.count == 1 || part.first != "0", let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        self.bytes = bytes
    }

    /// An IPv6 address in any RFC 4291 text form, without a zone id.
    public init?(ipv6 text: String) {
        guard !text.contains("%"), text.utf8.count <= 45 else { return nil }
        var raw = in6_addr()
        guard inet_pton(AF_INET6, text, &raw) == 1 else { return nil }
        bytes = withUnsafeBytes(of: &raw) { Array($0) }
    }

    package init(bytes: [UInt8]) {
        precondition(bytes.count == 4 || bytes.count == 16)
        self.bytes = bytes
    }

    public var description: String {
        if !isIPv6 { return bytes.map(String.init).joined(separator: ".") }
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The IPv4 address an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) address carries.
    package var embeddedIPv4: NetworkAddress? {
        guard isIPv6 else { return nil }
        let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
        let nat64 = bytes[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]
        return mapped || nat64 ? NetworkAddress(bytes: Array(bytes[12...])) : nil
    }

    /// True for an address anyone on the internet could be: none of the special-purpose ranges.
    package var isPublic: Bool {
        if let inner = embeddedIPv4 { return inner.isPublic }
        return !(isIPv6 ? Self.specialIPv6 : Self.specialIPv4).contains { $0.contains(self) }
    }

    /// This host, private networks, shared address space, link-local, documentation, benchmark,
    /// multicast and reserved ranges (IANA's special-purpose registries).
    package static let specialIPv4: [Network] = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                                         "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
                                         "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"]
        .map { Network(parsing: $0)! }
    package static let specialIPv6: [Network] = ["::/127", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "fc00::/7",
                                         "fe80::/10", "fec0::/10", "ff00::/8"].map { Network(parsing: $0)! }

    /// The addresses `host` resolves to (A and AAAA), empty when it does not resolve.
    public static func resolve(_ host: String) -> [NetworkAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var found: [NetworkAddress] = []
        for entry in sequence(first: first, next: { $0.pointee.ai_next }) {
            guard let address = entry.pointee.ai_addr else { continue }
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    var raw = $0.pointee.sin_addr
                    found.append(NetworkAddress(bytes: withUnsafeBytes(of: &raw) { Array($0) }))
                }
            case AF_INET6:
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    var raw = $0.pointee.sin6_addr
                    found.append(NetworkAddress(bytes: withUnsafeBytes(of: &raw) { Array($0) }))
                }
            default: continue
            }
        }
        var seen = Set<NetworkAddress>()
        return found.filter { seen.insert($0).inserted }
    }
}

/// An address range in CIDR form (`10.0.0.0/8`, `fd00::/8`).
package struct Network: Sendable, Equatable, CustomStringConvertible {
    package let address: NetworkAddress
    package let prefixLength: Int

    package init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = NetworkAddress(ipv4: String(parts[0])) ?? NetworkAddress(ipv6: String(parts[0])),
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let length = Int(parts[1]),
              (0...(address.bytes.count * 8)).contains(length) else { return nil }
        self.address = address
        prefixLength = length
    }

    package func contains(_ other: NetworkAddress) -> Bool {
        guard other.bytes.count == address.bytes.count else { return false }
        for bit in 0..<prefixLength where (other.bytes[bit / 8] ^ address.bytes[bit / 8]) & (0x80 >> (bit % 8)) != 0 { return false }
        return true
    }

    package var description: String { "\(address)/\(prefixLength)" }
}
