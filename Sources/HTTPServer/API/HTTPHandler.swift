/// The application: turns each complete request into a response; may suspend (e.g. long-poll) without blocking a thread.
public typealias HTTPHandler = @Sendable (HTTPRequest) async -> HTTPResponse
