/// What the socket layer must do next for one connection.
enum ConnectionAction {
    case none
    /// Run the handler on this request, then report its response with `responseReady`.
    case dispatch(HTTPRequest)
    /// Send this response, then report `writeCompleted`.
    case write(HTTPResponse, ResponseContext)
    /// Send `100 Continue`, then report `writeCompleted`.
    case writeContinue
    /// Close the socket; the machine asks for nothing more.
    case close
}
