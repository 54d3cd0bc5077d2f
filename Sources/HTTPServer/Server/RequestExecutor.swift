import Foundation

/// The threads request handlers run on (a task executor preference): their priority is lowered
/// once, when each starts, and handlers may block them (a synchronous database call) without
/// taking a thread from Swift's shared pool, whose threads other tasks need. After `shutdown`
/// the threads end once idle and later work runs on the shared pool.
public final class RequestExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    /// Jobs not yet started, oldest first (`head` is the next), and whether the threads should
    /// end; guarded by `condition`.
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var stopping = false

    /// Starts `threads` threads, each `nice` levels below the calling thread.
    public init(threads: Int, nice: Int = 0, name: String = "request") {
        for index in 0..<max(1, threads) {
            Thread { [self] in
                Thread.current.name = "\(name)-\(index)"  // Linux names only the running thread
                ThreadNice.lowerCurrentThread(by: nice)
                serve()
            }.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        if stopping {
            condition.unlock()
            return globalConcurrentExecutor.enqueue(job)
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Threads end once the work queued before is done; work enqueued after runs on the shared pool.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func serve() {
        let me = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            guard head < jobs.count else {
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count || head > 1024 {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: me)
        }
    }
}
