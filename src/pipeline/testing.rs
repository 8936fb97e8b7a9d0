//! Embedded pipeline test cases (`tests:` in a pipeline file), run by
//! `sluice pipeline test`.
