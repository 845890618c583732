import Foundation

/// glibc's allocator, tuned for a collector whose memory comes in bursts (large batches): by
/// default glibc gives each contended thread an arena of its own (up to 8 per core) and keeps
/// freed memory in them. Measured with `governance-bench --hostile` (eight senders of 15.6 MB
/// batches, one admitted at a time): peak RSS 274 MiB and 126 MiB held afterwards with default
/// arenas; 227 and 79 MiB with two. Three sequential 14.8 MB batches left 260 MiB resident
/// without `malloc_trim` once idle, 130 MiB with it. Both are GNU extensions that Swift's Glibc
/// module does not export, so they are looked up at run time; elsewhere they do nothing.
public enum Allocator {
    /// At most `count` malloc arenas (`mallopt(M_ARENA_MAX)`), unless `MALLOC_ARENA_MAX` is
    /// set: call before the process starts its threads.
    public static func limitArenas(to count: Int32) {
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil,
            let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt")
        else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-8, count)  // M_ARENA_MAX
    }

    /// Returns freed heap pages to the system (`malloc_trim(0)`).
    public static func trim() {
        _ = mallocTrim?(0)
    }

    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim")
        .map { unsafeBitCast($0, to: (@convention(c) (Int) -> Int32).self) }
}
