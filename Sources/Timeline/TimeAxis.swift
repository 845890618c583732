import Pipeline

/// The timeline's axis labels: ticks on round UTC times (every 1, 2, 5… seconds up to a year),
/// at most `maxTicks`, labelled with the date whenever the range crosses midnight, so a page that
/// spans days says which days. The script draws the same ticks for live pages (`Assets.js`).
enum TimeAxis {
    static let second: Int64 = 1_000_000, minute = 60 * second, hour = 60 * minute, day = 24 * hour
    static let steps: [Int64] =
        [1, 2, 5, 10, 15, 30].map { $0 * second } + [1, 2, 5, 10, 15, 30].map { $0 * minute }
        + [1, 2, 3, 6, 12].map { $0 * hour } + [1, 2, 7, 14, 30, 90, 180, 365].map { $0 * day }
    static let maxTicks = 6

    struct Tick: Equatable {
        var micros: Int64
        var label: String
    }

    /// The step: the smallest that keeps the ticks in `min...max` to `maxTicks` or fewer.
    static func step(min: Int64, max: Int64) -> Int64 {
        steps.first { (max - min) / $0 < Int64(maxTicks) } ?? steps.last!
    }

    static func ticks(min: Int64, max: Int64) -> [Tick] {
        guard max > min else { return [] }
        let step = step(min: min, max: max)
        let spansDays = floorDiv(min, day) != floorDiv(max, day)
        var ticks: [Tick] = []
        var t = (floorDiv(min, step) + (min % step == 0 ? 0 : 1)) * step
        while t <= max {
            ticks.append(Tick(micros: t, label: label(t, step: step, spansDays: spansDays)))
            t += step
        }
        return ticks
    }

    /// `2026-11-24` for day steps; `11-24 12:00` across days; `12:00` or `12:00:05` within one.
    static func label(_ t: Int64, step: Int64, spansDays: Bool) -> String {
        let iso = Timestamp(microseconds: t).pythonISOFormat  // 2026-11-24T12:00:05+00:00
        let date = iso.prefix(10), time = iso.dropFirst(11).prefix(8)
        if step >= day { return String(date) }
        let clock = step < minute ? String(time) : String(time.prefix(5))
        return spansDays ? "\(date.dropFirst(5)) \(clock)" : clock
    }

    /// The range's dates, said once under the axis: `2026-11-24 (UTC)` or `2026-11-24 – 2026-12-01 (UTC)`.
    static func caption(min: Int64, max: Int64) -> String {
        let first = Timestamp(microseconds: min).pythonISOFormat.prefix(10), last = Timestamp(microseconds: max).pythonISOFormat.prefix(10)
        return first == last ? "\(first) (UTC)" : "\(first) – \(last) (UTC)"
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }
}
