//! Builds the GeoIP fixture databases (`GeoLite2-City.mmdb`,
//! `GeoLite2-ASN.mmdb`) from the JSON records in `tests/fixtures/geoip/`, so
//! tests never depend on a MaxMind download. Shared by the lib's unit tests,
//! the integration tests and `examples/make_geoip_fixture.rs` through
//! `#[path]`, hence only std, serde_json and mmdb-writer.

// Test binaries that include the support modules without building
// databases must not warn about this one.
#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{Value as MmdbValue, Writer};
use serde_json::Value;

/// The fixture sources and the database file each becomes.
const FIXTURES: &[(&str, &str)] = &[("city.json", "GeoLite2-City.mmdb"), ("asn.json", "GeoLite2-ASN.mmdb")];

/// A fixed build time keeps the generated files byte-for-byte reproducible.
const BUILD_EPOCH_SECS: u64 = 1_700_000_000;

/// Writes `GeoLite2-City.mmdb` and `GeoLite2-ASN.mmdb` into `dir` (which
/// must exist).
pub fn write_fixture_dbs(dir: &Path) -> io::Result<()> {
    write_dbs(dir, Ok)
}

/// Writes the same two databases for benchmarks: the fixture records, and
/// under them a record for every public IPv4 /8, so that (as with a real
/// GeoLite2 database, which knows nearly every public address) almost
/// every generated client address finds a city and an AS. With the
/// fixture records alone, four in five of the generator's client
/// addresses find nothing, and a benchmark would measure lookups that add
/// no fields. The /8 records reuse the fixture's IPv4 records in turn,
/// with the AS number made unique per /8. The /8s that hold private,
/// loopback, CGNAT or link-local blocks (10, 100, 127, 169, 172, 192) get
/// nothing, so those addresses still find nothing, as in the real
/// databases.
pub fn write_bench_dbs(dir: &Path) -> io::Result<()> {
    write_dbs(dir, cover_public_ipv4)
}

/// Builds each fixture source, after `prepare`, into its database in `dir`.
fn write_dbs(dir: &Path, prepare: fn(Value) -> Result<Value, String>) -> io::Result<()> {
    let source_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip");
    for (json_file, db_file) in FIXTURES {
        let source = source_dir.join(json_file);
        let text = std::fs::read_to_string(&source)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", source.display())))?;
        let bytes = serde_json::from_str(&text)
            .map_err(|e| e.to_string())
            .and_then(prepare)
            .and_then(|fixture| build_db(&fixture))
            .map_err(|e| invalid(format!("{}: {e}", source.display())))?;
        std::fs::write(dir.join(db_file), bytes)?;
    }
    Ok(())
}

/// The fixture with a record for every public IPv4 /8 ahead of its own
/// (see [`write_bench_dbs`]).
fn cover_public_ipv4(mut fixture: Value) -> Result<Value, String> {
    let records = fixture["records"].as_array().ok_or("`records` must be a list")?;
    let ipv4: Vec<&Value> = records
        .iter()
        .filter(|r| r["network"].as_str().is_some_and(|n| !n.contains(':')))
        .map(|r| &r["data"])
        .collect();
    if ipv4.is_empty() {
        return Err("no IPv4 records to reuse".to_owned());
    }
    // Covering records first: an insert replaces what it overlaps, so the
    // fixture's own (smaller) networks, inserted after, keep their data.
    let mut all: Vec<Value> = (1u8..224)
        .filter(|first| ![10, 100, 127, 169, 172, 192].contains(first))
        .zip(ipv4.iter().cycle())
        .map(|(first, data)| {
            let mut data = (*data).clone();
            if let Some(number) = data.get_mut("autonomous_system_number") {
                *number = Value::from(64_512 + u32::from(first));
            }
            serde_json::json!({ "network": format!("{first}.0.0.0/8"), "data": data })
        })
        .collect();
    all.extend(records.iter().cloned());
    fixture["records"] = Value::Array(all);
    Ok(fixture)
}

fn build_db(fixture: &Value) -> Result<Vec<u8>, String> {
    let database_type = fixture["database_type"]
        .as_str()
        .ok_or("`database_type` must be a string")?;
    let description = fixture["description"].as_str().unwrap_or("Sluice test fixture");
    let mut writer = Writer::builder(database_type)
        .description(&[("en", description)])
        .build_epoch(UNIX_EPOCH + Duration::from_secs(BUILD_EPOCH_SECS))
        .build();
    let records = fixture["records"].as_array().ok_or("`records` must be a list")?;
    for record in records {
        let network = record["network"]
            .as_str()
            .ok_or("every record needs a `network` string")?;
        let net: IpNet = network.parse().map_err(|e| format!("network `{network}`: {e}"))?;
        let data = to_mmdb(&record["data"], "")?;
        writer
            .insert_value(net, data)
            .map_err(|e| format!("network `{network}`: {e}"))?;
    }
    writer.to_bytes().map_err(|e| e.to_string())
}

/// Maps JSON onto the MMDB types MaxMind itself uses: coordinates are
/// doubles even when written without a fraction, other whole numbers are
/// uint32 (geoname ids, AS numbers, accuracy radius).
fn to_mmdb(value: &Value, key: &str) -> Result<MmdbValue, String> {
    Ok(match value {
        Value::String(s) => MmdbValue::String(s.clone()),
        Value::Bool(b) => MmdbValue::Bool(*b),
        Value::Number(n) if key == "latitude" || key == "longitude" => {
            MmdbValue::Double(n.as_f64().ok_or_else(|| format!("`{key}` must be a number"))?)
        }
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => match u32::try_from(u) {
                Ok(small) => MmdbValue::U32(small),
                Err(_) => MmdbValue::U64(u),
            },
            (None, Some(f)) if n.is_f64() => MmdbValue::Double(f),
            _ => return Err(format!("`{key}`: negative integers are not used in GeoIP records")),
        },
        Value::Array(items) => MmdbValue::Array(items.iter().map(|v| to_mmdb(v, key)).collect::<Result<_, _>>()?),
        Value::Object(map) => MmdbValue::Map(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), to_mmdb(v, k)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Null => return Err(format!("`{key}` is null; leave the key out instead")),
    })
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
