extension SafeTensorsFile {
    /// The tensor `name` as a parameter decoded from the mapping whenever it is needed.
    public func parameter(_ name: String) throws -> Parameter {
        guard let e = entries[name] else { throw NNError.missingTensor(name: name) }
        return Parameter(shape: e.shape) { [self] in decode(e) }
    }
}
