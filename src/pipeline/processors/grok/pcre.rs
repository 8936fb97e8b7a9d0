//! The little of PCRE2 that grok needs, over `pcre2-sys`: compiling (with
//! the JIT), matching into reusable match data, and a **time limit** on a
//! match.
//!
//! PCRE2's match limit counts backtracking steps, but not the characters a
//! possessive run or a negated class steps over. A grok search tries the
//! expression at every start position, and an expression that begins with
//! an unbounded run (`[^\t ,:]+`, `\S+`) scans to the end of the token from
//! each of them: on a 600 KB value without spaces, the shipped nginx
//! pattern took minutes while its match-limit count stayed far below the
//! limit. So, as Elasticsearch's grok watchdog and Logstash's
//! `timeout_millis` do, a match also stops after a time limit. The
//! expression used for long values carries a callout at its start
//! (`(?C1)`, see `compile_regex` and `GUARD_ABOVE` in the parent module),
//! which PCRE2 calls at every start position; the callout looks at the
//! clock every so many positions (more often the longer the value) and
//! aborts the match once the limit has passed.
//!
//! The `pcre2` crate does not expose callouts, hence this module.

use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::time::{Duration, Instant};

use pcre2_sys::{
    PCRE2_ERROR_CALLOUT, PCRE2_ERROR_NOMATCH, PCRE2_JIT_COMPLETE, PCRE2_MATCH_INVALID_UTF, PCRE2_MULTILINE, PCRE2_UCP,
    PCRE2_UNSET, PCRE2_UTF, pcre2_code_8, pcre2_code_free_8, pcre2_compile_8, pcre2_get_error_message_8,
    pcre2_get_ovector_count_8, pcre2_get_ovector_pointer_8, pcre2_jit_compile_8, pcre2_jit_stack_8,
    pcre2_jit_stack_assign_8, pcre2_jit_stack_create_8, pcre2_jit_stack_free_8, pcre2_match_8, pcre2_match_context_8,
    pcre2_match_context_create_8, pcre2_match_context_free_8, pcre2_match_data_8,
    pcre2_match_data_create_from_pattern_8, pcre2_match_data_free_8,
};

// Part of PCRE2's API (pcre2_context.c, compiled into pcre2-sys), but not
// among the bindings pcre2-sys generates. The callout block is only passed
// through, so it stays opaque here.
unsafe extern "C" {
    fn pcre2_set_callout_8(
        context: *mut pcre2_match_context_8,
        callout: Option<unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int>,
        data: *mut c_void,
    ) -> c_int;
}

/// How a pattern is compiled.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// UTF mode with Unicode properties. `PCRE2_MATCH_INVALID_UTF` spares
    /// the check of the whole subject on every match (a `&str` is valid
    /// UTF-8 anyway).
    Utf,
    /// Bytes, for values that are all ASCII.
    Ascii,
}

/// A compile error: PCRE2's message and where in the pattern.
#[derive(Debug)]
pub(super) struct CompileError {
    pub(super) message: String,
    pub(super) offset: usize,
}

/// A compiled pattern. PCRE2's compiled code (JIT code included) is
/// read-only once compiled and may be used from several threads at once.
pub(super) struct Code {
    code: NonNull<pcre2_code_8>,
    jit: bool,
}

// SAFETY: see above; every match brings its own match data and context.
unsafe impl Send for Code {}
unsafe impl Sync for Code {}

impl Drop for Code {
    fn drop(&mut self) {
        // SAFETY: `code` came from pcre2_compile_8 and is freed only here.
        unsafe { pcre2_code_free_8(self.code.as_ptr()) }
    }
}

impl Code {
    /// Compiles `pattern`; with `jit`, also JIT-compiles it if PCRE2 can
    /// (it falls back to the interpreter otherwise).
    pub(super) fn new(pattern: &str, mode: Mode, jit: bool) -> Result<Code, CompileError> {
        let options = match mode {
            Mode::Utf => PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE,
            Mode::Ascii => PCRE2_MULTILINE,
        };
        let (mut error_code, mut error_offset) = (0, 0);
        // SAFETY: the pattern pointer and length describe a live `&str`;
        // the out-parameters are valid for writes.
        let code = unsafe {
            pcre2_compile_8(
                pattern.as_ptr(),
                pattern.len(),
                options,
                &mut error_code,
                &mut error_offset,
                ptr::null_mut(),
            )
        };
        let Some(code) = NonNull::new(code) else {
            return Err(CompileError {
                message: error_message(error_code),
                offset: error_offset,
            });
        };
        // SAFETY: `code` is a valid compiled pattern.
        let jit = jit && unsafe { pcre2_jit_compile_8(code.as_ptr(), PCRE2_JIT_COMPLETE) } == 0;
        Ok(Code { code, jit })
    }
}

