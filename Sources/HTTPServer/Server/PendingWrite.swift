/// A response being sent: head and body kept apart so the body is never copied, and how much has left.
struct PendingWrite {
    let head: [UInt8]
    let body: [UInt8]
    private(set) var sent = 0

    init(head: [UInt8], body: [UInt8]) {
        self.head = head
        self.body = body
    }

    var isComplete: Bool { sent == head.count + body.count }

    /// Sends as much as the socket takes; returns the sendmsg result (bytes, or -1 with errno set).
    mutating func send(to fd: Int32) -> Int {
        let count = PosixSocket.send(fd, head: head, body: body, from: sent)
        if count > 0 { sent += count }
        return count
    }
}
