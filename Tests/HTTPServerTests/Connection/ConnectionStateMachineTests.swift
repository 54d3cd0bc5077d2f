import XCTest
@testable import HTTPServer

final class ConnectionStateMachineTests: XCTestCase {
    private let get1 = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
    private let get2 = "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
    private let get3 = "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n"

    func testKeepAliveServesRequestsOneAfterAnother() {
        var driver = MachineDriver()
        XCTAssertTrue(driver.machine.wantsRead)
        XCTAssertEqual(driver.receive(get1), .dispatch("GET /1"))
        XCTAssertEqual(driver.respond(), .write(200, close: false))
        XCTAssertEqual(driver.lastWrite?.context, ResponseContext(version: .http1_1, isHeadRequest: false, closeConnection: false))
        XCTAssertEqual(driver.writeDone(), .none)
        XCTAssertEqual(driver.receive(get2), .dispatch("GET /2"))
        XCTAssertEqual(driver.answer(), .none)
        XCTAssertFalse(driver.machine.isClosed)
    }

    func testByteAtATimeDispatchesOnlyOnTheLastByte() {
        var driver = MachineDriver()
        XCTAssertEqual(driver.receiveByteAtATime(get1), [.dispatch("GET /1")])
    }

    func testPipelinedResponsesFollowRequestOrder() {
        var driver = MachineDriver()
        let post = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
        XCTAssertEqual(driver.receive(get1 + post + get3), .dispatch("GET /1"))
        XCTAssertEqual(driver.receive(get2), .none, "nothing new starts while a request is in flight")
        XCTAssertEqual(driver.respond(), .write(200, close: false))
        XCTAssertEqual(driver.writeDone(), .dispatch("POST /p"))
        XCTAssertEqual(driver.lastRequest?.body, Array("hi".utf8))
        XCTAssertEqual(driver.answer(), .dispatch("GET /3"))
        XCTAssertEqual(driver.answer(), .dispatch("GET /2"))
        XCTAssertEqual(driver.answer(), .none)
    }

    func testBackpressureStopsReadingAndResumesInOrder() {
        var driver = MachineDriver { $0.limits.maxPipelinedRequests = 2 }
        let many = (1...6).map { "GET /\($0) HTTP/1.1\r\nHost: h\r\n\r\n" }.joined()
        XCTAssertEqual(driver.receive(many), .dispatch("GET /1"))
        XCTAssertFalse(driver.machine.wantsRead, "backlog full: stop reading")
        var order = ["GET /1"]
        while case .dispatch(let next) = driver.answer() { order.append(next) }
        XCTAssertEqual(order, (1...6).map { "GET /\($0)" })
        XCTAssertTrue(driver.machine.wantsRead)
    }

    func testConnectionCloseRequestEndsTheConnectionAndIgnoresLaterBytes() {
        var driver = MachineDriver()
        XCTAssertEqual(driver.receive("GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" + get2), .dispatch("GET /c"))
        XCTAssertFalse(driver.machine.wantsRead)
        XCTAssertEqual(driver.respond(), .write(200, close: true))
        XCTAssertEqual(driver.writeDone(), .close)
        XCTAssertTrue(driver.machine.isClosed)
    }

    func testHandlerCanAskToClose() {
        var driver = MachineDriver()
        _ = driver.receive(get1 + get2)
        XCTAssertEqual(driver.respond(headers: ["Connection": "close"]), .write(200, close: true))
        XCTAssertEqual(driver.writeDone(), .close)
    }

