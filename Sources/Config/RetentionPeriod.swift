/// A retention period in whole days, as written (`400d`, `52w`, `7y`).
public struct RetentionPeriod: Sendable, Equatable {
    public var days: Int
    public var text: String

    public init(days: Int, text: String) {
        self.days = days
        self.text = text
    }

    public init?(_ text: String) {
        guard let unit = text.last, let count = Int(text.dropLast()), count > 0, count <= 100_000 else { return nil }
        switch unit {
        case "d": days = count
        case "w": days = count * 7
        case "y": days = count * 365
        default: return nil
        }
        guard days <= 100 * 365 else { return nil }
        self.text = text
    }
}
