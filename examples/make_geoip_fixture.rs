//! Writes Sluice's fixture GeoIP databases (`GeoLite2-City.mmdb`,
//! `GeoLite2-ASN.mmdb`, made-up data) into a directory, for demos and for
//! trying pipelines without a MaxMind account:
//!
//! ```text
//! cargo run --example make_geoip_fixture -- ./geoip
//! sluice --geoip-dir ./geoip ...
//! ```
//!
//! `--bench` writes the benchmark variant instead, which also has a record
//! for every public IPv4 /8, so that nearly every address finds a city and
//! an AS, as with MaxMind's real databases (see `write_bench_dbs`).

#[path = "../tests/support/mmdb_fixture.rs"]
mod mmdb_fixture;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<_> = std::env::args_os().skip(1).collect();
    let bench = args.first().is_some_and(|a| a == "--bench");
    if bench {
        args.remove(0);
    }
    let [dir] = args.as_slice() else {
        eprintln!("usage: make_geoip_fixture [--bench] <directory>");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    let write = if bench {
        mmdb_fixture::write_bench_dbs
    } else {
        mmdb_fixture::write_fixture_dbs
    };
    let result = std::fs::create_dir_all(&dir).and_then(|()| write(&dir));
    match result {
        Ok(()) => {
            println!("wrote GeoLite2-City.mmdb and GeoLite2-ASN.mmdb to {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write fixture databases to {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
