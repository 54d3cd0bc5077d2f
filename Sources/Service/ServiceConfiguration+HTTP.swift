import HTTPServer
import ServiceCore

extension ServiceConfiguration {
    /// The HTTP layer's settings.
    public var httpServer: HTTPServerConfiguration {
        var http = HTTPServerConfiguration(host: server.host, port: server.port)
        http.limits.maxBodyBytes = server.maxBodyBytes
        http.limits.maxConnections = server.maxConnections
        http.limits.minBodyRate = server.minBodyRate
        http.limits.maxInflightBodyBytes = server.maxInflightBodyBytes
        http.limits.slowRequestSeconds = server.slowRequestSeconds
        http.limits.maxSlowConnectionShare = server.maxSlowConnectionShare
        http.requestThreadNice = server.requestThreadNice
        http.requestThreads = server.requestThreads
        http.busyLoopShare = server.busyLoopShare
        http.timeouts.headerRead = .milliseconds(Int64(server.headerTimeout * 1000))
        http.timeouts.bodyRead = .milliseconds(Int64(server.bodyTimeout * 1000))
        http.timeouts.idle = .milliseconds(Int64(server.idleTimeout * 1000))
        return http
    }
}
