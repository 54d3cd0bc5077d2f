import Foundation

/// Figures about this process from /proc (Linux), in the Prometheus `process_*` convention.
package struct ProcessMetrics {
    package var residentBytes = 0.0
    package var virtualBytes = 0.0
    package var cpuSeconds = 0.0
    package var openFDs = 0.0
    package var maxFDs = 0.0
    package var startTime = 0.0

    package static func read() -> ProcessMetrics {
        var m = ProcessMetrics()
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let statm = text("/proc/self/statm")?.split(separator: " "), statm.count > 1 {
            m.virtualBytes = (Double(statm[0]) ?? 0) * pageSize
            m.residentBytes = (Double(statm[1]) ?? 0) * pageSize
        }
        // Fields after the parenthesised command name: utime is the 12th, stime the 13th, starttime the 20th.
        if let stat = text("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 19 {
                m.cpuSeconds = ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
                if let boot = bootTime() { m.startTime = boot + (Double(fields[19]) ?? 0) / ticks }
            }
        }
        m.openFDs = Double((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0)
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { m.maxFDs = Double(limit.rlim_cur) }
        return m
    }

    package var exposition: String {
        [("process_resident_memory_bytes", "gauge", "Resident memory size in bytes", residentBytes),
         ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes", virtualBytes),
         ("process_cpu_seconds_total", "counter", "User and system CPU time in seconds", cpuSeconds),
         ("process_open_fds", "gauge", "Open file descriptors", openFDs),
         ("process_max_fds", "gauge", "Most file descriptors the process may open", maxFDs),
         ("process_start_time_seconds", "gauge", "Start time since the Unix epoch in seconds", startTime)]
            .map { "# HELP \($0.0) \($0.2)\n# TYPE \($0.0) \($0.1)\n\($0.0) \(format($0.3))\n" }
            .joined()
    }

    private func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// /proc files report size 0, so they are read through a handle.
    private static func text(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private static func bootTime() -> Double? {
        text("/proc/stat")?.split(separator: "\n").first { $0.hasPrefix("btime ") }
            .flatMap { Double($0.dropFirst(6).trimmingCharacters(in: .whitespaces)) }
    }
}
