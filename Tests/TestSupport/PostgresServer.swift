import Foundation

/// A private PostgreSQL server for the tests: a fresh cluster in a temporary folder on a free
/// loopback port, started on first use and stopped when the test process exits. Debian's
/// `postgresql` package provides the programs (`make test` installs it). Each caller gets a
/// database of its own.
public final class PostgresServer: @unchecked Sendable {
    public let port: Int
    let directory: URL
    let bin: URL
    let asUser: [String]

    /// The shared server, or the reason there is none.
    public static let shared: Result<PostgresServer, PostgresServerError> = Result { try PostgresServer() }
        .mapError { $0 as? PostgresServerError ?? PostgresServerError(message: "\($0)") }

    /// A new, empty database on the shared server, as a `postgres://` URL.
    public static func newDatabase() throws -> String {
        let server = try shared.get()
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try server.sql("CREATE DATABASE \(name)")
        return server.url(database: name)
    }

    public func url(database: String) -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)" }

    init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.compactMap(Int.init).max() else {
            throw PostgresServerError(message: "no PostgreSQL server programs in /usr/lib/postgresql: install Debian's postgresql (make test-deps)")
        }
        bin = URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("segserve-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // PostgreSQL refuses to run as root; Debian's package makes a postgres user for it.
        asUser = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        if getuid() == 0 { try Self.run(["/bin/chown", "postgres", directory.path]) }
        let data = directory.appendingPathComponent("data").path
        try Self.run(asUser + [bin.appendingPathComponent("initdb").path, "-D", data, "-U", "postgres", "--auth=trust",
                               "-E", "UTF8", "--no-sync"])
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...50_000)
            do {
                try Self.run(asUser + [bin.appendingPathComponent("pg_ctl").path, "-D", data, "-w", "-l", directory.appendingPathComponent("log").path,
                                       "-o", "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                                       "start"])
                self.port = port
                Self.stopAtExit = { _ = try? Self.run(self.asUser + [self.bin.appendingPathComponent("pg_ctl").path, "-D", data, "-m", "immediate", "stop"]) }
                atexit { PostgresServer.stopAtExit() }
                return
            } catch { lastError = error }
        }
        throw PostgresServerError(message: "PostgreSQL did not start: \(lastError.map { "\($0)" } ?? "?")")
    }

    nonisolated(unsafe) static var stopAtExit: () -> Void = {}

    /// Runs one statement as the superuser.
    public func sql(_ statement: String) throws {
        try Self.run(asUser + [bin.appendingPathComponent("psql").path, "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres",
                               "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", statement])
    }

    /// Stops the server at once (a crash), or starts it again.
    public func stop() throws {
        try Self.run(asUser + [bin.appendingPathComponent("pg_ctl").path, "-D", directory.appendingPathComponent("data").path,
                               "-m", "immediate", "stop"])
    }

    public func start() throws {
        try Self.run(asUser + [bin.appendingPathComponent("pg_ctl").path, "-D", directory.appendingPathComponent("data").path, "-w",
                               "-l", directory.appendingPathComponent("log").path,
                               "-o", "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"])
    }

    /// Runs a program to its end with its output in a file (not a pipe: the server pg_ctl
    /// starts keeps its inherited descriptors open), through posix_spawn and waitpid.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("segserve-pg-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        guard spawned == 0 else { throw PostgresServerError(message: "cannot run \(arguments[0]): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0, code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw PostgresServerError(message: "\(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }
}

public struct PostgresServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
