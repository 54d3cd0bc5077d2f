import HTTPServer
import JobStore

/// An endpoint of the API (openapi.yaml), with its path parameters.
enum Route: Equatable, Sendable {
    case createSegmentation
    case createInpainting
    case listJobs
    case getJob(id: String)
    case jobEvents(id: String)
    case cancelJob(id: String)
    case result(id: String, part: JobResult.Part)
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
        let methods: [HTTPMethod: Route]
    }

    /// The route for `method` and `path`, or the error a client gets (404, or 405 with `Allow`).
    static func match(method: HTTPMethod, path: String) -> Result<(route: Route, template: String), APIError> {
        guard let resource = resource(path: path) else {
            return .failure(.notFound("no resource at \(path)"))
        }
        let effective = method == .head ? .get : method
        guard let route = resource.methods[effective] else {
            var allowed = resource.methods.keys.map(\.rawValue)
            if resource.methods[.get] != nil { allowed.append("HEAD") }
            return .failure(.methodNotAllowed(method: method.rawValue, path: resource.template, allow: allowed.sorted()))
        }
        return .success((route, resource.template))
    }

    private static func resource(path: String) -> Resource? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if parts.count >= 3, parts[0] == "v1", parts[1] == "jobs", !parts[2].isEmpty {
            let id = parts[2]
            if parts.count == 3 {
                return Resource(template: "/v1/jobs/{id}", methods: [.get: .getJob(id: id), .delete: .cancelJob(id: id)])
            }
            if parts.count == 4, parts[3] == "events" {
                return Resource(template: "/v1/jobs/{id}/events", methods: [.get: .jobEvents(id: id)])
            }
            let files: [String: JobResult.Part] = ["panoptic.png": .panopticPNG, "segments.json": .segmentsJSON, "overlay.png": .overlayPNG]
            guard parts.count == 4, let part = files[parts[3]] else { return nil }
            return Resource(template: "/v1/jobs/{id}/\(parts[3])", methods: [.get: .result(id: id, part: part)])
        }
        if parts.count == 2, parts[0] == "ui", !parts[1].isEmpty {
            return Resource(template: "/ui/{file}", methods: [.get: .page(file: parts[1])])
        }
        switch parts.joined(separator: "/") {
        case "": return Resource(template: "/", methods: [.get: .page(file: "index.html")])
        case "v1/segmentations": return Resource(template: "/v1/segmentations", methods: [.post: .createSegmentation])
        case "v1/inpaintings": return Resource(template: "/v1/inpaintings", methods: [.post: .createInpainting])
        case "v1/jobs": return Resource(template: "/v1/jobs", methods: [.get: .listJobs])
        case "v1/models": return Resource(template: "/v1/models", methods: [.get: .listModels])
        case "healthz": return Resource(template: "/healthz", methods: [.get: .health])
        case "readyz": return Resource(template: "/readyz", methods: [.get: .ready])
        case "metrics": return Resource(template: "/metrics", methods: [.get: .metrics])
        case "openapi.yaml": return Resource(template: "/openapi.yaml", methods: [.get: .openAPI])
        default: return nil
        }
    }
}
