import Foundation

/// The few socket system calls the server makes, with errors turned into `HTTPServerError`.
enum PosixSocket {
    /// Resolves `host` and returns a non-blocking listening socket bound to the first address that works.
    static func listen(host: String, port: Int, backlog: Int32) throws(HTTPServerError) -> (fd: Int32, address: SocketAddress) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw .addressResolution(host: host, port: port, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        var lastError = HTTPServerError.addressResolution(host: host, port: port, reason: "no usable address")
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            do {
                return try bindAndListen(info.pointee, host: host, port: port, backlog: backlog)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func bindAndListen(
        _ info: addrinfo, host: String, port: Int, backlog: Int32
    ) throws(HTTPServerError) -> (fd: Int32, address: SocketAddress) {
        let fd = socket(info.ai_family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socketCall(operation: "socket", host: host, port: port, errno: errno) }
        func fail(_ operation: String) -> HTTPServerError {
            let error = HTTPServerError.socketCall(operation: operation, host: host, port: port, errno: errno)
            close(fd)
            return error
        }
        var one: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else { throw fail("setsockopt") }
        guard bind(fd, info.ai_addr, info.ai_addrlen) == 0 else { throw fail("bind") }
        guard Glibc.listen(fd, backlog) == 0 else { throw fail("listen") }
        guard let address = localAddress(of: fd) else { throw fail("getsockname") }
        return (fd, address)
    }

    /// Accepts one pending connection as a non-blocking socket with Nagle off; nil and `errno` set when none.
    static func accept(_ listener: Int32) -> (fd: Int32, remote: SocketAddress?)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &length) }
        }
        guard fd >= 0 else { return nil }
        // Glibc's module does not export accept4, so the flags are set afterwards.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        // Responses leave in one write; Nagle would only delay pipelined ones.
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return (fd, address(from: storage))
    }

    static func localAddress(of fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return status == 0 ? address(from: storage) : nil
    }

    /// The numeric host and port of an IPv4 or IPv6 socket address.
    static func address(from storage: sockaddr_storage) -> SocketAddress? {
        var storage = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var raw = address.pointee.sin_addr
                    guard let host = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count)) else { return nil }
                    return SocketAddress(host: String(cString: host), port: Int(UInt16(bigEndian: address.pointee.sin_port)), family: .ipv4)
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    guard let host = inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) else { return nil }
                    return SocketAddress(host: String(cString: host), port: Int(UInt16(bigEndian: address.pointee.sin6_port)), family: .ipv6)
                }
            }
        default:
            return nil
        }
    }

    /// Sends `head` then `body` from `offset` (counted over both) in one call; returns bytes sent or -1 with errno.
    static func send(_ fd: Int32, head: [UInt8], body: [UInt8], from offset: Int) -> Int {
        head.withUnsafeBytes { headBytes in
            body.withUnsafeBytes { bodyBytes in
                withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors in
                    var count = 0
                    if offset < headBytes.count {
                        vectors[count] = iovec(headBytes, from: offset)
                        count += 1
                    }
                    let bodyStart = max(0, offset - headBytes.count)
                    if bodyStart < bodyBytes.count {
                        vectors[count] = iovec(bodyBytes, from: bodyStart)
                        count += 1
                    }
                    var message = msghdr()
                    message.msg_iov = vectors.baseAddress
                    message.msg_iovlen = count
                    return Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
                }
            }
        }
    }
}

fileprivate extension iovec {
    /// The bytes of `buffer` from `start` on; sendmsg only reads through the mutable pointer.
    init(_ buffer: UnsafeRawBufferPointer, from start: Int) {
        self.init(iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress! + start), iov_len: buffer.count - start)
    }
}
