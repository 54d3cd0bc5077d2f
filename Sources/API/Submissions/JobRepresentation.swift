import Foundation
import HTTPServer
import JobStore
import ServiceCore

/// A job as the API shows it (openapi.yaml `Job`).
struct JobRepresentation: Encodable {
    struct Progress: Encodable { var step, steps: Int }
    struct Links: Encodable {
        var `self`: String
        var panoptic, segments, overlay, uncertainty: String?
    }
    /// How the job's callback stands (jobs submitted with a `callback_url`).
    struct CallbackStatus: Encodable {
        /// One delivery attempt: the receiver's status, or why there was none.
        struct Delivery: Encodable {
            var attempt: Int
            var attemptedAt: String
            var status: Int?
            var error: String?
            enum CodingKeys: String, CodingKey { case attempt, attemptedAt = "attempted_at", status, error }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(attempt, forKey: .attempt)
                try c.encode(attemptedAt, forKey: .attemptedAt)
                try c.encode(status, forKey: .status)
                try c.encode(error, forKey: .error)
            }
        }
        var url: String
        var state: String
        var attempts: Int
        var deliveries: [Delivery]
    }

    /// The submitted image: its size as shown, which the results have, and the EXIF
    /// orientation applied to get there.
    struct Image: Encodable {
        var width, height, exifOrientation: Int
        enum CodingKeys: String, CodingKey { case width, height, exifOrientation = "exif_orientation" }
    }

    var id: String
    var kind: JobKind
    var state: JobState
    var options: JobOptions?
    var image: Image?
    var progress: Progress
    var queuePosition: Int?
    var createdAt: String
    var startedAt: String?
    var finishedAt: String?
    var error: ProblemDetails?
    var links: Links
    var callback: CallbackStatus?

    enum CodingKeys: String, CodingKey {
        case id, kind, state, options, image, progress, queuePosition = "queue_position", createdAt = "created_at"
        case startedAt = "started_at", finishedAt = "finished_at", error, links, callback
    }

    init(_ job: Job, queuePosition: Int?, callback: Callback? = nil, deliveries: [CallbackAttempt] = []) {
        self.callback = callback.map {
            CallbackStatus(url: $0.url, state: $0.state.rawValue, attempts: $0.attempts, deliveries: deliveries.map {
                .init(attempt: $0.attempt, attemptedAt: Self.timestamp($0.attemptedAt), status: $0.status, error: $0.error)
            })
        }
        id = job.id
        kind = job.kind
        state = job.state
        options = JobOptions.decoded(from: job.options)
        image = job.image.map { Image(width: $0.width, height: $0.height, exifOrientation: $0.exifOrientation) }
        progress = Progress(step: job.step, steps: job.steps)
        self.queuePosition = queuePosition
        createdAt = Self.timestamp(job.createdAt)
        startedAt = job.startedAt.map(Self.timestamp)
        finishedAt = job.finishedAt.map(Self.timestamp)
        error = job.failure.map(Self.problem)
        let base = "/v1/jobs/\(job.id)"
        links = job.state == .succeeded
            ? Links(self: base, panoptic: base + "/panoptic.png", segments: base + "/segments.json", overlay: base + "/overlay.png",
                    uncertainty: base + "/uncertainty.png")
            : Links(self: base)
    }

    // Explicit nulls: the contract lists these members as nullable, and clients test for null.
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(kind, forKey: .kind)
        try c.encode(state, forKey: .state)
        try c.encodeIfPresent(options, forKey: .options)
        try c.encodeIfPresent(image, forKey: .image)
        try c.encode(progress, forKey: .progress)
        try c.encode(queuePosition, forKey: .queuePosition)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(error, forKey: .error)
        try c.encode(links, forKey: .links)
        try c.encodeIfPresent(callback, forKey: .callback)
    }

    /// RFC 3339 with milliseconds, UTC.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// A stored failure as the problem a client reads: the code is the problem type.
    static func problem(_ failure: JobFailure) -> ProblemDetails {
        let status = failure.code == "internal" || failure.code == "interrupted" ? 500 : 422
        return ProblemDetails(type: "/problems/\(failure.code)", title: "Job failed", status: status, detail: failure.message)
    }
}

/// Encodes API bodies: sorted members (stable bytes for identical results), no escaped slashes.
enum APIJSON {
    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    static func response(_ value: some Encodable, status: HTTPStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        response(encoded: encode(value), status: status, headers: headers)
    }

    /// A JSON body encoded already.
    static func response(encoded body: [UInt8], status: HTTPStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers["Content-Type"] = "application/json"
        return HTTPResponse(status: status, headers: headers, body: body)
    }
}

/// `Prefer: wait=N` (RFC 7240): how long the client will wait for the job to end.
enum PreferWait {
    static func seconds(in headers: HTTPHeaders, cap: Double) -> Double? {
        for value in headers.values(for: "Prefer") {
            for preference in value.split(separator: ",") {
                let pair = preference.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0].lowercased() == "wait", let n = Double(pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))),
                   n.isFinite, n > 0 {
                    return min(n, cap)
                }
            }
        }
        return nil
    }
}
