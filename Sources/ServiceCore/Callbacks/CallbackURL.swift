/// A `callback_url` as segserve accepts it, parsed strictly: http or https, a host that is a DNS
/// name, a dotted-quad IPv4 address or a bracketed IPv6 address, an optional port, and a path
/// and query of printable ASCII. Anything a URL parser might read two ways (NUL and other
/// control bytes, user info, integer or short-form IPv4 hosts such as `2130706433` or
/// `127.1`, zone ids, fragments) is refused with the reason, before a job exists.
package struct CallbackURL: Sendable, Equatable {
    package enum Host: Sendable, Equatable {
        case name(String)
        case address(NetworkAddress)
    }

    package struct Invalid: Error, Equatable {
        package let reason: String
    }

    package let isHTTPS: Bool
    package let host: Host
    package let port: Int
    /// The path and query, at least "/".
    package let target: String

    package static let maxLength = 512

    package init(parsing text: String) throws(Invalid) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= Self.maxLength else { throw Invalid(reason: "must be 1 to \(Self.maxLength) characters") }
        if let bad = bytes.first(where: { $0 < 0x21 || $0 > 0x7E }) {
            throw Invalid(reason: "holds byte 0x\(String(bad, radix: 16)); only printable ASCII without spaces is allowed")
        }
        guard !bytes.contains(UInt8(ascii: "#")) else { throw Invalid(reason: "has a fragment (#)") }
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            (isHTTPS, rest) = (true, text.dropFirst(8))
        } else if lower.hasPrefix("http://") {
            (isHTTPS, rest) = (false, text.dropFirst(7))
        } else {
            throw Invalid(reason: "must start with http:// or https://")
        }
        let end = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<end]
        let tail = rest[end...]
        guard !authority.contains("@") else { throw Invalid(reason: "has user info (@); credentials do not belong in a callback URL") }
        var hostText = authority[...]
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw Invalid(reason: "has an IPv6 address without its closing ]") }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Invalid(reason: "has characters after its IPv6 address") }
                portText = after.dropFirst()
            }
            guard let address = NetworkAddress(ipv6: String(hostText)) else {
                throw Invalid(reason: "has '\(hostText)', not an IPv6 address (zone ids are not allowed)")
            }
            host = .address(address)
        } else {
            if let colon = authority.firstIndex(of: ":") {
                hostText = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            }
            host = try Self.host(String(hostText))
        }
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
                  let value = Int(portText), (1...65535).contains(value) else {
                throw Invalid(reason: "has port '\(portText)'; a port is 1 to 65535")
            }
            port = value
        } else {
            port = isHTTPS ? 443 : 80
        }
        target = tail.isEmpty ? "/" : String(tail)
        try Self.checkTarget(target)
    }

    /// The host part: a dotted quad, or a DNS name of letters, digits and hyphens.
    private static func host(_ text: String) throws(Invalid) -> Host {
        guard !text.isEmpty else { throw Invalid(reason: "has no host") }
        let name = text.lowercased()
        if name.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
            guard let address = NetworkAddress(ipv4: name) else {
                throw Invalid(reason: "has host '\(text)': a numeric host must be four decimal numbers 0-255 (a.b.c.d)")
            }
            return .address(address)
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        let trimmed = labels.last == "" && labels.count > 1 ? labels.dropLast() : labels[...]  // a trailing dot is the root
        guard name.utf8.count <= 253, !trimmed.isEmpty, trimmed.allSatisfy({ label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }) else {
            throw Invalid(reason: "has host '\(text)', not a DNS name (letters, digits and hyphens in dot-separated labels)")
        }
        guard let top = trimmed.last, !top.allSatisfy(\.isNumber) else {
            throw Invalid(reason: "has host '\(text)', whose last label is a number: neither a name nor an address")
        }
        return .name(String(trimmed.joined(separator: ".")))
    }

    /// A path and query of RFC 3986 characters, with well-formed %-escapes.
    private static func checkTarget(_ target: String) throws(Invalid) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?%".utf8)
        let bytes = Array(target.utf8)
        var i = 0
        while i < bytes.count {
            guard allowed.contains(bytes[i]) else { throw Invalid(reason: "has '\(Character(Unicode.Scalar(bytes[i])))' in its path or query") }
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, bytes[i + 1].isHexDigit, bytes[i + 2].isHexDigit else {
                    throw Invalid(reason: "has a % not followed by two hex digits")
                }
                i += 2
            }
            i += 1
        }
    }

    /// The host as `callbacks.allowed_hosts` lists it: a name, or an address without brackets.
    package var hostName: String {
        switch host {
        case .name(let name): name
        case .address(let address): "\(address)"
        }
    }

    /// The host as it goes into a URL and a Host field.
    package var hostText: String {
        switch host {
        case .name(let name): name
        case .address(let address): address.isIPv6 ? "[\(address)]" : "\(address)"
        }
    }

    /// The Host field of a delivery: the host, with the port when it is not the scheme's default.
    package var hostField: String { port == (isHTTPS ? 443 : 80) ? hostText : "\(hostText):\(port)" }

    /// The URL in canonical form: lower-case scheme and name, the port only when not the default.
    package var text: String { "\(isHTTPS ? "https" : "http")://\(hostField)\(target)" }
}

private extension UInt8 {
    var isHexDigit: Bool { (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self) }
}
