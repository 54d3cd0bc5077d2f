import Foundation
import Imaging

/// The repository's root folder, for tests that check files the project ships (openapi.yaml, config/).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A multipart/form-data body.
public func multipart(_ parts: [(name: String, contentType: String?, bytes: [UInt8])]) -> (contentType: String, bytes: [UInt8]) {
    let boundary = "segserve-test-\(UUID().uuidString)"
    var body: [UInt8] = []
    for part in parts {
        var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
        if part.contentType != "application/json" { head += "; filename=\"\(part.name).png\"" }
        head += "\r\n"
        if let type = part.contentType { head += "Content-Type: \(type)\r\n" }
        body += Array((head + "\r\n").utf8) + part.bytes + Array("\r\n".utf8)
    }
    body += Array("--\(boundary)--\r\n".utf8)
    return ("multipart/form-data; boundary=\(boundary)", body)
}

/// A deterministic test picture: smooth gradients with a few blocks.
public func testImage(width: Int = 80, height: Int = 60) -> RGBImage {
    var image = RGBImage(width: width, height: height)
    for y in 0..<height {
        for x in 0..<width {
            let i = 3 * (y * width + x)
            let block = (x / 20 + y / 20) % 3
            image.pixels[i] = UInt8((x * 255) / max(1, width - 1))
            image.pixels[i + 1] = UInt8((y * 255) / max(1, height - 1))
            image.pixels[i + 2] = UInt8(block * 100)
        }
    }
    return image
}

public func pngBytes(_ image: RGBImage = testImage()) throws -> [UInt8] { try PNGCodec.encode(image) }
