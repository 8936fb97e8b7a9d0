//! A per-processor cache of finished lookup results keyed by address. Client
//! IPs repeat heavily in web logs, so most lookups become one probe and a
//! clone of a ready-built object.
//!
//! It is a two-way set-associative table rather than a linked LRU: a hit
//! reads (and at most swaps within) one cache line, where a linked LRU
//! chases the hash entry, the node and both list neighbours, each a likely
//! cache miss. The table is split into independently locked shards so
//! worker threads rarely wait on each other; no lock is held while the
//! database is read or while an evicted result is freed.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::value::Value;

/// A power of two; far more shards than cores on typical hosts keeps two
/// threads on the same shard unlikely.
const SHARDS: usize = 16;

/// `None` records "the database has nothing for this address", which is as
/// worth remembering as a hit: private client IPs are common.
type Entry = Option<Arc<Value>>;

pub(super) struct LookupCache {
    shards: Box<[Shard; SHARDS]>,
    /// Sets per shard minus one (a power of two minus one, used as a mask).
    set_mask: usize,
}

/// One shard on its own cache lines (128 bytes covers adjacent-line
/// prefetching), so threads on different shards do not false-share.
#[repr(align(128))]
struct Shard(Mutex<Box<[Set]>>);

/// Two slots, the most recently used first; 64 bytes, one cache line.
#[derive(Default)]
#[repr(align(64))]
struct Set([Slot; 2]);

#[derive(Default)]
struct Slot {
    ip: Option<IpAddr>,
    entry: Entry,
}

impl LookupCache {
    /// A cache holding about `capacity` results in total (rounded up to a
    /// power of two per shard).
    pub(super) fn new(capacity: usize) -> Self {
        let sets_per_shard = capacity.div_ceil(SHARDS * 2).max(1).next_power_of_two();
        LookupCache {
            shards: Box::new(std::array::from_fn(|_| {
                Shard(Mutex::new((0..sets_per_shard).map(|_| Set::default()).collect()))
            })),
            set_mask: sets_per_shard - 1,
        }
    }

    /// The cached result for `ip`, or the result of `load` (computed without
    /// holding a lock, then remembered). Errors are not cached.
    pub(super) fn get_or_load<E>(
        &self,
        ip: IpAddr,
        load: impl FnOnce() -> Result<Option<Value>, E>,
    ) -> Result<Entry, E> {
        let hash = mix(ip);
        // The top bits pick the shard, the low bits the set: independent.
        let shard = &self.shards[(hash >> 60) as usize & (SHARDS - 1)].0;
        let set_index = hash as usize & self.set_mask;
        {
            let mut sets = lock(shard);
            if let Some(Set(slots)) = sets.get_mut(set_index) {
                if slots[0].ip == Some(ip) {
                    return Ok(slots[0].entry.clone());
                }
                if slots[1].ip == Some(ip) {
                    slots.swap(0, 1);
                    return Ok(slots[0].entry.clone());
                }
            }
        }
        // Frozen: a hit is then copied into the document as a pointer, and
        // encoded by copying its JSON.
        let fresh = load()?.map(|found| Arc::new(found.freeze()));
        let evicted = {
            let mut sets = lock(shard);
            sets.get_mut(set_index).map(|Set(slots)| {
                // Another thread may have stored the same address meanwhile;
                // replace it rather than holding it twice.
                if slots[0].ip != Some(ip) {
                    slots.swap(0, 1);
                }
                std::mem::replace(
                    &mut slots[0],
                    Slot {
                        ip: Some(ip),
                        entry: fresh.clone(),
                    },
                )
            })
        };
        drop(evicted);
        Ok(fresh)
    }
}

/// A 64-bit mix of the address (Fibonacci hashing over the folded bits), so
/// neighbouring addresses, which share their high bits, spread out.
fn mix(ip: IpAddr) -> u64 {
    let bits: u64 = match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let b = u128::from(v6);
            (b as u64) ^ ((b >> 64) as u64).rotate_left(32)
        }
    };
    let h = bits.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a shard cannot leave it inconsistent in a way
    // that matters for a cache; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use serde_json::json;

    fn load_count(cache: &LookupCache, ips: impl Iterator<Item = IpAddr>) -> usize {
        let mut loads = 0;
        for ip in ips {
            cache
                .get_or_load::<()>(ip, || {
                    loads += 1;
                    Ok(None)
                })
                .unwrap();
        }
        loads
    }

    #[test]
    fn remembers_hits_and_misses_but_not_errors() {
        let cache = LookupCache::new(64);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut loads = 0;
        for _ in 0..3 {
            let got = cache
                .get_or_load::<()>(ip, || {
                    loads += 1;
                    Ok(Some(json!({"a": 1}).into()))
                })
                .unwrap();
            assert_eq!(got.as_deref().map(Value::from), Some(json!({"a": 1})));
        }
        assert_eq!(loads, 1);
        let private: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(load_count(&cache, std::iter::repeat_n(private, 3)), 1);
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(cache.get_or_load(other, || Err("boom")), Err("boom"));
        assert_eq!(load_count(&cache, std::iter::once(other)), 1);
    }

    #[test]
    fn holds_a_working_set_below_capacity() {
        let cache = LookupCache::new(4096);
        let ips = || (0..500u32).map(|i| IpAddr::from((0x5551_0000 + i * 37).to_be_bytes()));
        assert_eq!(load_count(&cache, ips()), 500);
        // Two ways per set: a few unlucky addresses may share a set with two
        // others, but nearly all of a working set this small stays cached.
        assert!(load_count(&cache, ips()) < 25);
        let v6 = || (0..500u64).map(|i| IpAddr::from(std::net::Ipv6Addr::from((0x2a03_u128 << 112) | u128::from(i))));
        assert_eq!(load_count(&cache, v6()), 500);
        assert!(load_count(&cache, v6()) < 25);
    }

    #[test]
    fn evicts_beyond_capacity() {
        let cache = LookupCache::new(SHARDS);
        let ips = || (0..1000u32).map(|i| IpAddr::from(i.to_be_bytes()));
        assert_eq!(load_count(&cache, ips()), 1000);
        assert!(load_count(&cache, ips()) > 900, "a tiny cache cannot hold 1000 entries");
    }

    #[test]
    fn one_set_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Set>(), 64);
    }
}
