extension Duration {
    /// Whole nanoseconds, saturating; the clock unit the connection machinery uses.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (wholeNanos, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : wholeNanos.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000)).partialValue
    }
}
