extension HTTPRequest {
    /// The body parsed as multipart/form-data, with the boundary from the request's Content-Type.
    public func multipartFormData() throws(MultipartError) -> MultipartFormData {
        try MultipartFormData(body: body, contentType: headers["Content-Type"] ?? "")
    }
}
