// libFuzzer harness: a callback_url as a client sends it. Parsing never traps; what parses
// parses again to the same URL from its own text, and its host's address (if a literal) prints
// back to an address that parses to the same bytes.

@_cdecl("LLVMFuzzerTestOneInput")
public func callbackURLFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let url = try? CallbackURL(parsing: text) else { return 0 }
    precondition((1...65535).contains(url.port) && (url.target.hasPrefix("/") || url.target.hasPrefix("?")))
    // The canonical form may add a "/" to a URL at the length limit; below it, it parses back.
    if url.text.utf8.count <= CallbackURL.maxLength {
        precondition((try? CallbackURL(parsing: url.text)) == url, "\(url.text) does not parse back to itself")
    }
    if case .address(let address) = url.host {
        let printed = address.description
        precondition((address.isIPv6 ? NetworkAddress(ipv6: printed) : NetworkAddress(ipv4: printed)) == address, printed)
        _ = address.isPublic
    }
    return 0
}
