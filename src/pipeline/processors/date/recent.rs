//! The last few dates each thread parsed, per `date` processor.
//!
//! Log lines arrive in time order, so consecutive lines of one stream
//! mostly carry the same second: at 1,000 lines/s, 999 of every 1,000
//! `[01/Mar/2024:12:00:00 +0000]` stamps repeat the previous one. Parsing
//! and formatting such a stamp costs about 2,500 instructions; finding it
//! here costs one comparison of the text and a reference-count increment
//! for the formatted value.
//!
//! Only results that depend on nothing but the text are kept: the caller
//! skips the cache when the zone or locale comes from a template or when
//! a format read the clock (formats without a year). Each thread has its
//! own entries, so workers never contend; entries are tagged with the
//! processor's id, never reused, so a reload that frees a processor and
//! allocates a new one at the same address cannot see the old results.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::value::Value;

/// Entries per thread, shared by all `date` processors. Four covers a
/// stream that mixes a few time zones (or sources a second apart) and a
/// pipeline with two or three `date` processors.
const ENTRIES: usize = 4;

/// Longer texts are parsed every time; a date this long is not a log
/// line's timestamp, and the bound keeps the per-thread memory small.
const MAX_TEXT: usize = 64;

struct Entry {
    /// 0 for an empty entry; processor ids start at 1.
    processor: u64,
    text: String,
    formatted: Value,
}

struct Recent {
    entries: [Entry; ENTRIES],
    /// The entry the next miss replaces (round robin).
    next: usize,
}

thread_local! {
    static RECENT: RefCell<Recent> = RefCell::new(Recent {
        entries: std::array::from_fn(|_| Entry {
            processor: 0,
            text: String::new(),
            formatted: Value::Null,
        }),
        next: 0,
    });
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A new processor id, never handed out before in this process.
pub fn new_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The value `processor` formatted for `text` on this thread, if it is
/// still among the recent entries.
pub fn get(processor: u64, text: &str) -> Option<Value> {
    if text.len() > MAX_TEXT {
        return None;
    }
    RECENT
        .try_with(|recent| {
            let recent = recent.borrow();
            recent
                .entries
                .iter()
                .find(|e| e.processor == processor && e.text == text)
                .map(|e| e.formatted.clone())
        })
        .ok()
        .flatten()
}

/// Remembers that `processor` formats `text` as `formatted`.
pub fn put(processor: u64, text: &str, formatted: &Value) {
    if text.len() > MAX_TEXT {
        return;
    }
    let _ = RECENT.try_with(|recent| {
        let mut recent = recent.borrow_mut();
        let i = recent.next;
        recent.next = (i + 1) % ENTRIES;
        let entry = &mut recent.entries[i];
        entry.processor = processor;
        entry.text.clear();
        entry.text.push_str(text);
        entry.formatted = formatted.clone();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_per_processor_and_per_text() {
        let (a, b) = (new_id(), new_id());
        put(a, "01/Mar/2024:12:00:00 +0000", &Value::from("x"));
        assert_eq!(get(a, "01/Mar/2024:12:00:00 +0000"), Some(Value::from("x")));
        assert_eq!(get(b, "01/Mar/2024:12:00:00 +0000"), None);
        assert_eq!(get(a, "01/Mar/2024:12:00:01 +0000"), None);
    }

    #[test]
    fn the_oldest_entry_goes_first() {
        let p = new_id();
        for i in 0..=ENTRIES {
            put(p, &format!("t{i}"), &Value::from(i.to_string()));
        }
        assert_eq!(get(p, "t0"), None);
        for i in 1..=ENTRIES {
            assert_eq!(get(p, &format!("t{i}")), Some(Value::from(i.to_string())));
        }
    }

    #[test]
    fn long_texts_are_not_kept() {
        let p = new_id();
        let long = "1".repeat(MAX_TEXT + 1);
        put(p, &long, &Value::from("x"));
        assert_eq!(get(p, &long), None);
    }

    #[test]
    fn threads_do_not_share_entries() {
        let p = new_id();
        put(p, "t", &Value::from("x"));
        let seen = std::thread::spawn(move || get(p, "t")).join().expect("thread");
        assert_eq!(seen, None);
        assert_eq!(get(p, "t"), Some(Value::from("x")));
    }
}
