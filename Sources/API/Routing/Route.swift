import HTTPServer
import JobStore
import ServiceCore

/// An endpoint of the API (openapi.yaml), with its path parameters.
enum Route: Equatable, Sendable {
    case createSegmentation
    case createInpainting
    case listJobs
    case getJob(id: String)
    case jobEvents(id: String)
    case cancelJob(id: String)
    case result(id: String, file: ResultFile)
    case listModels
    case health
    case ready
    case metrics
    case openAPI
    /// A file of the browser page: `index.html` at `/`, others at `/ui/<file>`.
    case page(file: String)

    /// Health, readiness and metrics: every role serves them.
    var isOperational: Bool {
        switch self {
        case .health, .ready, .metrics: true
        default: false
        }
    }

    /// What a request may do at a path, by method; HEAD goes wherever GET goes.
    private struct Resource {
        let template: String
        let methods: KeyValuePairs<HTTPMethod, Route>

        subscript(method: HTTPMethod) -> Route? { methods.first { $0.key == method }?.value }
    }

    /// The route for `method` and `path`, or the error a client gets (404, or 405 with `Allow`).
    static func match(method: HTTPMethod, path: String) -> Result<(route: Route, template: String), APIError> {
        guard let resource = resource(path: path) else {
            return .failure(.notFound("no resource at \(path)"))
        }
        let effective = method == .head ? .get : method
        guard let route = resource[effective] else {
            var allowed = resource.methods.map(\.key.rawValue)
            if resource[.get] != nil { allowed.append("HEAD") }
            return .failure(.methodNotAllowed(method: method.rawValue, path: resource.template, allow: allowed.sorted()))
        }
        return .success((route, resource.template))
    }

    /// A job's result file, by its name in the path.
    enum ResultFile: String, CaseIterable, Sendable {
        case panopticPNG = "panoptic.png", segmentsJSON = "segments.json", overlayPNG = "overlay.png", uncertaintyPNG = "uncertainty.png"

        var template: String { "/v1/jobs/{id}/\(rawValue)" }
        var contentType: String { self == .segmentsJSON ? "application/json" : "image/png" }
        /// The stored file it serves.
        var part: JobResult.Part {
            switch self {
            case .panopticPNG: .panopticPNG
            case .segmentsJSON: .segmentsJSON
            case .overlayPNG: .overlayPNG
            case .uncertaintyPNG: .uncertaintyPNG
            }
        }
    }

    private static let resultFiles = Dictionary(uniqueKeysWithValues: ResultFile.allCases.map { (Substring($0.rawValue), $0) })

    // Status polls come through here flat out: the path is cut into substrings, not strings.
    private static func resource(path: String) -> Resource? {
        switch path {
        case "/": return Resource(template: "/", methods: [.get: .page(file: "index.html")])
        case "/v1/segmentations": return Resource(template: "/v1/segmentations", methods: [.post: .createSegmentation])
        case "/v1/inpaintings": return Resource(template: "/v1/inpaintings", methods: [.post: .createInpainting])
        case "/v1/jobs": return Resource(template: "/v1/jobs", methods: [.get: .listJobs])
        case "/v1/models": return Resource(template: "/v1/models", methods: [.get: .listModels])
        case "/healthz": return Resource(template: "/healthz", methods: [.get: .health])
        case "/readyz": return Resource(template: "/readyz", methods: [.get: .ready])
        case "/metrics": return Resource(template: "/metrics", methods: [.get: .metrics])
        case "/openapi.yaml": return Resource(template: "/openapi.yaml", methods: [.get: .openAPI])
        default: break
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let first = parts.startIndex
        if parts.count >= 3, parts[first] == "v1", parts[first + 1] == "jobs", !parts[first + 2].isEmpty {
            let id = String(parts[first + 2])
            if parts.count == 3 {
                return Resource(template: "/v1/jobs/{id}", methods: [.get: .getJob(id: id), .delete: .cancelJob(id: id)])
            }
            guard parts.count == 4 else { return nil }
            if parts[first + 3] == "events" {
                return Resource(template: "/v1/jobs/{id}/events", methods: [.get: .jobEvents(id: id)])
            }
            guard let file = resultFiles[parts[first + 3]] else { return nil }
            return Resource(template: file.template, methods: [.get: .result(id: id, file: file)])
        }
        if parts.count == 2, parts[first] == "ui", !parts[first + 1].isEmpty {
            return Resource(template: "/ui/{file}", methods: [.get: .page(file: String(parts[first + 1]))])
        }
        return nil
    }
}
