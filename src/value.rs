//! The value model of a document: JSON values whose objects are small
//! vectors with inline keys.
//!
//! It mirrors `serde_json::Value` (same variants, same accessors, so the
//! processors read the same), and differs where the pipeline spends its
//! time (see docs/benchmarks.md, "A document type of our own"):
//!
//! - **Keys are [`Key`]s** (`SmolStr`): field names up to 23 bytes live
//!   inline, so creating or copying a key allocates nothing.
//! - **Objects are vectors in insertion order**, each slot tagged with one
//!   word (the key's first seven bytes and its length), so a scan compares
//!   a word per key instead of calling `memcmp`; the shipped pipelines'
//!   objects hold 1 to 15 keys, where that beats a B-tree. An object that
//!   grows past [`INDEX_AT`] keys (a `json` or `kv` processor on hostile
//!   input) gets a hash index, so no input makes lookups quadratic.
//! - **[`Name`]s** are keys prepared at load time (the segments of a field
//!   path): tag computed once, and the position where the key was last
//!   found remembered, since one pipeline's documents share their shape.
//! - Objects are encoded in insertion order, as Elasticsearch keeps
//!   `_source`. Equality ignores key order, as JSON's does.
//!
//! `serde_json::Value` stays at the edges: pipeline configuration, the
//! alerting queries, and tests (`From` both ways and `PartialEq` across).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

mod write;

pub use serde_json::Number;
/// An object key: inline up to 23 bytes, shared (`Arc<str>`) beyond.
pub use smol_str::SmolStr as Key;
/// A string value: inline up to 23 bytes (most values of a log document:
/// methods, versions, names, codes), shared (`Arc<str>`) beyond, so
/// copying a cached or constant value never allocates.
pub use smol_str::SmolStr as Str;

/// Above this many keys an object keeps a hash index of its keys.
pub const INDEX_AT: usize = 24;

/// A JSON value in a document.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json keeps it (u64, i64 or finite f64).
    Number(Number),
    /// A string.
    String(Str),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Map),
}

static NULL: Value = Value::Null;

/// A JSON object: keys in insertion order, each at most once.
///
/// An object is either its own (`entries`) or **frozen**: a read-only
/// object shared through an `Arc`, with its JSON encoded once
/// ([`Map::freeze`]). The GeoIP and user-agent processors freeze the
/// results they cache, so putting one into a document copies a pointer,
/// dropping it releases one, and encoding it copies its bytes. The first
/// change to a frozen object gives the document its own copy of its
/// slots; reads go through to the shared one.
#[derive(Default)]
pub struct Map {
    /// The keys of an object of its own; empty (and unallocated) while
    /// frozen.
    entries: Vec<Slot>,
    /// Nothing for the common object; the hash index of one with more than
    /// [`INDEX_AT`] keys, or the frozen object this one shares. One
    /// pointer, so that every `Value` stays 32 bytes.
    aux: Option<Arc<Aux>>,
}

#[derive(Clone)]
enum Aux {
    /// Key → position, kept only while the object has more than
    /// [`INDEX_AT`] keys. Shared between clones until one of them changes.
    Index(HashMap<Key, usize>),
    Frozen(Frozen),
}

/// A shared read-only object and its JSON.
#[derive(Clone)]
struct Frozen {
    /// Its keys and values (never itself frozen).
    map: Map,
    /// `map` as compact JSON, what [`Map::write_json`] writes for it.
    json: Box<[u8]>,
}

/// The capacity a new object starts with, and the one the per-thread pool
/// of slot vectors keeps.
const POOLED_CAPACITY: usize = 8;

/// At most this many empty slot vectors are kept per thread (8 × 72 bytes
/// each, so at most 147 KiB).
const POOL_LIMIT: usize = 256;

thread_local! {
    /// Slot vectors of dropped objects, for the next document's objects.
    /// A document of the shipped nginx pipeline has about 14 objects; with
    /// glibc, half of their 576-byte vectors missed the per-thread cache
    /// and took malloc's slow path, document after document.
    static POOL: std::cell::RefCell<Vec<Vec<Slot>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty slot vector with room for [`POOLED_CAPACITY`] keys.
fn pooled_vec() -> Vec<Slot> {
    POOL.try_with(|pool| pool.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(POOLED_CAPACITY))
}

/// Empties `slots` (dropping the values, whose own objects come back here
/// first) and keeps the vector for reuse if the pool has room.
fn recycle(mut slots: Vec<Slot>) {
    slots.clear();
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_LIMIT {
            pool.push(slots);
        }
    });
}

impl Drop for Map {
    fn drop(&mut self) {
        if self.entries.capacity() == POOLED_CAPACITY {
            recycle(std::mem::take(&mut self.entries));
        }
    }
}

/// A copy of `slots` in a vector of its own (from the pool when it fits).
fn copy_slots(slots: &[Slot]) -> Vec<Slot> {
    let mut entries = match slots.len() {
        0 => Vec::new(),
        n if n <= POOLED_CAPACITY => pooled_vec(),
        n => Vec::with_capacity(n),
    };
    entries.extend(slots.iter().cloned());
    entries
}

