/// Maps the ids of a partial panoptic map to mask slots 1...capacity (in order of first
/// appearance) and predicted slots back to ids, giving new segments ids unused by known ones.
struct SlotRemapping {
    private var slotOfID: [UInt32: Int32] = [:]
    private var idOfSlot: [Int32: UInt32] = [:]

    init(ids: [UInt32], known: [Bool], capacity: Int) throws {
        for (i, id) in ids.enumerated() where known[i] && id != 0 && slotOfID[id] == nil {
            guard slotOfID.count < capacity else {
                throw LDMSegError.invalidMask(reason: "more than \(capacity) distinct segment ids among the known pixels")
            }
            let slot = Int32(slotOfID.count + 1)
            slotOfID[id] = slot
            idOfSlot[slot] = id
        }
    }

    /// The ids of the known segments.
    var knownIDs: Dictionary<UInt32, Int32>.Keys { slotOfID.keys }

    /// The slot of each pixel (0 where unknown or void).
    func slots(_ ids: [UInt32], known: [Bool]) -> [Int32] {
        ids.indices.map { known[$0] ? (slotOfID[ids[$0]] ?? 0) : 0 }
    }

    /// Ids for predicted slots (-1 = void -> 0): known slots get their id back, other slots a
    /// fresh id above every known id.
    func ids(forSlots slots: [Int32]) -> [UInt32] {
        let base = (idOfSlot.values.max() ?? 0)
        return slots.map { s in
            if s < 0 { return 0 }
            if let id = idOfSlot[s] { return id }
            return base + UInt32(s) + 1
        }
    }
}
