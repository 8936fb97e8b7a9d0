//! The `sluice` binary: everything lives in the library; see `cli`.

// A pipeline run allocates dozens of small strings and maps per event and
// frees them after encoding; mimalloc's thread-local free lists make that
// ~15% cheaper than glibc malloc (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sluice::cli::main()
}
