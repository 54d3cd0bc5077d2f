import Crypto
import Foundation
import HTTPServer
import Imaging
import JobStore
import LDMSeg
import Pipeline
import ServiceCore

/// A validated request to queue: everything decodes, sizes agree, options are in range.
struct Submission: Sendable {
    var kind: JobKind
    var options: JobOptions
    var input: JobInput
    /// What the job costs (`JobOptions.cost`), its image's pixels counted.
    var cost: Int
    /// The image's size as shown and the EXIF orientation applied.
    var image: JobImage
    /// SHA-256 of kind, options and every input part: tells a repeat from a different request
    /// under one idempotency key.
    var digest: String
}

/// Turns a POST into a `Submission`, or the precise client error (400, 411, 413, 415, 422).
struct SubmissionDecoder: Sendable {
    let defaults: SegmentationOptions
    /// The model's training steps: jobs run at most this many.
    let trainSteps: Int
    let maxPixels: Int
    /// Segment ids a mask may hold (the model's slots less void).
    let slotCapacity: Int
    /// Whether a `semantic` part can be used (a categories file is configured).
    let acceptsSemantic: Bool
    /// What one job may ask for (`limits.*`).
    var limits = ServiceConfiguration.Limits()
    /// Which hosts a `callback_url` may name (none: callbacks are off).
    var callbacks = ServiceConfiguration.Callbacks()
    /// Host name -> addresses, for the callback address check.
    var resolve: @Sendable (String) -> [NetworkAddress] = NetworkAddress.resolve

    func decode(_ request: HTTPRequest, kind: JobKind) throws(APIError) -> Submission {
        try decode(request, parts: try parts(of: request, kind: kind), kind: kind)
    }

    /// A POST's parts by name (`image` alone for a raw image body): framing and media type
    /// checked, a multipart body parsed; no image decoded. Cheap enough for the request path,
    /// where it picks the decode lane (`declaredPixels`).
    func parts(of request: HTTPRequest, kind: JobKind) throws(APIError) -> [String: [UInt8]] {
        guard request.headers["Content-Length"] != nil || request.headers.contains("Transfer-Encoding") else {
            throw .lengthRequired()
        }
        let mediaType = (request.headers["Content-Type"] ?? "").split(separator: ";").first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch mediaType {
        case "image/png" where kind == .segmentation, "image/jpeg" where kind == .segmentation:
            return ["image": request.body]
        case "multipart/form-data":
            return try formParts(request, kind: kind)
        case "":
            throw .unsupportedMediaType("no Content-Type; send \(kind == .segmentation ? "image/jpeg, image/png or " : "")multipart/form-data")
        default:
            throw .unsupportedMediaType("Content-Type \(mediaType) is not accepted; send \(kind == .segmentation ? "image/jpeg, image/png or " : "")multipart/form-data")
        }
    }

    /// `values` applied over `options` (`JobOptions.apply`), a refusal a 400 `invalid-option`.
    private func apply(_ values: [String: JobOptions.Value], to options: inout JobOptions, source: String) throws(APIError) {
        do { try options.apply(values, source: source, trainSteps: trainSteps) } catch {
            throw .badRequest(error.description, slug: "invalid-option")
        }
    }

