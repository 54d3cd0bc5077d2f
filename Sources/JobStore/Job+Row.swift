import Foundation
import GRDB

extension Job: FetchableRecord {
    public init(row: Row) throws {
        id = row["id"]
        seq = row["seq"]
        kind = JobKind(rawValue: row["kind"]) ?? .segmentation
        state = JobState(rawValue: row["state"]) ?? .failed
        options = row["options"]
        step = row["step"]
        steps = row["steps"]
        attempts = row["attempts"]
        cancelRequested = row["cancel_requested"]
        idempotencyKey = row["idempotency_key"]
        requestHash = row["request_hash"]
        owner = row["owner"]
        createdAt = Date(timeIntervalSince1970: row["created_at"])
        startedAt = (row["started_at"] as Double?).map(Date.init(timeIntervalSince1970:))
        finishedAt = (row["finished_at"] as Double?).map(Date.init(timeIntervalSince1970:))
        if let code: String = row["failure_code"] {
            failure = JobFailure(code: code, message: row["failure_message"] ?? "")
        }
    }
}
