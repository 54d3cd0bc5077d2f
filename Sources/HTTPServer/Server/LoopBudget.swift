/// The CPU time an event loop may spend on its connections in each short window while the host's
/// other work (segserve's jobs) needs the cores: past it, reading waits for the next window. Event
/// loops run at full priority so a steady poll answers at once; this keeps a flood of requests
/// from taking more than `share` of a core per loop from that work.
struct LoopBudget {
    /// Window length and the CPU allowed in each, in nanoseconds; an allowance of 0 is no limit.
    let window: UInt64
    let allowance: UInt64
    private(set) var windowStart: UInt64 = 0
    private(set) var used: UInt64 = 0

    init(share: Double, window: UInt64 = 20_000_000) {
        self.window = window
        allowance = UInt64(max(0, min(1, share)) * Double(window))
    }

    /// Counts `cpu` nanoseconds spent at `now`.
    mutating func charge(_ cpu: UInt64, now: UInt64) {
        roll(now)
        used &+= cpu
    }

    /// Whether this window's allowance is spent.
    mutating func isSpent(now: UInt64) -> Bool {
        roll(now)
        return allowance > 0 && used >= allowance
    }

    /// When the current window ends and reading may resume.
    var windowEnd: UInt64 { windowStart &+ window }

    private mutating func roll(_ now: UInt64) {
        if now &- windowStart >= window {
            windowStart = now
            used = 0
        }
    }
}
