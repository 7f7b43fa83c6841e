//! How many tests run at once by default: one per core, but no more than
//! the machine's memory carries. A test's peak is several times its heap:
//! the runtime builds the snapshot beside the heap, and memcheck parses the
//! "before" and "after" snapshots at once. Measured: a test holding about
//! 300 MB of objects peaked at 3.6 GiB in Deno and 4.0 GiB in memcheck, so
//! a test thread is given 6 GiB of the machine's memory: an 8 GB runner
//! runs one test at a time, a 32 GB one up to five. `--test-threads` wins.

/// Memory set aside for each test running at once.
const PER_TEST: u64 = 6 << 30;

/// The default number of test threads.
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match total_memory() {
        Some(bytes) => cores.min((bytes / PER_TEST).max(1) as usize),
        None => cores,
    }
}

/// Memory set aside for each listing process kept waiting to run its
/// file's first test (a runtime that loaded a small test file takes well
/// under a tenth of it).
const PER_PARKED: u64 = 512 << 20;

/// How many listing processes may wait at once: one per 512 MiB of the
/// machine's memory, from 2 to 32. The files after them are listed by a
/// process that ends, and run in processes of their own.
pub fn max_parked() -> usize {
    total_memory().map_or(8, |bytes| (bytes / PER_PARKED).clamp(2, 32) as usize)
}

/// The machine's memory, when the system says.
fn total_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        mem_total(&info)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_from_meminfo() {
        let info = "MemTotal:        8038344 kB\nMemFree:  100 kB\n";
        assert_eq!(mem_total(info), Some(8_038_344 * 1024));
        assert_eq!(mem_total("nothing"), None);
        // An 8 GB runner runs one test at a time.
        assert_eq!((mem_total(info).unwrap() / PER_TEST).max(1), 1);
        assert!(default_threads() >= 1);
    }
}