/// Copying a frozen object copies the pointer; copying any other copies
/// its slots (and shares its index until one of the two changes).
impl Clone for Map {
    fn clone(&self) -> Self {
        Map {
            entries: copy_slots(&self.entries),
            aux: self.aux.clone(),
        }
    }
}

#[derive(Clone)]
struct Slot {
    tag: u64,
    key: Key,
    value: Value,
}

/// A key's first seven bytes and its length (capped at 255) in one word.
/// Equal tags mean equal keys for keys of up to seven bytes, and a scan
/// over an object compares one word per key instead of calling `memcmp`.
#[inline]
fn tag_of(key: &str) -> u64 {
    let b = key.as_bytes();
    let mut tag = (b.len().min(255) as u64) << 56;
    for (i, &byte) in b.iter().take(7).enumerate() {
        tag |= u64::from(byte) << (8 * i);
    }
    tag
}

/// For a tag that holds its whole key (one of up to seven bytes): the
/// key's bytes (then zeros) as a little-endian word, and its length.
#[inline(always)]
fn whole_key_in_tag(tag: u64) -> Option<(u64, usize)> {
    let len = (tag >> 56) as usize;
    (len < 8).then_some((tag & !(0xff << 56), len))
}

/// True if two keys with equal tags (so equal lengths and equal first
/// seven bytes) are equal. Keys of up to 23 bytes compare their bytes
/// from the eighth on as one or two overlapping words, without a call to
/// `memcmp`.
#[inline(always)]
fn same_after_tag(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| s.get(at..at + 8).map(|w| u64::from_le_bytes(to_word(w)));
    match len {
        0..=7 => a == b,
        // Bytes 7..len lie inside the last word (len - 8 <= 7).
        8..=15 => word(a, len - 8) == word(b, len - 8),
        // Bytes 7..15 and the last word (len - 8 <= 15) cover 7..len.
        16..=23 => word(a, 7) == word(b, 7) && word(a, len - 8) == word(b, len - 8),
        _ => a == b,
    }
}

/// The position of a key among `slots`, by its tag.
#[inline(always)]
fn scan(slots: &[Slot], tag: u64, key: &str) -> Option<usize> {
    if key.len() < 8 {
        slots.iter().position(|s| s.tag == tag)
    } else {
        slots
            .iter()
            .position(|s| s.tag == tag && same_after_tag(s.key.as_bytes(), key.as_bytes()))
    }
}

/// An eight-byte slice as an array, for `u64::from_le_bytes`. Callers pass
/// a `chunks_exact(8)` chunk or an eight-byte range.
#[inline(always)]
fn to_word(w: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(w);
    a
}

/// A field name prepared for repeated lookups (the segments of a field
/// path, compiled once at load time): its tag is computed once, and it
/// remembers where it was last found.
///
/// The documents one pipeline builds have the same shape record after
/// record, so `event` sits at the same position of the same object every
/// time: a lookup first checks the remembered position (one tag
/// comparison) and scans only when the key is elsewhere or absent. The
/// hint is shared by the worker threads that run the pipeline, as a
/// relaxed atomic; a stale or racing hint only costs the scan.
#[derive(Debug)]
pub struct Name {
    tag: u64,
    key: Key,
    hint: AtomicU32,
}

impl Clone for Name {
    fn clone(&self) -> Self {
        Name {
            tag: self.tag,
            key: self.key.clone(),
            hint: AtomicU32::new(self.hint.load(Relaxed)),
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.key == other.key
    }
}

impl Eq for Name {}

impl Name {
    /// Prepares `key`.
    pub fn new(key: &str) -> Self {
        Name {
            tag: tag_of(key),
            key: Key::new(key),
            hint: AtomicU32::new(0),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        self.key.as_str()
    }

    /// True if the tag holds the whole key (up to 7 bytes), so that equal
    /// tags mean equal keys.
    #[inline(always)]
    fn tag_is_key(&self) -> bool {
        whole_key_in_tag(self.tag).is_some()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.key.as_str()
    }
}

impl Map {
    /// An empty object.
    pub const fn new() -> Self {
        Map {
            entries: Vec::new(),
            aux: None,
        }
    }

    /// An empty object with room for `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        Map {
            entries: Vec::with_capacity(n),
            aux: None,
        }
    }