    /// The submission of `request`, whose `parts` came from `parts(of:kind:)`.
    func decode(_ request: HTTPRequest, parts: [String: [UInt8]], kind: JobKind) throws(APIError) -> Submission {
        var parts = parts
        var options = JobOptions(defaults, kind: kind)
        let query = try JobOptions.values(fromQuery: request.queryItems)
        try apply(query, to: &options, source: "query")
        if let json = parts.removeValue(forKey: "options") {
            let part = try JobOptions.values(fromJSON: json, source: "options part")
            if let both = part.keys.sorted().first(where: { query[$0] != nil }) {
                throw .badRequest("option '\(both)' is given in the query and in the options part; give it once", slug: "invalid-option")
            }
            try apply(part, to: &options, source: "options part")
        }
        try checkLimits(options)
        if let callback = options.callback {
            let host = callback.hostName
            guard callbacks.allows(host: host) else {
                throw .badRequest(callbacks.allowedHosts.isEmpty ? "callbacks are off on this server (callbacks.allowed_hosts is empty)"
                                  : "callback host \(host) is not allowed here; allowed: \(callbacks.allowedHosts.joined(separator: ", "))",
                                  slug: "callback-not-allowed")
            }
            if case .failure(let refused) = callbacks.address(for: callback, resolve: resolve) {
                throw .badRequest("callback_url \(refused.reason)", slug: "callback-not-allowed")
            }
        }
        guard let imageBytes = parts["image"] else { throw .badRequest("the multipart body has no 'image' part") }
        if kind == .inpainting && parts["mask"] == nil { throw .badRequest("the multipart body has no 'mask' part") }
        if parts["semantic"] != nil && !acceptsSemantic {
            throw .badRequest("a 'semantic' part needs a categories file on the server (categories_path)", slug: "semantic-unavailable")
        }
        let shown: JobImage
        do {
            let image = try InputDecoding.image(imageBytes, maxPixels: maxPixels)
            shown = JobImage(width: image.width, height: image.height, exifOrientation: ImageDecoder.orientation(imageBytes).rawValue)
            if kind == .inpainting, let mask = parts["mask"] {
                _ = try InputDecoding.mask(mask, known: parts["known"], encoding: options.maskEncoding ?? .coco, width: image.width,
                                           height: image.height, maxPixels: maxPixels, slotCapacity: slotCapacity)
            }
            if let semantic = parts["semantic"] {
                _ = try InputDecoding.semantic(semantic, width: image.width, height: image.height, maxPixels: maxPixels)
            }
        } catch {
            throw APIError(error)
        }
        let pixels = shown.width * shown.height
        try checkLimits(options, pixels: pixels)
        let input = JobInput(image: Data(imageBytes), mask: parts["mask"].map { Data($0) }, known: parts["known"].map { Data($0) },
                             semantic: parts["semantic"].map { Data($0) })
        return Submission(kind: kind, options: options, input: input, cost: options.cost(pixels: pixels), image: shown,
                          digest: digest(kind, options, parts))
    }

    /// 400 for a job over the server's limits: its options before the image is decoded, then
    /// with the image's `pixels` counted.
    private func checkLimits(_ options: JobOptions, pixels: Int = 0) throws(APIError) {
        guard options.resolution <= limits.maxResolution else {
            throw .badRequest("option 'resolution' is \(options.resolution); this server allows at most \(limits.maxResolution) (limits.max_resolution)",
                              slug: "over-limit")
        }
        let cost = options.cost(pixels: pixels)
        guard cost <= limits.maxJobCost else {
            throw .badRequest("the job would cost \(options.totalSteps) steps x \(options.latentCells) latent cells + \(pixels) pixels / "
                              + "\(JobOptions.pixelsPerCostUnit) = \(cost); this server allows at most \(limits.maxJobCost) (limits.max_job_cost): "
                              + "ask for fewer steps, runs or a lower resolution, or send a smaller image",
                              slug: "over-limit")
        }
    }

    /// The pixels the largest image part declares in its header, without decoding any; 0 when
    /// there is no readable header (decoding then fails at once).
    static func declaredPixels(_ parts: [String: [UInt8]]) -> Int {
        ["image", "mask", "known", "semantic"].compactMap { parts[$0] }.compactMap { try? ImageDecoder.size($0) }
            .map { $0.width * $0.height }.max() ?? 0
    }

    /// The named parts of a multipart body; unknown and repeated names are 400s.
    private func formParts(_ request: HTTPRequest, kind: JobKind) throws(APIError) -> [String: [UInt8]] {
        let form: MultipartFormData
        do { form = try request.multipartFormData() } catch { throw .badRequest("malformed multipart body: \(error)", slug: "malformed-multipart") }
        let allowed: Set<String> = kind == .segmentation ? ["image", "options", "semantic"] : ["image", "mask", "known", "options", "semantic"]
        var parts: [String: [UInt8]] = [:]
        for part in form.parts {
            guard allowed.contains(part.name) else {
                throw .badRequest("unknown part '\(part.name)'; expected \(allowed.sorted().joined(separator: ", "))", slug: "malformed-multipart")
            }
            guard parts[part.name] == nil else { throw .badRequest("part '\(part.name)' is given twice", slug: "malformed-multipart") }
            parts[part.name] = part.body
        }
        return parts
    }

    private func digest(_ kind: JobKind, _ options: JobOptions, _ parts: [String: [UInt8]]) -> String {
        var hash = SHA256()
        hash.update(data: Data(kind.rawValue.utf8))
        hash.update(data: options.json)
        for name in ["image", "mask", "known", "semantic"] {
            // Length-prefixed, so part boundaries cannot shift between two requests.
            let bytes = parts[name] ?? []
            hash.update(data: Data("\(name):\(parts[name] == nil ? -1 : bytes.count):".utf8))
            hash.update(data: bytes)
        }
        return hash.finalize().hex
    }
}
