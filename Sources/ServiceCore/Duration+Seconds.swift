extension Duration {
    /// The duration as fractional seconds, for averages and messages.
    package var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
