import Foundation

/// A thread of its own that runs the work handed to it in order, for work whose thread's
/// priority matters: Linux keeps nice values per thread, and Dispatch pools its threads, so a
/// pooled thread's priority follows whatever ran on it last. Ends after `stop`, once the work
/// handed in before is done.
public final class SerialThread: @unchecked Sendable {
    private let condition = NSCondition()
    /// Work not yet started, oldest first, and whether the thread should end; guarded by `condition`.
    private var work: [() -> Void] = []
    private var stopping = false

    /// Starts the thread, `nice` levels below the calling thread.
    public init(name: String, nice: Int = 0) {
        let thread = Thread { [self] in
            Thread.current.name = name  // Linux names only the running thread
            ThreadNice.lowerCurrentThread(by: nice)
            serve()
        }
        thread.start()
    }

    public func submit(_ item: @escaping () -> Void) {
        condition.lock()
        work.append(item)
        condition.signal()
        condition.unlock()
    }

    public func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func serve() {
        while true {
            condition.lock()
            while work.isEmpty && !stopping { condition.wait() }
            let batch = work
            work = []
            condition.unlock()
            if batch.isEmpty { return }
            for item in batch { item() }
        }
    }
}
