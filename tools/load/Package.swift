// swift-tools-version:6.0
// A tiny server for load tests of the HTTPServer module, built with the same release settings as
// the main package. Sources/HTTPServer links to the module's sources in the main package.
import PackageDescription

let package = Package(
    name: "load-server",
    targets: [
        .target(name: "HTTPServer"),
        .executableTarget(name: "load-server", dependencies: ["HTTPServer"]),
    ]
)
