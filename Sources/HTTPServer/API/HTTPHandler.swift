/// The application: turns each complete request into a response; may suspend (e.g. long-poll) without blocking a thread.
public typealias HTTPHandler = @Sendable (HTTPRequest) async -> HTTPResponse

/// Answers on the event loop, without a task or a thread hop, the requests that need no waiting
/// (a lookup in memory, a health check); nil hands the request to the `HTTPHandler`. It must
/// never block: the other connections of its loop wait while it runs.
public typealias HTTPImmediateHandler = @Sendable (HTTPRequest) -> HTTPResponse?
