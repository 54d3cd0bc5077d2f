import Foundation
import HTTPServer
import ServiceCore

/// The browser page's files (HTML, CSS, JavaScript, images), read once from the web folder and
/// served from memory at `/` (index.html) and `/ui/<file>`.
struct WebAssets: Sendable {
    struct Asset: Sendable {
        let contentType: String
        let body: [UInt8]
        let etag: String
    }

    private let files: [String: Asset]

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png", "json": "application/json",
    ]

    /// Every file directly in `folder` with a known extension; none when the folder is missing.
    init(folder: String) {
        var files: [String: Asset] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for name in names {
            let ext = (name as NSString).pathExtension.lowercased()
            guard let type = Self.contentTypes[ext],
                  let data = FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent(name)) else { continue }
            files[name] = Asset(contentType: type, body: [UInt8](data), etag: entityTag(of: [UInt8](data)))
        }
        self.files = files
    }

    var isEmpty: Bool { files.isEmpty }

    /// The file's response; revalidated on every load (a 304 while its ETag holds), so a new
    /// version is seen at once.
    func response(_ name: String) -> HTTPResponse? {
        guard let asset = files[name] else { return nil }
        return HTTPResponse(headers: ["Content-Type": asset.contentType, "Cache-Control": "no-cache", "ETag": asset.etag],
                            body: asset.body)
    }
}
