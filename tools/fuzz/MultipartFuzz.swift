// libFuzzer harness: a multipart/form-data body. The bytes before the first newline are the
// boundary parameter of the Content-Type (quoted, empty or malformed ones included); the rest is
// the body.

@_cdecl("LLVMFuzzerTestOneInput")
public func multipartFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
    let parameter = String(decoding: bytes[..<newline], as: UTF8.self)
    let body = Array(bytes[min(newline + 1, bytes.count)...])
    guard let form = try? MultipartFormData(body: body, contentType: "multipart/form-data; boundary=\(parameter)") else { return 0 }
    var total = 0
    for part in form.parts { total += part.body.count }
    precondition(total <= body.count, "parts hold more bytes than the body")
    return 0
}
