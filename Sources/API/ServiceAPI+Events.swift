import Foundation
import HTTPServer
import JobStore
import ServiceCore
import Synchronization

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
            await waiters.waitForChange(of: id, timeout: Self.eventPollInterval)
        }
    }
}