    /// The slots to read: the shared ones of a frozen object, else its own.
    #[inline(always)]
    fn slots(&self) -> &[Slot] {
        match self.aux.as_deref() {
            Some(Aux::Frozen(frozen)) => &frozen.map.entries,
            _ => &self.entries,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.slots().len()
    }

    /// True if the object has no keys.
    pub fn is_empty(&self) -> bool {
        self.slots().is_empty()
    }

    /// The position of a key in [`slots`](Self::slots).
    #[inline(always)]
    fn position_tagged(&self, tag: u64, key: &str) -> Option<usize> {
        match &self.aux {
            Some(aux) => Self::position_aux(aux, tag, key),
            None => scan(&self.entries, tag, key),
        }
    }

    #[inline(never)]
    fn position_aux(aux: &Aux, tag: u64, key: &str) -> Option<usize> {
        match aux {
            Aux::Index(index) => index.get(key).copied(),
            Aux::Frozen(frozen) => frozen.map.position_tagged(tag, key),
        }
    }

    /// Shares this object read-only from now on (see [`Map`]): copies of
    /// it copy a pointer, and its JSON is written once, here. Objects
    /// inside it are frozen too, so that changing this one later copies
    /// only its own slots.
    pub fn freeze(mut self) -> Map {
        if self.is_frozen() {
            return self;
        }
        for slot in &mut self.entries {
            if let Value::Object(inner) = &mut slot.value {
                *inner = std::mem::take(inner).freeze();
            }
        }
        let mut json = Vec::new();
        self.write_json(&mut json);
        // A cached object lives long and is never added to: no spare room.
        self.entries.shrink_to_fit();
        Map {
            entries: Vec::new(),
            aux: Some(Arc::new(Aux::Frozen(Frozen {
                map: self,
                json: json.into_boxed_slice(),
            }))),
        }
    }

    /// True if this object is shared read-only (see [`Map::freeze`]).
    pub fn is_frozen(&self) -> bool {
        matches!(self.aux.as_deref(), Some(Aux::Frozen(_)))
    }

    /// The JSON of a frozen object.
    #[inline(always)]
    fn frozen_json(&self) -> Option<&[u8]> {
        match self.aux.as_deref() {
            Some(Aux::Frozen(frozen)) => Some(&frozen.json),
            _ => None,
        }
    }

    /// Makes a frozen object this document's own, before a change: its
    /// slots are copied, in the same order, so a position found before
    /// stays valid.
    #[inline(always)]
    fn thaw(&mut self) {
        if self.aux.is_some() {
            self.thaw_aux();
        }
    }

    #[inline(never)]
    fn thaw_aux(&mut self) {
        if let Some(Aux::Frozen(frozen)) = self.aux.as_deref() {
            let entries = copy_slots(&frozen.map.entries);
            let aux = frozen.map.aux.clone();
            self.entries = entries;
            self.aux = aux;
        }
    }

    /// The index, to change: this object's own copy of it.
    fn index_mut(&mut self) -> Option<&mut HashMap<Key, usize>> {
        match self.aux.as_mut().map(Arc::make_mut) {
            Some(Aux::Index(index)) => Some(index),
            _ => None,
        }
    }

    /// The position of a prepared name: its remembered position if the
    /// key is still there, else a scan (which updates the hint). The check
    /// of the hint is inlined into every caller; the scan is not. Callers
    /// outside step into the value there ([`value_at_mut`](Self::value_at_mut))
    /// or insert when it is absent.
    #[inline(always)]
    pub(crate) fn find(&self, name: &Name) -> Option<usize> {
        let hint = name.hint.load(Relaxed) as usize;
        if let Some(slot) = self.entries.get(hint)
            && slot.tag == name.tag
            && (name.tag_is_key() || same_after_tag(slot.key.as_bytes(), name.key.as_bytes()))
        {
            return Some(hint);
        }
        self.find_by_scan(name)
    }

    #[inline(never)]
    fn find_by_scan(&self, name: &Name) -> Option<usize> {
        let found = self.position_tagged(name.tag, &name.key);
        if let Some(i) = found {
            name.hint.store(u32::try_from(i).unwrap_or(0), Relaxed);
        }
        found
    }

    /// The value at a position [`find`](Self::find) has just returned
    /// (the map unchanged since).
    #[inline(always)]
    pub(crate) fn value_at_mut(&mut self, i: usize) -> &mut Value {
        self.thaw();
        &mut self.entries[i].value
    }

    /// Appends `name`, which the caller has just found absent.
    #[inline]
    pub(crate) fn push_name(&mut self, name: &Name, value: Value) {
        self.thaw();
        name.hint.store(u32::try_from(self.entries.len()).unwrap_or(0), Relaxed);
        self.push_new(name.tag, name.key.clone(), value);
    }

    #[inline]
    fn position(&self, key: &str) -> Option<usize> {
        self.position_tagged(tag_of(key), key)
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.slots()[i].value)
    }

