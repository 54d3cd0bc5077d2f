import Foundation
import HTTPServer

// Serves `GET /` (a short text) and `POST /echo-size` (the body's byte count) until SIGINT/SIGTERM.
// Usage: load-server [port]   (default 8080; 0 picks a free port, printed on start)

let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 8080
var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: port)
configuration.limits.maxBodyBytes = 64 * 1024 * 1024

let server = HTTPServer(configuration: configuration) { request in
    switch (request.method, request.path) {
    case (.get, "/"), (.head, "/"):
        return .text("hello, world\n")
    case (.post, "/echo-size"):
        return .text("\(request.body.count)\n")
    default:
        return .problem(.notFound, detail: "no route for \(request.method) \(request.path)")
    }
}

do {
    try server.start()
} catch {
    FileHandle.standardError.write(Data("load-server: \(error)\n".utf8))
    exit(1)
}
FileHandle.standardOutput.write(Data("listening on \(server.localAddress!)\n".utf8))

signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
let signals = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: .main) }
for source in signals {
    source.setEventHandler {
        Task {
            await server.shutdown(gracePeriod: .seconds(5))
            exit(0)
        }
    }
    source.resume()
}
dispatchMain()
