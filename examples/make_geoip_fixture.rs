//! Writes Sluice's fixture GeoIP databases (`GeoLite2-City.mmdb`,
//! `GeoLite2-ASN.mmdb`, made-up data) into a directory, for demos and for
//! trying pipelines without a MaxMind account:
//!
//! ```text
//! cargo run --example make_geoip_fixture -- ./geoip
//! sluice --geoip-dir ./geoip ...
//! ```

#[path = "../tests/support/mmdb_fixture.rs"]
mod mmdb_fixture;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: make_geoip_fixture <directory>");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    let result = std::fs::create_dir_all(&dir).and_then(|()| mmdb_fixture::write_fixture_dbs(&dir));
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
