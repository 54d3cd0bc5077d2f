// libFuzzer harness: bytes as a client sends them, through `RequestParser` as the event loop
// drives it. The first input byte picks where the stream is split into two reads and whether
// a Content-Length body is taken by `readBodyDirectly` (the socket path); small limits let the
// limit checks fire. Parsed requests that carry multipart bodies are parsed further.

@_cdecl("LLVMFuzzerTestOneInput")
public func requestParserFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    var limits = HTTPServerConfiguration.Limits()
    limits.maxRequestLineBytes = 256
    limits.maxHeaderBytes = 1024
    limits.maxHeaderCount = 16
    limits.maxBodyBytes = 4096
    var parser = RequestParser(limits: limits, budget: BodyMemoryBudget(limit: 8192))
    let control = Int(data[0])
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let split = min(control >> 1, input.count)
    var offset = 0
    func handle(_ event: RequestParser.Event?) {
        guard case .request(let request) = event else { return }
        precondition(request.body.count <= limits.maxBodyBytes, "body over the limit")
        if let type = request.headers["Content-Type"], type.lowercased().hasPrefix("multipart/") {
            _ = try? request.multipartFormData()
        }
    }
    for end in [split, input.count] {
        while offset < end {
            if control & 1 == 1, parser.acceptsDirectBodyRead {
                let available = end - offset
                let read = parser.readBodyDirectly { buffer in
                    let n = min(buffer.count, available)
                    buffer.baseAddress!.copyMemory(from: input.baseAddress! + offset, byteCount: n)
                    return n
                }
                if let read, read.count > 0 {
                    offset += read.count
                    handle(read.request.map { .request($0) })
                    continue
                }
            }
            do {
                let (consumed, event) = try parser.parse(UnsafeRawBufferPointer(rebasing: input[offset..<end]))
                precondition(consumed > 0 || event != nil, "the parser made no progress")
                offset += consumed
                handle(event)
            } catch {
                return 0
            }
        }
    }
    return 0
}
