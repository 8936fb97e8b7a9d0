//! A per-processor cache of finished lookup results keyed by address. Client
//! IPs repeat heavily in web logs, so most lookups become a hash probe and a
//! clone of a ready-built object. The cache is split into independently
//! locked shards so worker threads rarely wait on each other, and no lock is
//! held while the database is read.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;
use serde_json::Value;

/// A power of two, so the shard index is a mask. Far more shards than cores
/// on typical hosts keeps two threads on the same shard unlikely.
const SHARDS: usize = 16;

/// `None` records "the database has nothing for this address", which is as
/// worth remembering as a hit: private client IPs are common.
type Entry = Option<Arc<Value>>;

pub(super) struct LookupCache {
    shards: Box<[Shard; SHARDS]>,
}

/// One shard on its own cache lines (128 bytes covers adjacent-line
/// prefetching), so threads working on different shards do not contend
/// through false sharing.
#[repr(align(128))]
struct Shard(Mutex<LruCache<IpAddr, Entry>>);

impl LookupCache {
    /// A cache holding about `capacity` results in total.
    pub(super) fn new(capacity: usize) -> Self {
        let per_shard = NonZeroUsize::new(capacity.div_ceil(SHARDS)).unwrap_or(NonZeroUsize::MIN);
        LookupCache {
            shards: Box::new(std::array::from_fn(|_| Shard(Mutex::new(LruCache::new(per_shard))))),
        }
    }

    /// The cached result for `ip`, or the result of `load` (computed without
    /// holding a lock, then remembered). Errors are not cached.
    pub(super) fn get_or_load<E>(
        &self,
        ip: IpAddr,
        load: impl FnOnce() -> Result<Option<Value>, E>,
    ) -> Result<Entry, E> {
        let shard = &self.shards[shard_of(ip)].0;
        if let Some(hit) = lock(shard).get(&ip) {
            return Ok(hit.clone());
        }
        let fresh = load()?.map(Arc::new);
        lock(shard).put(ip, fresh.clone());
        Ok(fresh)
    }
}

/// Mixes the address bits (Fibonacci hashing) so neighbouring addresses,
/// which share their high bits, spread over the shards.
fn shard_of(ip: IpAddr) -> usize {
    let bits: u64 = match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let b = u128::from(v6);
            (b as u64) ^ ((b >> 64) as u64)
        }
    };
    // The top bits of the product are the best mixed; masking keeps the
    // index below SHARDS whatever the input.
    (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize & (SHARDS - 1)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a shard cannot leave the LRU inconsistent in a
    // way that matters for a cache; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remembers_hits_and_misses_but_not_errors() {
        let cache = LookupCache::new(64);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut loads = 0;
        for _ in 0..3 {
            let got = cache
                .get_or_load::<()>(ip, || {
                    loads += 1;
                    Ok(Some(json!({"a": 1})))
                })
                .unwrap();
            assert_eq!(got.as_deref(), Some(&json!({"a": 1})));
        }
        let private: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..2 {
            assert!(
                cache
                    .get_or_load::<()>(private, || {
                        loads += 1;
                        Ok(None)
                    })
                    .unwrap()
                    .is_none()
            );
        }
        assert_eq!(loads, 2);
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(cache.get_or_load(other, || Err("boom")), Err("boom"));
        assert!(cache.get_or_load::<()>(other, || Ok(None)).unwrap().is_none());
    }

    #[test]
    fn evicts_beyond_capacity() {
        let cache = LookupCache::new(SHARDS);
        let mut loads = 0;
        for round in 0..2 {
            for i in 0..1000u32 {
                let ip = IpAddr::from(i.to_be_bytes());
                cache
                    .get_or_load::<()>(ip, || {
                        loads += 1;
                        Ok(None)
                    })
                    .unwrap();
            }
            if round == 0 {
                assert_eq!(loads, 1000);
            }
        }
        assert!(loads > 1900, "a tiny cache must not hold 1000 entries ({loads} loads)");
    }

    #[test]
    fn shard_index_is_in_range() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "2a03::1",
        ] {
            assert!(shard_of(ip.parse().unwrap()) < SHARDS);
        }
    }
}
