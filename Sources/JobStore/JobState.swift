/// Where a job is in its life. `queued` and `running` are live; the other three are final.
public enum JobState: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, canceled

    /// True once the job can change no more.
    public var isTerminal: Bool {
        switch self {
        case .queued, .running: return false
        case .succeeded, .failed, .canceled: return true
        }
    }
}

/// What happens to a job; the lifecycle decides whether it is allowed from a given state.
public enum JobEvent: String, Sendable, CaseIterable {
    /// A worker takes a queued job.
    case claim
    /// A running job reports a finished step.
    case progress
    case succeed
    case fail
    /// The client cancels: a queued job ends at once, a running one when its worker next looks.
    case cancel
    /// The process stops under a running job (drain or crash); the job goes back to the queue.
    case interrupt
}

extension JobState {
    /// The state after `event`, or nil when the event is not allowed in this state.
    /// The store applies every change through this function, so illegal moves never reach the database.
    public func after(_ event: JobEvent) -> JobState? {
        switch (self, event) {
        case (.queued, .claim): return .running
        case (.queued, .cancel), (.running, .cancel): return .canceled
        case (.running, .progress): return .running
        case (.running, .succeed): return .succeeded
        case (.running, .fail), (.queued, .fail): return .failed
        case (.running, .interrupt): return .queued
        default: return nil
        }
    }
}