    /// The value of `key`, mutably.
    #[inline]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let i = self.position(key)?;
        Some(self.value_at_mut(i))
    }

    /// The value of a prepared name.
    #[inline(always)]
    pub fn get_name(&self, name: &Name) -> Option<&Value> {
        self.find(name).map(|i| &self.slots()[i].value)
    }

    /// The value of a prepared name, mutably.
    #[inline(always)]
    pub fn get_name_mut(&mut self, name: &Name) -> Option<&mut Value> {
        let i = self.find(name)?;
        Some(self.value_at_mut(i))
    }

    /// Sets a prepared name (no allocation for the key).
    #[inline]
    pub fn insert_name(&mut self, name: &Name, value: Value) -> Option<Value> {
        match self.find(name) {
            Some(i) => Some(std::mem::replace(self.value_at_mut(i), value)),
            None => {
                self.push_name(name, value);
                None
            }
        }
    }

    /// Removes a prepared name, keeping the order of the others.
    pub fn remove_name(&mut self, name: &Name) -> Option<Value> {
        let i = self.find(name)?;
        Some(self.remove_at(i).value)
    }

    /// True if `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key`, returning the value it replaces. A new key goes last.
    pub fn insert(&mut self, key: impl Into<Key>, value: impl Into<Value>) -> Option<Value> {
        let (key, value) = (key.into(), value.into());
        let tag = tag_of(&key);
        match self.position_tagged(tag, &key) {
            Some(i) => Some(std::mem::replace(self.value_at_mut(i), value)),
            None => {
                self.push_new(tag, key, value);
                None
            }
        }
    }

    /// Appends a key the caller knows is absent.
    fn push_new(&mut self, tag: u64, key: Key, value: Value) {
        self.thaw();
        let at = self.entries.len();
        if let Some(index) = self.index_mut() {
            index.insert(key.clone(), at);
        }
        if self.entries.capacity() == 0 {
            // Most objects of a log document hold 2 to 8 keys; starting at
            // 8 spares the growth steps from 4.
            self.entries = pooled_vec();
        }
        self.entries.push(Slot { tag, key, value });
        if self.aux.is_none() && self.entries.len() > INDEX_AT {
            self.rebuild_index();
        }
    }

    /// Builds the index, or drops it below [`INDEX_AT`] keys (on an
    /// object of its own).
    fn rebuild_index(&mut self) {
        if self.entries.len() > INDEX_AT {
            let index = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, s)| (s.key.clone(), i))
                .collect();
            self.aux = Some(Arc::new(Aux::Index(index)));
        } else {
            self.aux = None;
        }
    }

    /// The entry of `key`, to fill if vacant (`map.entry(k).or_insert_with(…)`).
    pub fn entry(&mut self, key: impl Into<Key>) -> Entry<'_> {
        Entry {
            map: self,
            key: key.into(),
        }
    }

    fn remove_at(&mut self, i: usize) -> Slot {
        self.thaw();
        let slot = self.entries.remove(i);
        if self.aux.is_some() {
            self.rebuild_index();
        }
        slot
    }

    /// Removes `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        Some(self.remove_at(i).value)
    }

    /// This object as a `serde_json::Value` (a copy).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.clone().into())
    }

    /// Keys and values in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.slots().iter())
    }

    /// Keys and mutable values in order.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        self.thaw();
        IterMut(self.entries.iter_mut())
    }

    /// Keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator {
        self.slots().iter().map(|s| &s.key)
    }

    /// Values in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.slots().iter().map(|s| &s.value)
    }
}

/// A key of a [`Map`], present or not.
pub struct Entry<'a> {
    map: &'a mut Map,
    key: Key,
}

impl<'a> Entry<'a> {
    /// The value, inserting `make()` first if the key is absent.
    pub fn or_insert_with(self, make: impl FnOnce() -> Value) -> &'a mut Value {
        let tag = tag_of(&self.key);
        let i = match self.map.position_tagged(tag, &self.key) {
            Some(i) => i,
            None => {
                self.map.push_new(tag, self.key, make());
                self.map.entries.len() - 1
            }
        };
        self.map.value_at_mut(i)
    }

    /// The value, inserting `value` first if the key is absent.
    pub fn or_insert(self, value: impl Into<Value>) -> &'a mut Value {
        self.or_insert_with(|| value.into())
    }
}

/// Iterator over `(&Key, &Value)`.
pub struct Iter<'a>(std::slice::Iter<'a, Slot>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Key, &'a Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|s| (&s.key, &s.value))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|s| (&s.key, &s.value))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Iterator over `(&Key, &mut Value)`.
pub struct IterMut<'a>(std::slice::IterMut<'a, Slot>);

impl<'a> Iterator for IterMut<'a> {
    type Item = (&'a Key, &'a mut Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|s| (&s.key, &mut s.value))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Key, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = (&'a Key, &'a mut Value);
    type IntoIter = IterMut<'a>;
    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

/// Owning iterator over `(Key, Value)`.
pub struct IntoIter(std::vec::IntoIter<Slot>);

impl Iterator for IntoIter {
    type Item = (Key, Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|s| (s.key, s.value))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for IntoIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|s| (s.key, s.value))
    }
}

impl ExactSizeIterator for IntoIter {}

impl IntoIterator for Map {
    type Item = (Key, Value);
    type IntoIter = IntoIter;
    fn into_iter(mut self) -> IntoIter {
        self.thaw();
        IntoIter(std::mem::take(&mut self.entries).into_iter())
    }
}

impl<K: Into<Key>> FromIterator<(K, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl<K: Into<Key>> Extend<(K, Value)> for Map {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;
    /// Panics if the key is absent, like `serde_json::Map`.
    fn index(&self, key: &str) -> &Value {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no key `{key}` in object"),
        }
    }
}

/// Objects are equal when they have the same keys with equal values, in
/// any order (as JSON objects are).
impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k).is_some_and(|o| o == v))
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The object, mutably, if this is one.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The array, if this is one.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The array, mutably, if this is one.
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as an i64, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The number as a u64, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The number as an f64.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True for a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    /// True for a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }

    /// True for a boolean.
    pub fn is_boolean(&self) -> bool {
        matches!(self, Value::Bool(_))
    }

    /// True for an array.
    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    /// True for an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// The value of `key` if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }

    /// This value with its objects frozen (see [`Map::freeze`]): for a
    /// result that is cached and copied into many documents.
    pub fn freeze(self) -> Value {
        match self {
            Value::Object(map) => Value::Object(map.freeze()),
            other => other,
        }
    }

    /// Takes the value out, leaving `null`.
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }

    /// This value as a `serde_json::Value` (a copy).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::from(self.clone())
    }
}

