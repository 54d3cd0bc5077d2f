@testable import ServiceCore
import TestSupport
import XCTest

/// `callback_url` parsing and the address policy, without sockets.
final class CallbackURLTests: XCTestCase {
    func testValidURLs() throws {
        let url = try CallbackURL(parsing: "https://A.b-c.Example:8443/x/y?z=1&w=%20")
        XCTAssertEqual(url.host, .name("a.b-c.example"))
        XCTAssertEqual(url.port, 8443)
        XCTAssertEqual(url.target, "/x/y?z=1&w=%20")
        XCTAssertTrue(url.isHTTPS)
        XCTAssertEqual(try CallbackURL(parsing: "HTTP://hooks.example.com").port, 80)
        XCTAssertEqual(try CallbackURL(parsing: "http://hooks.example.com.").host, .name("hooks.example.com"))
        XCTAssertEqual(try CallbackURL(parsing: "http://93.184.216.34/done").host, .address(NetworkAddress(ipv4: "93.184.216.34")!))
        let v6 = try CallbackURL(parsing: "http://[2001:4860:4860::8888]:8080/")
        XCTAssertEqual(v6.hostText, "[2001:4860:4860::8888]")
        XCTAssertEqual(v6.hostField, "[2001:4860:4860::8888]:8080")
        XCTAssertEqual(v6.text, "http://[2001:4860:4860::8888]:8080/")
        XCTAssertEqual(url.hostField, "a.b-c.example:8443")
        XCTAssertEqual(try CallbackURL(parsing: "https://hooks.example.com:443/").hostField, "hooks.example.com")
    }

    func testAmbiguousOrHostileURLsAreRefusedWithTheReason() {
        let cases: [(String, String)] = [
            ("http://a.example/\0x", "byte 0x0"), ("http://a.example/ x", "byte 0x20"), ("http://a.example/é", "byte 0xc3"),
            ("ftp://a.example/", "http:// or https://"), ("http://user:pw@a.example/", "user info"),
            ("http://2130706433:8080/", "four decimal numbers"), ("http://127.1/", "four decimal numbers"),
            ("http://017.0.0.1/", "four decimal numbers"), ("http://0x7f.0.0.1/", "last label is a number"),
            ("http://1.2.3.4.5/", "four decimal numbers"), ("http://example.123/", "last label is a number"),
            ("http://[::1%25eth0]/", "not an IPv6 address"), ("http://[::1/", "closing ]"), ("http://[::1]x/", "after its IPv6"),
            ("http://a..example/", "not a DNS name"), ("http://-a.example/", "not a DNS name"), ("http:///x", "no host"),
            ("http://a.example:0/", "port"), ("http://a.example:65536/", "port"), ("http://a.example:/", "port"),
            ("http://a.example:+80/", "port"), ("http://a.example/#f", "fragment"), ("http://a.example/%zz", "two hex digits"),
            ("http://a.example/<script>", "'<'"), (String(repeating: "a", count: 600), "1 to 512"), ("", "1 to 512"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try CallbackURL(parsing: text), text) { error in
                let detail = (error as? CallbackURL.Invalid)?.reason ?? ""
                XCTAssertTrue(detail.contains(reason), "\(text.debugDescription): '\(detail)' should say '\(reason)'")
            }
        }
    }

    func testOnlyPublicAddressesArePublic() {
        for text in ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8"] {
            let address = NetworkAddress(ipv4: text) ?? NetworkAddress(ipv6: text)!
            XCTAssertTrue(address.isPublic, text)
        }
        for text in ["0.0.0.0", "127.0.0.1", "10.1.2.3", "100.64.0.1", "169.254.169.254", "172.16.0.1", "172.31.255.255",
                     "192.168.1.1", "192.0.2.1", "198.18.0.1", "224.0.0.1", "255.255.255.255", "::", "::1", "fe80::1", "fc00::1",
                     "fd12:3456::1", "ff02::1", "2001:db8::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1"] {
            let address = NetworkAddress(ipv4: text) ?? NetworkAddress(ipv6: text)!
            XCTAssertFalse(address.isPublic, text)
        }
        XCTAssertEqual(NetworkAddress(ipv6: "::ffff:127.0.0.1")?.description, "::ffff:127.0.0.1")
    }

    func testNetworksAndThePolicy() throws {
        XCTAssertNil(Network(parsing: "10.0.0.0/33"))
        XCTAssertNil(Network(parsing: "10.0.0/8"))
        XCTAssertNil(Network(parsing: "fd00::/129"))
        let ten = try XCTUnwrap(Network(parsing: "10.0.0.0/8"))
        XCTAssertTrue(ten.contains(NetworkAddress(ipv4: "10.200.1.1")!))
        XCTAssertFalse(ten.contains(NetworkAddress(ipv4: "11.0.0.1")!))
        XCTAssertFalse(ten.contains(NetworkAddress(ipv6: "::ffff:10.0.0.1")!), "families never mix")

        var settings = ServiceConfiguration.Callbacks()
        let url = try CallbackURL(parsing: "http://hooks.test/")
        func answer(_ texts: [String]) -> (String) -> [NetworkAddress] { { _ in texts.map { NetworkAddress(ipv4: $0)! } } }
        XCTAssertEqual(try settings.address(for: url, resolve: answer(["8.8.8.8"])).get(), NetworkAddress(ipv4: "8.8.8.8"))
        XCTAssertThrowsError(try settings.address(for: url, resolve: answer(["8.8.8.8", "10.0.0.1"])).get(), "one private answer is enough")
        XCTAssertThrowsError(try settings.address(for: url, resolve: answer([])).get(), "does not resolve")
        settings.allowedNetworks = [ten]
        XCTAssertEqual(try settings.address(for: url, resolve: answer(["10.0.0.1"])).get(), NetworkAddress(ipv4: "10.0.0.1"))
    }
}
