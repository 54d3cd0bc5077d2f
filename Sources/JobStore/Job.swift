import Foundation

/// The kind of work a job asks for.
public enum JobKind: String, Codable, Sendable, CaseIterable {
    case segmentation, inpainting
}

/// Why a job failed: a stable code for clients and metrics, and a message for people.
public struct JobFailure: Codable, Sendable, Equatable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// The process stopped under the job too often; it is not tried again.
    public static func interrupted(attempts: Int) -> JobFailure {
        JobFailure(code: "interrupted", message: "the service stopped while running this job \(attempts) times; it is not retried")
    }
}

/// The submitted image as the job sees it: its size as shown, which is the results' size, and
/// the EXIF orientation (1-8, 1: none) that was applied to the stored pixels to show it so.
public struct JobImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var exifOrientation: Int

    public init(width: Int, height: Int, exifOrientation: Int = 1) {
        self.width = width
        self.height = height
        self.exifOrientation = exifOrientation
    }
}

/// A job as stored, without its input and result blobs.
public struct Job: Sendable, Equatable {
    public var id: String
    /// Submission order: the queue is served by it and listings page by it.
    public var seq: Int64
    public var kind: JobKind
    public var state: JobState
    /// The request's options as the service encoded them (JSON); opaque to the store.
    public var options: Data
    public var step: Int
    public var steps: Int
    /// How many times a worker has started this job.
    public var attempts: Int
    public var cancelRequested: Bool
    public var idempotencyKey: String?
    public var requestHash: String?
    /// The name of the API key that submitted the job, when keys are in use.
    public var owner: String?
    /// The submitted image (nil for jobs stored before it was recorded).
    public var image: JobImage?
    /// Where the job starts in the fair queue's virtual time; the queue is served by it.
    public var fairStart: Double
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var failure: JobFailure?
    /// While running: the token of the claim that holds it. Only that claim's holder may record
    /// its progress or end it (fencing: a node whose lease expired cannot complete the job).
    public var lease: String?
}

/// What a client sent: the encoded image and, for inpainting, the partial mask and known pixels.
public struct JobInput: Sendable, Equatable {
    public var image: Data
    public var mask: Data?
    public var known: Data?
    /// An optional semantic label map whose classes are voted onto the segments.
    public var semantic: Data?

    public init(image: Data, mask: Data? = nil, known: Data? = nil, semantic: Data? = nil) {
        self.image = image
        self.mask = mask
        self.known = known
        self.semantic = semantic
    }
}

/// What a finished job produced.
public struct JobResult: Sendable, Equatable {
    public var panopticPNG: Data
    public var segmentsJSON: Data
    public var overlayPNG: Data
    /// 8-bit grey, 255 where the model is least sure (nil for results stored before it existed).
    public var uncertaintyPNG: Data?

    public init(panopticPNG: Data, segmentsJSON: Data, overlayPNG: Data, uncertaintyPNG: Data? = nil) {
        self.uncertaintyPNG = uncertaintyPNG
        self.panopticPNG = panopticPNG
        self.segmentsJSON = segmentsJSON
        self.overlayPNG = overlayPNG
    }

    /// One of the result files.
    public enum Part: Sendable, CaseIterable {
        case panopticPNG, segmentsJSON, overlayPNG, uncertaintyPNG

        /// Its column of `job_result`.
        var column: String {
            switch self {
            case .panopticPNG: "panoptic_png"
            case .segmentsJSON: "segments_json"
            case .overlayPNG: "overlay_png"
            case .uncertaintyPNG: "uncertainty_png"
            }
        }
    }
}

/// A job to queue.
public struct NewJob: Sendable {
    public var kind: JobKind
    public var options: Data
    public var steps: Int
    public var input: JobInput
    /// A client's `Idempotency-Key`; a repeat with the same key returns the first job.
    public var idempotencyKey: String?
    /// A digest of the request, so a repeated key with a different request is told apart.
    public var requestHash: String?
    /// The submitting API key's name; idempotency keys are scoped to it.
    public var owner: String?
    /// Where to POST the job once it ends (`JobStore+Callbacks.swift`).
    public var callbackURL: String?
    /// The decoded image's size and orientation, shown with the job.
    public var image: JobImage?
    /// The work the job asks for (at least 1): its owner's share of the queue is counted in it.
    public var cost: Int

    public init(kind: JobKind, options: Data, steps: Int, input: JobInput, idempotencyKey: String? = nil, requestHash: String? = nil,
                owner: String? = nil, callbackURL: String? = nil, image: JobImage? = nil, cost: Int = 1) {
        self.owner = owner
        self.image = image
        self.cost = cost
        self.callbackURL = callbackURL
        self.kind = kind
        self.options = options
        self.steps = steps
        self.input = input
        self.idempotencyKey = idempotencyKey
        self.requestHash = requestHash
    }
}