/// `value["key"]`: the key's value, or `null` when this is not an object or
/// has no such key (as with `serde_json::Value`).
impl std::ops::Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `value[i]`: the item, or `null` when this is not an array or is shorter.
impl std::ops::Index<usize> for Value {
    type Output = Value;
    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

impl fmt::Display for Value {
    /// Compact JSON (`{:#}`: indented).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if f.alternate() {
            serde_json::to_string_pretty(self)
        } else {
            serde_json::to_string(self)
        };
        f.write_str(&text.map_err(|_| fmt::Error)?)
    }
}

// Conversions.

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n),
            serde_json::Value::String(s) => Value::String(Str::from(s)),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => Value::Object(Map::from(m)),
        }
    }
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Self {
        Value::from(v.clone())
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for Map {
    fn from(m: serde_json::Map<String, serde_json::Value>) -> Self {
        let mut map = Map::with_capacity(m.len());
        for (k, v) in m {
            // serde_json's keys are unique already.
            map.push_new(tag_of(&k), Key::from(k), Value::from(v));
        }
        map
    }
}

impl From<Value> for serde_json::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::Number(n) => serde_json::Value::Number(n),
            Value::String(s) => serde_json::Value::String(s.into()),
            Value::Array(a) => serde_json::Value::Array(a.into_iter().map(serde_json::Value::from).collect()),
            Value::Object(m) => serde_json::Value::Object(serde_json::Map::from(m)),
        }
    }
}

impl From<&Value> for serde_json::Value {
    fn from(v: &Value) -> Self {
        serde_json::Value::from(v.clone())
    }
}

impl From<Map> for serde_json::Map<String, serde_json::Value> {
    fn from(m: Map) -> Self {
        m.into_iter()
            .map(|(k, v)| (String::from(k), serde_json::Value::from(v)))
            .collect()
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Str::from(s))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(Str::new(s))
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}

macro_rules! from_integer {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Value::Number(Number::from(n))
            }
        }
    )*};
}
from_integer!(i8 i16 i32 i64 isize u8 u16 u32 u64 usize);

