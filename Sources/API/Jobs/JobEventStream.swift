import Foundation
import HTTPServer
import JobStore
import ServiceCore
import Synchronization

/// `GET /v1/jobs/{id}/events`: a job's life as server-sent events, for clients that would
/// otherwise poll. Events, each with an `id` that grows along the job's life:
/// `queued` (`{"position": n}`, id 0, again whenever the position changes), `progress`
/// (`{"step": k, "steps": n}`, id k + 1), and one `done` carrying the job JSON (id steps + 2),
/// after which the stream ends. A reconnect with `Last-Event-ID` gets only later events, and
/// 204 once the job has ended, which tells an EventSource to stop. Comments keep idle
/// connections alive through proxies.
struct JobEventStream: Sendable {
    /// Event ids are ordered along a job's life: resuming skips what a client already has.
    static func eventID(state: JobState, step: Int, steps: Int) -> Int {
        switch state {
        case .queued: 0
        case .running: step + 1
        case .succeeded, .failed, .canceled: steps + 2
        }
    }

    /// One server-sent event (the data is one line of JSON).
    static func event(_ name: String, id: Int, data: [UInt8]) -> [UInt8] {
        Array("id: \(id)\nevent: \(name)\ndata: ".utf8) + data + Array("\n\n".utf8)
    }

    /// `Last-Event-ID` as this stream writes it, nil when absent; an id this stream cannot
    /// have sent (not a number, negative, too large) is a 400 rather than a replay from the start.
    static func resumeAfter(_ request: HTTPRequest) throws(APIError) -> Int? {
        guard let raw = request.headers["Last-Event-ID"]?.trimmingCharacters(in: .whitespaces) else { return nil }
        guard let id = Int(raw), id >= 0 else {
            throw .badRequest("Last-Event-ID '\(raw.prefix(40))' is not an event id of this stream (a whole number from 0)")
        }
        return id
    }
}

/// The open event streams, bounded in total, per API key and per job, so one client cannot
/// take every stream from the others.
final class StreamSlots: Sendable {
    enum Refusal: Error { case total, key, job }

    struct Limits: Sendable { var total, perKey, perJob: Int }

    private struct Counts { var total = 0; var byKey: [String: Int] = [:]; var byJob: [String: Int] = [:] }
    private let counts = Mutex(Counts())
    let limits: Limits

    init(limits: Limits) { self.limits = limits }

    /// Takes a slot for a stream of `job` held by `key` (nil: no keys configured, so no
    /// per-key bound), or says which bound is full.
    func claim(key: String?, job: String) -> Refusal? {
        counts.withLock { counts in
            if counts.total >= limits.total { return .total }
            if let key, counts.byKey[key, default: 0] >= limits.perKey { return .key }
            if counts.byJob[job, default: 0] >= limits.perJob { return .job }
            counts.total += 1
            if let key { counts.byKey[key, default: 0] += 1 }
            counts.byJob[job, default: 0] += 1
            return nil
        }
    }

    func release(key: String?, job: String) {
        func decrement(_ table: inout [String: Int], _ name: String) {
            let left = table[name, default: 1] - 1
            table[name] = left > 0 ? left : nil
        }
        counts.withLock { counts in
            counts.total -= 1
            if let key { decrement(&counts.byKey, key) }
            decrement(&counts.byJob, job)
        }
    }
}
