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

    /// `Last-Event-ID` as this stream writes it, nil when absent or foreign.
    static func resumeAfter(_ request: HTTPRequest) -> Int? {
        request.headers["Last-Event-ID"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }
}

/// Places for open event streams; a request finding none gets 503.
final class StreamSlots: Sendable {
    private let open = Mutex(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func claim() -> Bool {
        open.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func release() { open.withLock { $0 -= 1 } }
}

extension SegmentationService {
    /// A stream wakes at each step and end of its job, and at least this often (queue moves).
    static let eventPollInterval: Duration = .milliseconds(500)

    func jobEvents(_ id: String, _ request: HTTPRequest, as caller: Caller) throws -> HTTPResponse {
        let job = try existingJob(id, for: caller)
        let resumeAfter = JobEventStream.resumeAfter(request)
        if let last = resumeAfter, job.state.isTerminal,
           last >= JobEventStream.eventID(state: job.state, step: job.step, steps: job.steps) {
            return HTTPResponse(status: HTTPStatus(code: 204))
        }
        guard eventStreams.claim() else {
            throw APIError.unavailable("\(eventStreams.limit) event streams are open, the most this server keeps; poll GET /v1/jobs/\(id) instead")
        }
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(32))
        let producer = Task { [self] in
            defer {
                continuation.finish()
                eventStreams.release()
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
