import Foundation

/// Lowers the scheduling priority of the threads that serve requests, once per thread. Linux
/// keeps a nice value per thread, so with request threads a few levels below the model's
/// threads a flood of cheap requests cannot take the CPU from the jobs.
public enum ThreadNice {
    /// Marks threads already lowered; the key's value is non-nil once a thread has been.
    private static let lowered: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Adds `increment` to the calling thread's nice value the first time it is called on this
    /// thread; later calls cost one thread-local read. 0 leaves the thread as it is.
    public static func lowerCurrentThread(by increment: Int) {
        guard increment > 0, pthread_getspecific(lowered) == nil else { return }
        pthread_setspecific(lowered, UnsafeRawPointer(bitPattern: 1))
        _ = setpriority(which, 0, Int32(min(19, current() + increment)))
    }

    /// The calling thread's nice value (Linux reads "process 0" as the calling thread).
    public static func current() -> Int {
        Int(getpriority(which, 0))
    }

    private static let which = __priority_which_t(PRIO_PROCESS.rawValue)
}
