/// A numeric IP address and port, as a peer or a bound listener is known.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Sendable { case ipv4, ipv6 }

    /// The numeric host, e.g. `127.0.0.1` or `::1`.
    public var host: String
    public var port: Int
    public var family: Family

    public init(host: String, port: Int, family: Family) {
        self.host = host
        self.port = port
        self.family = family
    }

    /// `host:port`, with IPv6 hosts in brackets (`[::1]:8080`).
    public var description: String {
        family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
