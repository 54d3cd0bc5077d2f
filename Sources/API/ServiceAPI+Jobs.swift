import Foundation
import HTTPServer
import JobStore
import ServiceCore

extension ServiceAPI {
    /// POST /v1/segmentations and /v1/inpaintings.
    func submit(_ request: HTTPRequest, kind: JobKind, as caller: Caller) async throws -> HTTPResponse {
        guard !isDraining else { throw APIError.unavailable("the service is shutting down; submit again shortly") }
        // The rate tokens this submission holds until it is accepted (bucket, amount).
        var charged: [(String, Double)] = []
        defer { for (bucket, amount) in charged { rateLimiter.refund(bucket, amount) } }
        func charge(_ amount: Int, perMinute: Int?, bucket: String, what: String) throws {
            guard let key = caller.key, let perMinute else { return }
            if let wait = rateLimiter.take(bucket + key.name, Double(amount), perMinute: perMinute) {
                metrics.rejected(reason: "rate-limited")
                throw APIError(status: .tooManyRequests, slug: "rate-limited",
                               detail: "API key '\(key.name)' may submit \(what); retry in \(wait) s", headers: ["Retry-After": "\(wait)"])
            }
            charged.append((bucket + key.name, Double(amount)))
        }
        try charge(1, perMinute: caller.key?.jobsPerMinute, bucket: "jobs:", what: "\(caller.key?.jobsPerMinute ?? 0) jobs a minute")
        let key = request.headers["Idempotency-Key"]
        if let key, key.isEmpty || key.utf8.count > 255 || key.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7E }) {
            throw APIError.badRequest("Idempotency-Key must be 1 to 255 visible ASCII characters")
        }
        let submission: Submission
        do {
            // The body is split into parts once, here; its images decode in the lane their headers pick.
            let parts = try submissions.parts(of: request, kind: kind)
            submission = try await decodeQueue.run(pixels: SubmissionDecoder.declaredPixels(parts)) { [submissions] () throws(APIError) in
                try submissions.decode(request, parts: parts, kind: kind)
            }
        } catch {
            metrics.rejected(reason: error.slug ?? "invalid")
            throw error
        }
        try charge(submission.cost, perMinute: caller.key?.costPerMinute, bucket: "cost:",
                   what: "jobs costing \(caller.key?.costPerMinute ?? 0) a minute (cost_per_minute) and this one costs \(submission.cost)")
        let new = NewJob(kind: kind, options: submission.options.json, steps: submission.options.totalSteps, input: submission.input,
                         idempotencyKey: key, requestHash: submission.digest, owner: caller.key?.name,
                         callbackURL: submission.options.callbackURL, image: submission.image, cost: submission.cost)
        var job: Job
        switch try store.submit(new, maxQueued: configuration.queue.maxQueued, maxActiveForOwner: caller.key?.maxActive) {
        case .created(let created):
            job = created
            charged = []
            logger.info("job queued", metadata: ["job": "\(job.id)", "kind": "\(kind.rawValue)"])
        case .existing(let existing):
            job = existing
        case .keyReused(let other):
            throw APIError.unprocessable("Idempotency-Key '\(key ?? "")' was used for a different request (job \(other.id))",
                                         slug: "idempotency-key-reused")
        case .queueFull(let queued):
            metrics.rejected(reason: "queue-full")
            throw APIError.queueFull(queued: queued, retryAfter: workers.secondsUntilAPlaceFrees())
        case .ownerQuotaFull(let active):
            metrics.rejected(reason: "quota-exceeded")
            throw APIError(status: .tooManyRequests, slug: "quota-exceeded",
                           detail: "API key '\(caller.key?.name ?? "")' has \(active) jobs queued or running, its most; retry when one ends",
                           headers: ["Retry-After": "\(workers.secondsUntilAPlaceFrees())"])
        }
        job = try await waitIfAsked(job, wait: waitSeconds(request))
        let headers: HTTPHeaders = ["Location": "/v1/jobs/\(job.id)"]
        return APIJSON.response(try representation(job), status: job.state.isTerminal ? .ok : .accepted, headers: headers)
    }

    /// How long a request waits for its job to end (`Prefer: wait=N`, capped by `queue.max_wait`); nil: not at all.
    func waitSeconds(_ request: HTTPRequest) -> Double? {
        PreferWait.seconds(in: request.headers, cap: configuration.queue.maxWait)
    }

    /// The job's view held in memory when it answers a read that waits `wait` seconds: always
    /// once the job has ended, and while it runs unless the client waits. `wait` is read only
    /// for a running job's view, so most status polls never parse the header.
    func cachedView(of id: String, wait: @autoclosure () -> Double?) -> JobViewCache.View? {
        guard let view = views.view(of: id) else { return nil }
        return view.isTerminal || wait() == nil ? view : nil
    }

    /// GET /v1/jobs/{id}, waiting for the end with `Prefer: wait=N`. Answered from `views` when
    /// it can be; a fresh read is stored there when allowed.
    func getJob(_ id: String, wait: Double?, as caller: Caller) async throws -> HTTPResponse {
        if let view = cachedView(of: id, wait: wait) {
            guard caller.mayAccess(view.owner) else { throw APIError.notFound("no job \(id)") }
            return APIJSON.response(encoded: view.body)
        }
        let generation = views.generation
        let job = try await waitIfAsked(try existingJob(id, for: caller), wait: wait)
        let shown = try representation(job)
        let body = APIJSON.encode(shown)
        if job.state != .queued && shown.callback == nil {
            views.store(.init(owner: job.owner, isTerminal: job.state.isTerminal, body: body), of: id, readAt: generation)
        }
        return APIJSON.response(encoded: body)
    }

    /// DELETE /v1/jobs/{id}: a queued job ends at once; a running one at its next step (waited for briefly).
    func cancelJob(_ id: String, as caller: Caller) async throws -> HTTPResponse {
        _ = try existingJob(id, for: caller)
        let outcome: JobStore.CancelOutcome
        do { outcome = try store.requestCancel(id: id) } catch JobStoreError.notFound { throw APIError.notFound("no job \(id)") }
        switch outcome {
        case .canceled(let job):
            logger.info("job canceled while queued", metadata: ["job": "\(job.id)"])
            return APIJSON.response(try representation(job))
        case .requested(let job):
            await waiters.wait(for: id, timeout: .seconds(2)) { [store] in (try? store.job(id: id))?.state.isTerminal ?? true }
            return APIJSON.response(try representation(try existingJob(job.id)))
        case .alreadyFinished(let job):
            throw APIError.conflict("job \(id) has already \(job.state == .canceled ? "been canceled" : job.state.rawValue); there is nothing to cancel")
        }
    }

    /// GET /v1/jobs: newest first, filtered by state and kind, paged with an opaque cursor.
    func listJobs(_ request: HTTPRequest, as caller: Caller) throws -> HTTPResponse {
        var state: JobState?, kind: JobKind?, limit = 50, cursor: String?
        for item in request.queryItems {
            switch item.name {
            case "state":
                guard let s = JobState(rawValue: item.value) else {
                    throw APIError.badRequest("state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                state = s
            case "kind":
                guard let k = JobKind(rawValue: item.value) else {
                    throw APIError.badRequest("kind must be one of \(JobKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                kind = k
            case "limit":
                guard let n = Int(item.value), (1...200).contains(n) else { throw APIError.badRequest("limit must be an integer in 1...200") }
                limit = n
            case "cursor":
                cursor = item.value.isEmpty ? nil : item.value  // an empty cursor is the first page
            default:
                throw APIError.badRequest("unknown query parameter '\(item.name)'; known: state, kind, limit, cursor")
            }
        }
        struct Page: Encodable {
            var jobs: [JobRepresentation]
            var nextCursor: String?
            enum CodingKeys: String, CodingKey { case jobs, nextCursor = "next_cursor" }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(jobs, forKey: .jobs)
                try c.encode(nextCursor, forKey: .nextCursor)
            }
        }
        let page: (jobs: [Job], next: String?)
        do { page = try store.list(state: state, kind: kind, owner: caller.ownerFilter, limit: limit, cursor: cursor) } catch JobStoreError.invalidCursor {
            throw APIError.badRequest("cursor is not one this server gave out")
        }
        return APIJSON.response(Page(jobs: try page.jobs.map(representation), nextCursor: page.next))
    }

    /// GET /v1/jobs/{id}/panoptic.png, segments.json, overlay.png, uncertainty.png: 409 until the job has succeeded.
    func result(_ id: String, _ file: Route.ResultFile, as caller: Caller) throws -> HTTPResponse {
        let job = try existingJob(id, for: caller)
        guard job.state == .succeeded, let body = try store.result(file.part, ofJob: job.seq) else {
            let state = job.state == .succeeded ? "succeeded but its results are gone" : "is \(job.state.rawValue)"
            throw APIError.conflict("job \(id) \(state); results exist once it has succeeded")
        }
        // Results never change once written.
        return HTTPResponse(headers: ["Content-Type": file.contentType, "Cache-Control": "private, max-age=86400, immutable",
                                      "ETag": "\"\(id)-\(file.rawValue)\""], body: [UInt8](body))
    }

    // MARK: - Helpers

    /// The job, if it exists and the caller may see it: another key's job is as absent as a missing one.
    func existingJob(_ id: String, for caller: Caller = Caller(key: nil)) throws -> Job {
        guard let job = try store.job(id: id), caller.mayAccess(job.owner) else { throw APIError.notFound("no job \(id)") }
        return job
    }

    func representation(_ job: Job) throws -> JobRepresentation {
        // Only jobs that asked for a callback pay for reading it.
        let callback = JobOptions.decoded(from: job.options)?.callbackURL == nil ? nil : try store.callback(ofJob: job.id)
        let deliveries = callback == nil ? [] : try store.callbackAttempts(ofJob: job.id)
        return JobRepresentation(job, queuePosition: try store.queuePosition(of: job), callback: callback, deliveries: deliveries)
    }

    /// The job's JSON as its callback delivers it; nil if it cannot be read.
    package func callbackBody(of job: Job) -> [UInt8]? {
        (try? representation(job)).map(APIJSON.encode)
    }

    /// Waits up to `wait` seconds for the job to end.
    func waitIfAsked(_ job: Job, wait: Double?) async throws -> Job {
        guard !job.state.isTerminal, !isDraining, let seconds = wait else { return job }
        let id = job.id
        await waiters.wait(for: id, timeout: .milliseconds(Int64(seconds * 1000))) { [store] in
            (try? store.job(id: id))?.state.isTerminal ?? true
        }
        return try existingJob(id)
    }
}