/// PCRE2's text for an error code.
fn error_message(code: c_int) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; PCRE2 writes a
    // NUL-terminated message into it and returns its length, or a
    // negative code.
    let n = unsafe { pcre2_get_error_message_8(code, buf.as_mut_ptr(), buf.len()) };
    match usize::try_from(n) {
        Ok(n) => String::from_utf8_lossy(&buf[..n.min(buf.len())]).into_owned(),
        Err(_) => format!("PCRE2 error {code}"),
    }
}

/// Why a match did not complete.
#[derive(Debug)]
pub(super) enum MatchError {
    /// The time limit passed.
    Timeout(Duration),
    /// PCRE2 gave up: match limit, JIT stack limit and the like.
    Pcre(String),
}

/// What the callout reads and writes during one match.
struct Budget {
    /// Look at the clock once every this many start positions.
    stride: u32,
    /// Start positions since the last look.
    calls: u32,
    /// When the clock was first read in this match.
    started: Option<Instant>,
    limit: Duration,
    timed_out: bool,
}

/// Called by PCRE2 at the `(?C1)` of the expression, at each start
/// position. Returning a negative value aborts the match with it.
unsafe extern "C" fn callout(_block: *mut c_void, data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `Budget` a `Matcher` registered with its own
    // match context; the matcher is borrowed mutably for the whole match,
    // and nothing else touches the budget meanwhile.
    let budget = unsafe { &mut *data.cast::<Budget>() };
    budget.calls += 1;
    if budget.calls < budget.stride {
        return 0;
    }
    budget.calls = 0;
    let now = Instant::now();
    // The clock starts at the first look: what ran before it is at most
    // `stride` start positions, a millisecond or so by the choice of stride.
    let started = *budget.started.get_or_insert(now);
    if now.duration_since(started) >= budget.limit {
        budget.timed_out = true;
        return PCRE2_ERROR_CALLOUT;
    }
    0
}

/// Match data, match context, JIT stack and time budget for one pattern,
/// reused match after match by one thread at a time.
pub(super) struct Matcher {
    context: NonNull<pcre2_match_context_8>,
    data: NonNull<pcre2_match_data_8>,
    stack: Option<NonNull<pcre2_jit_stack_8>>,
    /// The time budget, when there is a limit. A heap block of its own,
    /// reached only through this pointer and the copy of it the match
    /// context holds for the callout (a `Box` here would claim it alone,
    /// which the callout's writes would contradict). Freed in `drop`.
    budget: Option<NonNull<Budget>>,
    ovector: *const usize,
    pairs: usize,
}

// SAFETY: a matcher owns its PCRE2 blocks outright, and matching takes
// `&mut self`, so it is only ever used by one thread at a time.
unsafe impl Send for Matcher {}
unsafe impl Sync for Matcher {}

impl Drop for Matcher {
    fn drop(&mut self) {
        // SAFETY: each block was created in `Matcher::new` and is freed
        // only here.
        unsafe {
            if let Some(stack) = self.stack {
                pcre2_jit_stack_free_8(stack.as_ptr());
            }
            pcre2_match_data_free_8(self.data.as_ptr());
            pcre2_match_context_free_8(self.context.as_ptr());
            // The context, the only other holder of its address, is gone.
            if let Some(budget) = self.budget {
                drop(Box::from_raw(budget.as_ptr()));
            }
        }
    }
}