    func testHTTP10ClosesUnlessKeepAliveWasAsked() {
        var plain = MachineDriver()
        XCTAssertEqual(plain.receive("GET / HTTP/1.0\r\n\r\n"), .dispatch("GET /"))
        XCTAssertEqual(plain.respond(), .write(200, close: true))
        XCTAssertEqual(plain.writeDone(), .close)

        var kept = MachineDriver()
        XCTAssertEqual(kept.receive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), .dispatch("GET /"))
        XCTAssertEqual(kept.respond(), .write(200, close: false))
        XCTAssertEqual(kept.lastWrite?.context.version, .http1_0)
        XCTAssertEqual(kept.writeDone(), .none)
    }

    func testHeadRequestIsMarkedForTheSerializer() {
        var driver = MachineDriver()
        XCTAssertEqual(driver.receive("HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n"), .dispatch("HEAD /x"))
        _ = driver.respond()
        XCTAssertEqual(driver.lastWrite?.context.isHeadRequest, true)
    }

    func testParseErrorIsAnsweredAfterEarlierPipelinedRequests() {
        var driver = MachineDriver()
        XCTAssertEqual(driver.receive(get1 + "BROKEN\r\n\r\n"), .dispatch("GET /1"))
        XCTAssertFalse(driver.machine.wantsRead)
        XCTAssertEqual(driver.respond(), .write(200, close: false))
        XCTAssertEqual(driver.writeDone(), .write(400, close: true))
        XCTAssertEqual(driver.lastWrite?.response.headers["Content-Type"], "application/problem+json")
        XCTAssertEqual(driver.writeDone(), .close)
    }

    func testEveryParseErrorStatusIsAnsweredWithAProblem() throws {
        let cases: [(String, Int)] = [
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99\r\n\r\n", 413),
            ("GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\n\r\n", 414),
            ("GET / HTTP/1.1\r\nHost: h\r\nA: " + String(repeating: "a", count: 100) + "\r\n\r\n", 431),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: br, chunked\r\n\r\n", 501),
            ("GET / HTTP/3.0\r\n\r\n", 505),
            ("GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", 417),
        ]
        for (text, status) in cases {
            var driver = MachineDriver {
                $0.limits.maxBodyBytes = 10
                $0.limits.maxRequestLineBytes = 50
                $0.limits.maxHeaderBytes = 60
            }
            XCTAssertEqual(driver.receive(text), .write(status, close: true), text)
            let body = try XCTUnwrap(driver.lastWrite?.response.body)
            let problem = try JSONDecoder().decode(ProblemDetails.self, from: Data(body))
            XCTAssertEqual(problem.status, status)
            XCTAssertFalse(problem.detail?.isEmpty ?? true)
            XCTAssertEqual(driver.writeDone(), .close)
        }
    }

    func testExpectContinueIsSentBeforeTheBodyIsRead() {
        var driver = MachineDriver()
        XCTAssertEqual(driver.receive("PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"), .writeContinue)
        XCTAssertEqual(driver.writeDone(), .none)
        XCTAssertEqual(driver.receive("abc"), .dispatch("PUT /u"))
    }

    func testExpectContinueWithTooLargeBodyIsRejectedEarly() {
        var driver = MachineDriver { $0.limits.maxBodyBytes = 2 }
        XCTAssertEqual(driver.receive("PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"), .write(413, close: true))
    }

    func testExpectContinueWaitsForEarlierResponses() {
        var driver = MachineDriver()
        let put = "PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
        XCTAssertEqual(driver.receive(get1 + put), .dispatch("GET /1"))
        XCTAssertEqual(driver.respond(), .write(200, close: false))
        XCTAssertEqual(driver.writeDone(), .writeContinue)
        XCTAssertEqual(driver.writeDone(), .none)
        XCTAssertEqual(driver.receive("abc"), .dispatch("PUT /u"))
    }

    func testNoContinueWhenTheBodyArrivedAnyway() {
        var driver = MachineDriver()
        let put = "PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
        XCTAssertEqual(driver.receive(get1 + put), .dispatch("GET /1"))
        XCTAssertEqual(driver.answer(), .dispatch("PUT /u"))
    }

    func testEndOfInputMidHeadCloses() {
        var driver = MachineDriver()
        _ = driver.receive("GET / HT")
        XCTAssertEqual(driver.eof(), .close)
    }

    func testEndOfInputMidBodyIsABadRequest() {
        var driver = MachineDriver()
        _ = driver.receive("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        XCTAssertEqual(driver.eof(), .write(400, close: true))
        XCTAssertEqual(driver.writeDone(), .close)
        var chunked = MachineDriver()
        _ = chunked.receive("POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
        XCTAssertEqual(chunked.eof(), .write(400, close: true))
    }

    func testEndOfInputAfterACompleteRequestStillAnswersIt() {
        var driver = MachineDriver()
        XCTAssertEqual(driver.receive(get1 + get2), .dispatch("GET /1"))
        XCTAssertEqual(driver.eof(), .none)
        XCTAssertEqual(driver.answer(), .dispatch("GET /2"))
        XCTAssertEqual(driver.respond(), .write(200, close: true), "the last answer announces the close")
        XCTAssertEqual(driver.writeDone(), .close)
    }

    func testDirectBodyReadCompletesARequest() {
        var driver = MachineDriver()
        XCTAssertEqual(driver.receive("POST /d HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n"), .none)
        XCTAssertTrue(driver.machine.wantsDirectBodyRead)
        let (count, action) = driver.machine.receiveBodyDirectly(now: 0) { buffer in
            buffer.copyBytes(from: "body".utf8)
            return 4
        }
        XCTAssertEqual(count, 4)
        XCTAssertEqual(driver.record(action), .dispatch("POST /d"))
        XCTAssertEqual(driver.lastRequest?.body, Array("body".utf8))
        XCTAssertFalse(driver.machine.wantsDirectBodyRead)
    }
}
