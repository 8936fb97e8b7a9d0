//! The built-in grok pattern library (not yet filled in).
