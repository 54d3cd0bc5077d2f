import Foundation

/// The `Date` header value (IMF-fixdate, RFC 9110 §5.6.7), recomputed at most once per second.
struct IMFFixdate {
    private var cachedSecond = Int.min
    private var cachedValue = ""

    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The value for the current wall-clock second.
    mutating func now() -> String {
        value(forEpochSecond: time(nil))
    }

    /// The value for `second` seconds after the Unix epoch, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    mutating func value(forEpochSecond second: Int) -> String {
        if second != cachedSecond {
            cachedSecond = second
            cachedValue = IMFFixdate.format(second)
        }
        return cachedValue
    }

    static func format(_ second: Int) -> String {
        var seconds = time_t(second)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func twoDigits(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekdays[Int(parts.tm_wday)]), \(twoDigits(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(twoDigits(parts.tm_hour)):\(twoDigits(parts.tm_min)):\(twoDigits(parts.tm_sec)) GMT"
    }
}