impl Matcher {
    /// Space to match `code`, with a JIT stack of at most `max_stack`
    /// bytes and the time limit `limit` (none if zero; only an expression
    /// with a callout needs one).
    ///
    /// Panics only if PCRE2 cannot allocate its blocks (out of memory).
    pub(super) fn new(code: &Code, max_stack: usize, limit: Duration) -> Matcher {
        // SAFETY: plain constructors; null results are checked.
        let context = NonNull::new(unsafe { pcre2_match_context_create_8(ptr::null_mut()) })
            .expect("PCRE2 could not allocate a match context");
        let data = NonNull::new(unsafe { pcre2_match_data_create_from_pattern_8(code.code.as_ptr(), ptr::null_mut()) })
            .expect("PCRE2 could not allocate match data");
        let stack = code.jit.then(|| {
            let stack =
                NonNull::new(unsafe { pcre2_jit_stack_create_8(max_stack.min(32 << 10), max_stack, ptr::null_mut()) })
                    .expect("PCRE2 could not allocate a JIT stack");
            // SAFETY: context and stack are valid; the stack outlives every
            // match made with this context (both are freed together).
            unsafe { pcre2_jit_stack_assign_8(context.as_ptr(), None, stack.as_ptr().cast()) };
            stack
        });
        let budget = (!limit.is_zero()).then(|| {
            let budget = NonNull::from(Box::leak(Box::new(Budget {
                stride: 1,
                calls: 0,
                started: None,
                limit,
                timed_out: false,
            })));
            // SAFETY: the budget stays allocated until the matcher's drop,
            // which frees the context first.
            unsafe { pcre2_set_callout_8(context.as_ptr(), Some(callout), budget.as_ptr().cast()) };
            budget
        });
        // SAFETY: `data` is valid; the ovector lives as long as it.
        let ovector = unsafe { pcre2_get_ovector_pointer_8(data.as_ptr()) };
        let pairs = unsafe { pcre2_get_ovector_count_8(data.as_ptr()) } as usize;
        Matcher {
            context,
            data,
            stack,
            budget,
            ovector,
            pairs,
        }
    }

    /// Matches `code` (the one this matcher was made for) against
    /// `subject` from its start. `Ok(true)` if it matched; the spans are
    /// then read with [`get`](Self::get).
    pub(super) fn find(&mut self, code: &Code, subject: &[u8]) -> Result<bool, MatchError> {
        // About a million characters scanned between two looks at the
        // clock, whatever the value's length: every position on a long
        // value, every 1,024th on a log line (where the match limit alone
        // bounds the search).
        if let Some(budget) = self.budget {
            // SAFETY: the budget is live (see the field), and no match is
            // running: `&mut self` excludes one on another thread.
            let budget = unsafe { &mut *budget.as_ptr() };
            let stride = (1usize << 20) / subject.len().max(1);
            budget.stride = u32::try_from(stride.clamp(1, 1024)).unwrap_or(1024);
            budget.calls = 0;
            budget.started = None;
            budget.timed_out = false;
        }
        // An empty slice may have a dangling pointer; PCRE2 reads nothing
        // at length 0, but is given a real one anyway.
        static EMPTY: [u8; 1] = [0];
        let pointer = if subject.is_empty() {
            EMPTY.as_ptr()
        } else {
            subject.as_ptr()
        };
        // SAFETY: `code` is valid and the match data was created from it
        // (the caller pairs them); the subject pointer and length describe
        // live bytes; the context's callout data is `self.budget`, which
        // `&mut self` keeps exclusive for the duration.
        let rc = unsafe {
            pcre2_match_8(
                code.code.as_ptr(),
                pointer,
                subject.len(),
                0,
                0,
                self.data.as_ptr(),
                self.context.as_ptr(),
            )
        };
        match rc {
            n if n > 0 => Ok(true),
            PCRE2_ERROR_NOMATCH => Ok(false),
            PCRE2_ERROR_CALLOUT => {
                // SAFETY: as above; the match has returned.
                match self.budget.map(|budget| unsafe { budget.as_ref() }) {
                    Some(budget) if budget.timed_out => Err(MatchError::Timeout(budget.limit)),
                    _ => Err(MatchError::Pcre(error_message(rc))),
                }
            }
            // 0 would mean an ovector too small, impossible with match
            // data made from the pattern.
            n => Err(MatchError::Pcre(error_message(n))),
        }
    }

    /// The span of capture group `i` in the last successful match, if it
    /// took part.
    pub(super) fn get(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.pairs {
            return None;
        }
        // SAFETY: the ovector holds `pairs` pairs, and `i < pairs`.
        let (start, end) = unsafe { (*self.ovector.add(2 * i), *self.ovector.add(2 * i + 1)) };
        (start != PCRE2_UNSET && end != PCRE2_UNSET).then_some((start, end))
    }
}
