import ServiceCore
import Foundation
import HTTPServer
import JobStore
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

extension ServiceAPI {
    /// A stream wakes at each step and end of its job, and at least this often (queue moves).
    static let eventPollInterval: Duration = .milliseconds(500)

    func jobEvents(_ id: String, _ request: HTTPRequest, as caller: Caller) throws -> HTTPResponse {
        let job = try existingJob(id, for: caller)
        let resumeAfter = try JobEventStream.resumeAfter(request)
        if let last = resumeAfter, job.state.isTerminal,
           last >= JobEventStream.eventID(state: job.state, step: job.step, steps: job.steps) {
            return HTTPResponse(status: HTTPStatus(code: 204))
        }
        let key = caller.key?.name
        switch eventStreams.claim(key: key, job: id) {
        case nil: break
        case .total:
            throw APIError.unavailable("\(eventStreams.limits.total) event streams are open, the most this server keeps; poll GET /v1/jobs/\(id) instead")
        case .key:
            throw APIError(status: .tooManyRequests, slug: "too-many-streams", detail: "API key '\(key ?? "")' holds "
                           + "\(eventStreams.limits.perKey) event streams, the most allowed; close one or poll GET /v1/jobs/\(id)",
                           headers: ["Retry-After": "5"])
        case .job:
            throw APIError(status: .tooManyRequests, slug: "too-many-streams", detail: "job \(id) has \(eventStreams.limits.perJob) event streams open, "
                           + "the most allowed; close one or poll GET /v1/jobs/\(id)", headers: ["Retry-After": "5"])
        }
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(32))
        // On the request threads: it reads the store, which may block.
        let producer = Task(executorPreference: executor) { [self] in
            defer {
                continuation.finish()
                eventStreams.release(key: key, job: id)
            }
            await produceEvents(for: id, after: resumeAfter) { continuation.yield($0) }
        }
        continuation.onTermination = { _ in producer.cancel() }
        return HTTPResponse(headers: ["Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
                                      "X-Accel-Buffering": "no"], stream: stream)
    }

    /// Sends the job's events until it ends, the client leaves (cancellation) or the service drains.
    private func produceEvents(for id: String, after resumeAfter: Int?, send: ([UInt8]) -> Void) async {
        let clock = ContinuousClock()
        // Under the 30 s write timeout, which closes streams that stop moving.
        let heartbeat = Duration.milliseconds(Int64(min(configuration.server.eventHeartbeat, 25) * 1000))
        var lastID = resumeAfter ?? -1
        var lastPosition: Int?
        var lastSent = clock.now
        send(Array("retry: 2000\n\n".utf8))
        while !Task.isCancelled {
            guard let job = try? store.job(id: id) else { return }
            let eventID = JobEventStream.eventID(state: job.state, step: job.step, steps: job.steps)
            switch job.state {
            case .queued:
                guard let position = try? store.queuePosition(of: job) else { return }
                if eventID > lastID || position != lastPosition {
                    send(JobEventStream.event("queued", id: eventID, data: APIJSON.encode(["position": position])))
                    (lastID, lastPosition, lastSent) = (eventID, position, clock.now)
                }
            case .running where eventID > lastID:
                send(JobEventStream.event("progress", id: eventID, data: APIJSON.encode(["step": job.step, "steps": job.steps])))
                (lastID, lastSent) = (eventID, clock.now)
            case .succeeded, .failed, .canceled:
                if eventID > lastID, let shown = try? representation(job) {
                    send(JobEventStream.event("done", id: eventID, data: APIJSON.encode(shown)))
                }
                return
            case .running:
                break
            }
            if isDraining { return }
            if clock.now - lastSent >= heartbeat {
                send(Array(": keep-alive\n\n".utf8))
                lastSent = clock.now
            }
            await events.waitForChange(of: id, timeout: Self.eventPollInterval)
        }
    }
}
