package import Config

/// The `retention:` section (docs/components/retention.md): how long rows are kept, the floor a
/// shorter setting is refused below, and how often the sealed removal runs.
package struct RetentionConfig: Sendable {
    /// `keep` (required): rows received more than this many days ago are removed, whole UTC days at a time.
    package var keep: RetentionPeriod
    /// `minimum` (default 7d): a `keep` shorter than this is refused at start-up.
    package var minimum = defaultMinimum
    package static let defaultMinimum = RetentionPeriod(days: 7, text: "7d")
    /// `interval` (seconds, default 3600): how often retention runs.
    package var interval: Double = 3600
    /// `max_rows` (default 1,000,000): rows removed per transaction; a backlog continues at once.
    package var maxRows = 1_000_000
    /// `pipeline`: whose primary's database retention runs on.
    package var pipeline = ""

    package init(keep: RetentionPeriod) {
        self.keep = keep
    }

    package static func read(_ section: ConfigSection, pipelines: [String]) throws(ConfigError) -> RetentionConfig? {
        let enabled = try section.bool("enabled", default: true)
        let formats = "write whole days as `400d`, weeks as `52w` or years (365 days) as `7y`"
        func period(_ key: String, default defaultValue: String?) throws(ConfigError) -> RetentionPeriod? {
            guard let text = try section.string(key, default: defaultValue) else { return nil }
            guard let period = RetentionPeriod(text) else { throw section.error(key, "is `\(text)`", fix: formats) }
            return period
        }
        guard let keep = try period("keep", default: nil) else {
            throw section.error("keep", "is required", fix: "say how long rows are kept, e.g. `keep: 400d` (\(formats))")
        }
        let minimum = try period("minimum", default: defaultMinimum.text)!
        guard keep.days >= minimum.days else {
            throw section.error(
                "keep", "is \(keep.text), shorter than retention.minimum (\(minimum.text))",
                fix: "keep rows at least \(minimum.text), or lower `minimum` if a shorter retention is really allowed")
        }
        var config = RetentionConfig(keep: keep)
        config.minimum = minimum
        config.interval = try section.double("interval", default: 3600, range: 0.01...86400)
        config.maxRows = try section.int("max_rows", default: 1_000_000, range: 1...100_000_000)
        config.pipeline = try section.pipeline(among: pipelines, whose: "database retention runs on")
        try section.finish()
        return enabled ? config : nil
    }
}
