/// Semantic segmentation metrics from a confusion matrix: mean IoU over the classes that occur
/// (in the ground truth or the prediction) and pixel accuracy, ignoring one label.
public struct SemanticMetrics: Sendable {
    public let numClasses: Int
    public let ignoreLabel: Int
    /// confusion[gt * numClasses + pred]
    public private(set) var confusion: [Int]

    public init(numClasses: Int, ignoreLabel: Int = 255) {
        self.numClasses = numClasses
        self.ignoreLabel = ignoreLabel
        confusion = [Int](repeating: 0, count: numClasses * numClasses)
    }

    /// Adds one image of labels; a label outside 0..<numClasses (other than the ignore label)
    /// is an error naming the image.
    public mutating func add(image: String, gt: [Int], pred: [Int]) throws {
        guard gt.count == pred.count else {
            throw EvaluationError.sizeMismatch(image: image, gtPixels: gt.count, predPixels: pred.count)
        }
        for i in gt.indices where gt[i] != ignoreLabel {
            let g = gt[i], p = pred[i]
            guard (0..<numClasses).contains(g), (0..<numClasses).contains(p) else {
                throw EvaluationError.unknownCategory(image: image, id: UInt32(i), categoryID: (0..<numClasses).contains(g) ? p : g)
            }
            confusion[g * numClasses + p] += 1
        }
    }

    /// IoU per class (nil where the class occurs nowhere).
    public var classIoU: [Double?] {
        (0..<numClasses).map { c in
            let tp = confusion[c * numClasses + c]
            let gtTotal = (0..<numClasses).reduce(0) { $0 + confusion[c * numClasses + $1] }
            let predTotal = (0..<numClasses).reduce(0) { $0 + confusion[$1 * numClasses + c] }
            let union = gtTotal + predTotal - tp
            return union > 0 ? Double(tp) / Double(union) : nil
        }
    }

    public var meanIoU: Double {
        let present = classIoU.compactMap { $0 }
        return present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count)
    }

    public var pixelAccuracy: Double {
        let total = confusion.reduce(0, +)
        let correct = (0..<numClasses).reduce(0) { $0 + confusion[$1 * numClasses + $1] }
        return total > 0 ? Double(correct) / Double(total) : 0
    }
}
