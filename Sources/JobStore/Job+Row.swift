import Foundation

extension Job {
    init(row: SQLRow) {
        id = row.text("id") ?? ""
        seq = row.int64("seq") ?? 0
        kind = row.text("kind").flatMap(JobKind.init(rawValue:)) ?? .segmentation
        state = row.text("state").flatMap(JobState.init(rawValue:)) ?? .failed
        options = row.blob("options") ?? Data()
        step = row.int("step") ?? 0
        steps = row.int("steps") ?? 0
        attempts = row.int("attempts") ?? 0
        cancelRequested = (row.int("cancel_requested") ?? 0) != 0
        idempotencyKey = row.text("idempotency_key")
        requestHash = row.text("request_hash")
        owner = row.text("owner")
        fairStart = row.double("fair_start") ?? 0
        if let width = row.int("image_width"), let height = row.int("image_height") {
            image = JobImage(width: width, height: height, exifOrientation: row.int("image_orientation") ?? 1)
        }
        createdAt = row.date("created_at") ?? Date(timeIntervalSince1970: 0)
        startedAt = row.date("started_at")
        finishedAt = row.date("finished_at")
        lease = row.text("lease_token")
        if let code = row.text("failure_code") {
            failure = JobFailure(code: code, message: row.text("failure_message") ?? "")
        }
    }
}

extension JobInput {
    init(row: SQLRow) {
        self.init(image: row.blob("image") ?? Data(), mask: row.blob("mask"), known: row.blob("known"), semantic: row.blob("semantic"))
    }
}