impl From<f64> for Value {
    /// A finite float; NaN and infinities (which JSON cannot hold) become
    /// `null`, as in serde_json.
    fn from(f: f64) -> Self {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

impl From<f32> for Value {
    fn from(f: f32) -> Self {
        Value::from(f64::from(f))
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Self {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl PartialEq<serde_json::Value> for Value {
    fn eq(&self, other: &serde_json::Value) -> bool {
        match (self, other) {
            (Value::Null, serde_json::Value::Null) => true,
            (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
            (Value::Number(a), serde_json::Value::Number(b)) => a == b,
            (Value::String(a), serde_json::Value::String(b)) => a == b,
            (Value::Array(a), serde_json::Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
            }
            (Value::Object(a), serde_json::Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq<Value> for serde_json::Value {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

impl PartialEq<serde_json::Map<String, serde_json::Value>> for Map {
    fn eq(&self, other: &serde_json::Map<String, serde_json::Value>) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k.as_str()).is_some_and(|o| v == o))
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<String> for Value {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}

// Serde: objects are written in insertion order; reading keeps the last of
// duplicate keys at the first one's position (serde_json keeps the last).

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(m) => m.serialize(serializer),
        }
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for s in self.slots() {
            map.serialize_entry(s.key.as_str(), &s.value)?;
        }
        map.end()
    }
}

/// Reads a [`Value`] from any serde format. Of an object's repeated keys
/// it keeps the last value (as serde_json does), or with
/// `reject_duplicate_keys` it fails with "duplicate key `k`" (the ES
/// `json` processor's default). serde_json's nesting limit (128 levels)
/// still applies, which keeps hostile input from overflowing the stack.
#[derive(Clone, Copy, Debug, Default)]
pub struct ValueSeed {
    /// Fail on a repeated object key instead of keeping the last value.
    pub reject_duplicate_keys: bool,
}

impl<'de> de::DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::from(f))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(Str::new(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::from(s))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Deserialize::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(KeyDe(key)) = access.next_key::<KeyDe>()? {
            if self.reject_duplicate_keys && map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value = access.next_value_seed(self)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// A key read straight into a [`Key`] (no intermediate `String` for
/// short keys).
struct KeyDe(Key);

impl<'de> Deserialize<'de> for KeyDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyDe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<KeyDe, E> {
                Ok(KeyDe(Key::new(s)))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<KeyDe, E> {
                Ok(KeyDe(Key::from(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueSeed::default())
    }
}

impl<'de> Deserialize<'de> for Map {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(m) => Ok(m),
            _ => Err(de::Error::custom("expected a JSON object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn objects_keep_insertion_order_and_unique_keys() {
        let mut m = Map::new();
        m.insert("b", Value::from(1));
        m.insert("a", Value::from(2));
        assert_eq!(m.insert("b", Value::from(3)), Some(Value::from(1)));
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"b":3,"a":2}"#);
        assert_eq!(m.remove("b"), Some(Value::from(3)));
        assert_eq!(m.remove("b"), None);
        assert_eq!(m.keys().map(Key::as_str).collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn equality_ignores_key_order_and_crosses_to_serde_json() {
        let a: Value = serde_json::from_str(r#"{"x":1,"y":[true,null,"s"]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y":[true,null,"s"],"x":1}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, json!({"x": 1, "y": [true, null, "s"]}));
        assert_ne!(a, json!({"x": 1}));
        assert_eq!(
            Value::from(json!({"k": {"n": 1.5}})).to_json(),
            json!({"k": {"n": 1.5}})
        );
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        let v: Value = serde_json::from_str(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(v.to_string(), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn large_objects_index_their_keys_and_survive_removal() {
        let mut m = Map::new();
        for i in 0..200 {
            m.insert(format!("key{i}"), Value::from(i));
        }
        assert!(matches!(m.aux.as_deref(), Some(Aux::Index(_))));
        assert_eq!(m.get("key150"), Some(&Value::from(150)));
        assert_eq!(m.remove("key10"), Some(Value::from(10)));
        assert_eq!(m.get("key150"), Some(&Value::from(150)));
        assert_eq!(m.get("key10"), None);
        for i in 0..200 {
            if i % 10 != 7 {
                m.remove(&format!("key{i}"));
            }
        }
        assert_eq!(m.len(), 20);
        assert!(m.aux.is_none(), "20 keys need no index");
        assert_eq!(m.get("key197"), Some(&Value::from(197)));
    }

    fn geo() -> Map {
        match Value::from(json!({"city_name": "Berlin", "location": {"lat": 52.5, "lon": 13.4}, "esc": "a\"b"})) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn encoded(m: &Map) -> String {
        let mut out = Vec::new();
        m.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn frozen_objects_read_and_encode_like_their_own() {
        let own = geo();
        let frozen = geo().freeze();
        assert!(frozen.is_frozen() && !own.is_frozen());
        assert!(
            frozen
                .get("location")
                .and_then(Value::as_object)
                .is_some_and(Map::is_frozen)
        );
        assert_eq!(encoded(&frozen), encoded(&own));
        assert_eq!(encoded(&frozen), serde_json::to_string(&own).unwrap());
        assert_eq!(serde_json::to_string(&frozen).unwrap(), encoded(&own));
        assert_eq!(frozen, own);
        assert_eq!(frozen.len(), 3);
        assert_eq!(frozen.get("city_name"), Some(&Value::from("Berlin")));
        assert_eq!(frozen.get_name(&Name::new("city_name")), Some(&Value::from("Berlin")));
        assert_eq!(
            frozen.keys().map(Key::as_str).collect::<Vec<_>>(),
            ["city_name", "esc", "location"]
        );
        assert_eq!(Value::Object(frozen.clone()).to_json(), Value::Object(own).to_json());
        // A copy shares the object.
        let copy = frozen.clone();
        assert!(copy.is_frozen());
        assert_eq!(encoded(&copy), encoded(&frozen));
        // Freezing twice is freezing once.
        assert!(copy.freeze().is_frozen());
    }

    #[test]
    fn changing_a_frozen_object_changes_only_that_copy() {
        let shared = geo().freeze();
        let before = encoded(&shared);
        type Change = (&'static str, fn(&mut Map));
        let changes: Vec<Change> = vec![
            ("insert", |m| {
                m.insert("x", 1);
            }),
            ("insert over", |m| {
                m.insert("city_name", "Paris");
            }),
            ("insert_name", |m| {
                m.insert_name(&Name::new("city_name"), Value::from("Paris"));
            }),
            ("remove", |m| {
                m.remove("city_name");
            }),
            ("remove_name", |m| {
                m.remove_name(&Name::new("location"));
            }),
            ("get_mut", |m| {
                *m.get_mut("esc").unwrap() = Value::Null;
            }),
            ("get_name_mut", |m| {
                *m.get_name_mut(&Name::new("esc")).unwrap() = Value::Null;
            }),
            ("entry", |m| {
                *m.entry("esc").or_insert(0) = Value::Null;
            }),
            ("iter_mut", |m| {
                for (_, v) in m.iter_mut() {
                    *v = Value::Null;
                }
            }),
            ("nested", |m| {
                let loc = m.get_mut("location").and_then(Value::as_object_mut).unwrap();
                loc.insert("lat", 0);
            }),
        ];
        for (what, change) in changes {
            let mut copy = shared.clone();
            change(&mut copy);
            assert!(!copy.is_frozen(), "{what}");
            assert_ne!(encoded(&copy), before, "{what}");
            assert_eq!(encoded(&shared), before, "{what} changed the shared object");
            let mut own = geo();
            change(&mut own);
            assert_eq!(encoded(&copy), encoded(&own), "{what}");
        }
        // Taking it apart yields its own keys and values.
        let pairs: Vec<(Key, Value)> = shared.clone().into_iter().collect();
        assert_eq!(pairs.len(), 3);
        assert_eq!(encoded(&shared), before);
    }

    #[test]
    fn a_large_frozen_object_keeps_its_index() {
        let mut m = Map::new();
        for i in 0..100 {
            m.insert(format!("key{i}"), Value::from(i));
        }
        let frozen = m.freeze();
        assert_eq!(frozen.get("key77"), Some(&Value::from(77)));
        let mut copy = frozen.clone();
        copy.insert("key200", 200);
        assert_eq!(copy.remove("key3"), Some(Value::from(3)));
        assert_eq!(copy.get("key99"), Some(&Value::from(99)));
        assert_eq!(copy.get("key200"), Some(&Value::from(200)));
        assert_eq!(frozen.get("key3"), Some(&Value::from(3)));
        assert_eq!(frozen.get("key200"), None);
        assert_eq!(frozen.len(), 100);
    }

    #[test]
    fn prepared_names_find_keys_wherever_they_moved() {
        let name = Name::new("event");
        let long = Name::new("user_agent");
        let mut a = Map::new();
        a.insert("event", Value::from(1));
        a.insert_name(&long, Value::from("ua"));
        assert_eq!(a.get_name(&name), Some(&Value::from(1)));
        // Another document of another shape: the remembered position now
        // holds a different key, or is past the end.
        let mut b = Map::new();
        b.insert("user_agen", Value::from(0));
        b.insert("x", Value::from(0));
        b.insert_name(&long, Value::from("other"));
        b.insert("event", Value::from(2));
        assert_eq!(b.get_name(&name), Some(&Value::from(2)));
        assert_eq!(b.get_name(&long), Some(&Value::from("other")));
        assert_eq!(a.get_name(&name), Some(&Value::from(1)));
        assert_eq!(a.get_name(&long), Some(&Value::from("ua")));
        assert_eq!(Map::new().get_name(&name), None);
        assert_eq!(b.remove_name(&name), Some(Value::from(2)));
        assert_eq!(b.get_name(&name), None);
        assert_eq!(b.insert_name(&long, Value::Null), Some(Value::from("other")));
        assert_eq!(b.len(), 3);
    }

    #[test]
    fn keys_sharing_seven_bytes_and_a_length_stay_apart() {
        let mut m = Map::new();
        m.insert("abcdefgX", Value::from(1));
        m.insert("abcdefgY", Value::from(2));
        assert_eq!(m.get("abcdefgY"), Some(&Value::from(2)));
        assert_eq!(m.get_name(&Name::new("abcdefgX")), Some(&Value::from(1)));
        assert_eq!(m.get("abcdefgZ"), None);
        assert_eq!(m.get("abcdefg"), None);
    }

    #[test]
    fn dropped_objects_lend_their_slots_to_the_next_ones() {
        // A thread of its own, so that the pool starts empty.
        std::thread::spawn(|| {
            let pooled = || POOL.with(|p| p.borrow().len());
            let one = |k: &str| {
                let mut m = Map::new();
                m.insert(k, Value::Null);
                m
            };
            let mut outer = one("a");
            outer.insert("inner", Value::Object(one("b")));
            assert_eq!(pooled(), 0);
            let copy = outer.clone();
            drop(outer);
            assert_eq!(pooled(), 2, "the object and its nested object");
            let reused = one("c");
            assert_eq!(pooled(), 1);
            assert_eq!(copy["inner"]["b"], Value::Null);
            drop((copy, reused));
            let many: Vec<Map> = (0..POOL_LIMIT + 10).map(|_| one("k")).collect();
            drop(many);
            assert_eq!(pooled(), POOL_LIMIT, "the pool is bounded");
            // Objects that grew past the pooled size are freed, not kept.
            let mut big = Map::new();
            for i in 0..20 {
                big.insert(format!("k{i}"), Value::Null);
            }
            drop(big);
            assert!(POOL.with(|p| {
                p.borrow()
                    .iter()
                    .all(|v| v.capacity() == POOLED_CAPACITY && v.is_empty())
            }));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_hundred_thousand_keys_parse_in_linear_time() {
        // Quadratic lookups would take minutes here.
        let text = format!(
            "{{{}}}",
            (0..100_000)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["k99999"], json!(99_999));
    }

    #[test]
    fn index_and_display_behave_like_serde_json() {
        let v = Value::from(json!({"a": [1, {"b": "c"}]}));
        assert_eq!(v["a"][1]["b"], json!("c"));
        assert!(v["missing"]["x"].is_null());
        assert_eq!(v.to_string(), r#"{"a":[1,{"b":"c"}]}"#);
        assert_eq!(Value::from(f64::NAN), Value::Null);
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("JSON numbers are finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            "[a-z\"\\\\\u{e9}\u{0}-\u{1f}\u{7f}\u{2028}]{0,8}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("[a-e]{1,3}", inner, 0..30)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(String, i64),
        InsertName(String, i64),
        Remove(String),
        RemoveName(String),
        /// Freeze the map, keeping a copy that must not change after.
        Freeze,
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        // Few distinct keys, some sharing their first seven bytes, so that
        // updates, removals and tag collisions are common; enough of them
        // to cross INDEX_AT.
        let key = prop_oneof!["[a-c]{1,2}", "long_key_[0-9]{1,2}", "abcdefg[xy]", "abcdefg_[ab]{1,18}"];
        prop_oneof![
            (key.clone(), any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (key.clone(), any::<i64>()).prop_map(|(k, v)| Op::InsertName(k, v)),
            key.clone().prop_map(Op::Remove),
            key.prop_map(Op::RemoveName),
            Just(Op::Freeze),
        ]
    }

    proptest! {
        /// Comparing the bytes after equal tags agrees with comparing the
        /// keys, at every length and wherever two keys differ.
        #[test]
        fn same_after_tag_is_key_equality(a in "[ab]{0,30}", flip in any::<prop::sample::Index>()) {
            let mut b = a.clone().into_bytes();
            if !b.is_empty() {
                let i = flip.index(b.len());
                b[i] = if b[i] == b'a' { b'b' } else { b'a' };
            }
            let b = String::from_utf8(b).unwrap();
            for other in [a.as_str(), b.as_str()] {
                if tag_of(&a) == tag_of(other) {
                    prop_assert_eq!(same_after_tag(a.as_bytes(), other.as_bytes()), a == other);
                }
            }
        }

        /// Any sequence of inserts and removals, by plain key or prepared
        /// name (whose position hints go stale as keys move), leaves the
        /// same keys, values and order as a plain list of pairs; freezing
        /// the map in between changes none of that, and the frozen copies
        /// keep what they held (and encode it as an unfrozen map would).
        #[test]
        fn maps_behave_like_an_ordered_list_of_pairs(ops in prop::collection::vec(arb_op(), 0..200)) {
            let mut map = Map::new();
            let mut model: Vec<(String, i64)> = Vec::new();
            let mut names: HashMap<String, Name> = HashMap::new();
            let mut frozen: Vec<(Map, Vec<(String, i64)>)> = Vec::new();
            for op in ops {
                let by_name = matches!(op, Op::InsertName(..) | Op::RemoveName(_));
                match op {
                    Op::Freeze => {
                        map = std::mem::take(&mut map).freeze();
                        prop_assert!(map.is_frozen());
                        frozen.push((map.clone(), model.clone()));
                    }
                    Op::Insert(k, v) | Op::InsertName(k, v) => {
                        let old = if by_name {
                            let name = names.entry(k.clone()).or_insert_with(|| Name::new(&k));
                            map.insert_name(name, Value::from(v))
                        } else {
                            map.insert(k.as_str(), v)
                        };
                        let expected = match model.iter_mut().find(|(mk, _)| *mk == k) {
                            Some(slot) => Some(std::mem::replace(&mut slot.1, v)),
                            None => {
                                model.push((k.clone(), v));
                                None
                            }
                        };
                        prop_assert_eq!(old, expected.map(Value::from));
                    }
                    Op::Remove(k) | Op::RemoveName(k) => {
                        let removed = if by_name {
                            let name = names.entry(k.clone()).or_insert_with(|| Name::new(&k));
                            map.remove_name(name)
                        } else {
                            map.remove(&k)
                        };
                        let expected = model.iter().position(|(mk, _)| *mk == k).map(|i| model.remove(i).1);
                        prop_assert_eq!(removed, expected.map(Value::from));
                    }
                }
                prop_assert_eq!(map.len(), model.len());
                for (k, v) in &model {
                    prop_assert_eq!(map.get(k), Some(&Value::from(*v)));
                    let name = names.entry(k.clone()).or_insert_with(|| Name::new(k));
                    prop_assert_eq!(map.get_name(name), Some(&Value::from(*v)));
                }
                let keys: Vec<&str> = map.keys().map(Key::as_str).collect();
                let model_keys: Vec<&str> = model.iter().map(|(k, _)| k.as_str()).collect();
                prop_assert_eq!(keys, model_keys);
            }
            for (shared, then) in &frozen {
                let pairs: Vec<(String, i64)> =
                    shared.iter().map(|(k, v)| (k.to_string(), v.as_i64().unwrap())).collect();
                prop_assert_eq!(&pairs, then);
                let own: Map = then.iter().map(|(k, v)| (k.as_str(), Value::from(*v))).collect();
                let (mut a, mut b) = (Vec::new(), Vec::new());
                shared.write_json(&mut a);
                own.write_json(&mut b);
                prop_assert_eq!(a, b);
            }
        }

        /// Converting, encoding and parsing agree with serde_json, for
        /// objects on both sides of the index threshold. (Parsed floats are
        /// compared with serde_json's own parse of the same text: its
        /// default float parser does not round-trip every last digit.)
        #[test]
        fn round_trips_through_serde_json(j in arb_json()) {
            let v = Value::from(j.clone());
            prop_assert_eq!(&v, &j);
            prop_assert_eq!(v.to_json(), j.clone());
            let text = serde_json::to_string(&v).unwrap();
            // j's objects are sorted B-trees, and v keeps that order.
            prop_assert_eq!(&text, &serde_json::to_string(&j).unwrap());
            let mut written = Vec::new();
            v.write_json(&mut written);
            prop_assert_eq!(std::str::from_utf8(&written).unwrap(), text.as_str());
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            let reparsed: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&reparsed, &back);
        }
    }
}
