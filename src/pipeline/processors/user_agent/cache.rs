//! A sharded LRU from user-agent string to the finished `user_agent` object,
//! shared by the pipeline worker threads. Real traffic repeats a few
//! thousand distinct user agents, so most records skip the regex set
//! entirely and pay one hash, one short lock and one `Value` clone (a
//! pointer copy: the processor stores frozen results, see `Value::freeze`).

use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};

use crate::value::Value;
use lru::LruCache;

/// Strings longer than this are parsed but never cached, which bounds the
/// cache's memory to about `capacity × (MAX_KEY_LEN + result)`. Real user
/// agents are a few hundred bytes; nginx rejects request headers over 8 KiB
/// by default.
pub(super) const MAX_KEY_LEN: usize = 4096;

// Enough shards that a handful of worker threads rarely meet on one lock.
const SHARDS: usize = 16;

type Shard = LruCache<Box<str>, Value>;

pub(super) struct ShardedLru {
    /// Picks the shard. Separate from the shards' own hashers (each has its
    /// own random seed), so the keys of one shard still spread over all
    /// of its buckets.
    hasher: lru::DefaultHasher,
    shards: Box<[Mutex<Shard>]>,
}

impl ShardedLru {
    /// A cache holding about `capacity` entries in total.
    pub(super) fn new(capacity: NonZeroUsize) -> Self {
        let shards = SHARDS.min(capacity.get());
        let per_shard = NonZeroUsize::new(capacity.get().div_ceil(shards)).unwrap_or(NonZeroUsize::MIN);
        ShardedLru {
            hasher: lru::DefaultHasher::default(),
            shards: (0..shards).map(|_| Mutex::new(LruCache::new(per_shard))).collect(),
        }
    }

    /// A copy of the cached result for `key`, marking it recently used.
    pub(super) fn get(&self, key: &str) -> Option<Value> {
        if key.len() > MAX_KEY_LEN {
            return None;
        }
        self.shard(key).get(key).cloned()
    }

    /// Stores a freshly parsed result; oversized keys are ignored.
    pub(super) fn insert(&self, key: &str, value: Value) {
        if key.len() > MAX_KEY_LEN {
            return;
        }
        self.shard(key).put(key.into(), value);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        (0..self.shards.len()).map(|i| lock(&self.shards[i]).len()).sum()
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        (0..self.shards.len()).map(|i| lock(&self.shards[i]).cap().get()).sum()
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        // High bits: the low bits of foldhash-style hashes are the weakest.
        let h = self.hasher.hash_one(key) >> 32;
        let i = (h as usize) % self.shards.len();
        // `shards` is never empty (capacity is non-zero), and `i` is in range.
        lock(&self.shards[i])
    }
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A poisoned shard only means a thread panicked mid-operation elsewhere;
    // a possibly stale cache entry is harmless, so keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cap(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
    }

    #[test]
    fn stores_and_returns() {
        let c = ShardedLru::new(cap(100));
        assert!(c.get("a").is_none());
        c.insert("a", json!({"name": "A"}).into());
        assert_eq!(c.get("a").map(serde_json::Value::from), Some(json!({"name": "A"})));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn bounded_by_capacity() {
        let c = ShardedLru::new(cap(32));
        for i in 0..1000 {
            c.insert(&format!("ua-{i}"), json!(i).into());
        }
        assert!(c.len() <= 32, "{} entries", c.len());
        assert_eq!(c.capacity(), 32);
        // A tiny capacity uses fewer shards rather than rounding up to 16.
        let c = ShardedLru::new(cap(1));
        c.insert("a", json!(1).into());
        c.insert("b", json!(2).into());
        assert_eq!(c.len(), 1);
        assert!(c.get("b").is_some());
    }

    #[test]
    fn long_keys_are_not_cached() {
        let c = ShardedLru::new(cap(10));
        let long = "x".repeat(MAX_KEY_LEN + 1);
        c.insert(&long, json!(1).into());
        assert!(c.get(&long).is_none());
        assert_eq!(c.len(), 0);
        let edge = "x".repeat(MAX_KEY_LEN);
        c.insert(&edge, json!(1).into());
        assert!(c.get(&edge).is_some());
    }

    #[test]
    fn shared_between_threads() {
        let c = std::sync::Arc::new(ShardedLru::new(cap(10_000)));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let k = format!("ua-{}", i % 50);
                        match c.get(&k) {
                            Some(v) => assert_eq!(v, json!(i % 50)),
                            None => c.insert(&k, json!(i % 50).into()),
                        }
                    }
                    t
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().is_ok());
        }
        assert_eq!(c.len(), 50);
    }
}
