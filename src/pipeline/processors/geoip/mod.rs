//! `geoip`: adds the location or network owner of an IP address from a
//! MaxMind City, Country or ASN database, as the ES `geoip` processor does
//! (same options, property names and defaults, ECS-ready output). Databases
//! are found by file name in the GeoIP directory, loaded once per pipeline
//! set and queried through a small per-processor cache.

mod cache;
mod database;

use std::net::IpAddr;
use std::sync::Arc;

use crate::value::Value;
use serde::Deserialize;

use self::cache::LookupCache;
use self::database::{ALL_PROPERTIES, Database, Kind, Naming, NotFound, Property};
use crate::document::Document;
use crate::pipeline::compile::CompileContext;
use crate::pipeline::compile::SharedResources;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};
use crate::pipeline::processors::ip_text::parse_ip;

/// Results kept per processor. Busy sites see a few thousand distinct
/// clients a minute. The cache's sets have two ways, so it needs about
/// twice the working set: with 4,096 entries the bench's 2,000 clients
/// still missed 2.5 % of lookups on set conflicts, each miss a database
/// read and a freeze (about 11,000 instructions). A frozen City result is
/// about 1 KB and an ASN result about 0.3 KB, so a full cache holds up to
/// ~9 MB (City) or ~2.5 MB (ASN).
const CACHE_ENTRIES: usize = 8192;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    #[serde(default = "default_target_field")]
    target_field: String,
    #[serde(default = "default_database_file")]
    database_file: String,
    #[serde(default)]
    properties: Option<Vec<String>>,
    #[serde(default)]
    ignore_missing: bool,
    #[serde(default = "default_first_only")]
    first_only: bool,
    /// Accepted for ES compatibility; Sluice never downloads databases.
    #[serde(default)]
    #[allow(dead_code)]
    download_database_on_pipeline_creation: Option<bool>,
    /// Sluice extension: run without the database instead of failing to load.
    #[serde(default)]
    ignore_missing_database: bool,
    /// As Logstash's geoip filter: `v1` or `v8` names the ASN properties
    /// as ECS does (`number`, `organization.name`) instead of ES's `asn`
    /// and `organization_name`, so no `rename` is needed after it. The
    /// other properties already have their ECS names.
    #[serde(default)]
    ecs_compatibility: Option<String>,
}

// ES defaults.
fn default_target_field() -> String {
    "geoip".to_owned()
}

fn default_database_file() -> String {
    "GeoLite2-City.mmdb".to_owned()
}

fn default_first_only() -> bool {
    true
}

enum Source {
    Database {
        db: Arc<Database>,
        properties: Box<[Property]>,
        naming: Naming,
        cache: LookupCache,
    },
    /// The file was absent and `ignore_missing_database` is set: every
    /// record gets this tag, like ES's `_geoip_database_unavailable_<file>`.
    Unavailable { tag: String },
}

struct GeoIp {
    field: FieldPath,
    target: FieldPath,
    ignore_missing: bool,
    first_only: bool,
    source: Source,
}

pub fn build(config: &serde_json::Value, ctx: &CompileContext<'_>) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let field = FieldPath::parse(&c.field)?;
    let target = FieldPath::parse(&c.target_field)?;
    database::validate_file_name(&c.database_file)?;
    if c.properties.as_ref().is_some_and(Vec::is_empty) {
        return Err("`properties` is empty; leave it out to get the defaults".to_owned());
    }

    let naming = match c.ecs_compatibility.as_deref() {
        None | Some("disabled") => Naming::Es,
        Some("v1" | "v8") => Naming::Ecs,
        Some(other) => {
            return Err(format!(
                "`ecs_compatibility` must be `disabled`, `v1` or `v8`, not `{other}`"
            ));
        }
    };
    let source = match database::locate(&c.database_file, ctx.options.geoip_dir.as_deref()) {
        Ok(path) => {
            let key = format!("geoip:{}", path.display());
            let db: Arc<Database> = ctx.resources.get_or_load(&key, || Database::load(&path))?;
            let properties = resolve_properties(c.properties.as_deref(), Some(&db))?;
            Source::Database {
                db,
                properties,
                naming,
                cache: LookupCache::new(CACHE_ENTRIES),
            }
        }
        Err(_) if c.ignore_missing_database => {
            // Still catch typos now rather than when the database appears.
            resolve_properties(c.properties.as_deref(), None)?;
            Source::Unavailable {
                tag: format!("_geoip_database_unavailable_{}", c.database_file),
            }
        }
        Err(not_found) => return Err(missing_database_message(&c.database_file, &not_found)),
    };
    Ok(Box::new(GeoIp {
        field,
        target,
        ignore_missing: c.ignore_missing,
        first_only: c.first_only,
        source,
    }))
}

/// The requested properties checked against what the database can produce,
/// or its defaults. Without a database, any known property is accepted.
fn resolve_properties(requested: Option<&[String]>, db: Option<&Database>) -> Result<Box<[Property]>, String> {
    let valid = db.map_or(ALL_PROPERTIES, |db| db.kind().valid_properties());
    let Some(requested) = requested else {
        return Ok(db.map_or(Kind::City, Database::kind).default_properties().into());
    };
    let mut out: Vec<Property> = Vec::with_capacity(requested.len());
    for name in requested {
        let property = Property::parse(name).filter(|p| valid.contains(p)).ok_or_else(|| {
            let names: Vec<&str> = valid.iter().map(|p| p.name()).collect();
            let what = match db {
                Some(db) => format!("{} ({})", db.kind().described(), db.path().display()),
                None => "the geoip processor".to_owned(),
            };
            format!(
                "invalid property `{name}` for {what}; valid properties: {}",
                names.join(", ")
            )
        })?;
        if !out.contains(&property) {
            out.push(property);
        }
    }
    Ok(out.into())
}

fn missing_database_message(file: &str, not_found: &NotFound) -> String {
    let searched: Vec<String> = not_found.searched.iter().map(|d| d.display().to_string()).collect();
    let hint = if !not_found.configured {
        " (no GeoIP directory is configured, so the default locations were searched)"
    } else {
        ""
    };
    format!(
        "GeoIP database `{file}` not found in {}{hint}. Download the free GeoLite2 databases from MaxMind \
         (create an account for a license key, then run `geoipupdate`), and point Sluice at their directory \
         with `geoip_dir` in the config, `--geoip-dir` or SLUICE_GEOIP_DIR (see README, \"GeoIP databases\"); \
         or set `ignore_missing_database: true` on this processor to run without it",
        searched.join(", ")
    )
}

impl GeoIp {
    /// Parses one address and returns its (cached) result.
    fn lookup(
        &self,
        db: &Database,
        (properties, naming): (&[Property], Naming),
        cache: &LookupCache,
        text: &str,
    ) -> Result<Option<Arc<Value>>, ProcessError> {
        let ip: IpAddr = parse_ip(text).ok_or_else(|| {
            ProcessError::new(format!(
                "`{}` in field `{}` is not an IP string literal",
                excerpt(text),
                self.field
            ))
        })?;
        // `::ffff:1.2.3.4` is an IPv4 client, as Java (and so ES) sees it.
        let ip = ip.to_canonical();
        cache
            .get_or_load(ip, || db.lookup(ip, properties, naming))
            .map_err(|e| {
                ProcessError::new(format!(
                    "GeoIP lookup of `{ip}` (field `{}`) in {} failed: {e}",
                    self.field,
                    db.path().display()
                ))
            })
    }
}

impl Processor for GeoIp {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let (db, wanted, cache) = match &self.source {
            Source::Database {
                db,
                properties,
                naming,
                cache,
            } => (db, (&properties[..], *naming), cache),
            Source::Unavailable { tag } => {
                doc.add_tag(tag);
                return Ok(Flow::Continue);
            }
        };
        let result = match self.field.get(doc) {
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::Null) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is null, cannot extract geoip information",
                    self.field
                )));
            }
            Some(Value::String(text)) => match self.lookup(db, wanted, cache, text)? {
                Some(found) => Value::clone(&found),
                None => return Ok(Flow::Continue),
            },
            Some(Value::Array(items)) => {
                let mut all = Vec::new();
                let mut matched = false;
                let mut first = None;
                for (i, item) in items.iter().enumerate() {
                    let Some(text) = item.as_str() else {
                        return Err(ProcessError::new(format!(
                            "array in field `{}` should only contain strings, found {} at index {i}",
                            self.field,
                            type_name(item)
                        )));
                    };
                    let found = self.lookup(db, wanted, cache, text)?;
                    if self.first_only {
                        if found.is_some() {
                            first = found;
                            break;
                        }
                        continue;
                    }
                    matched |= found.is_some();
                    all.push(found.map_or(Value::Null, |v| Value::clone(&v)));
                }
                match first {
                    Some(found) => Value::clone(&found),
                    None if matched => Value::Array(all),
                    None => return Ok(Flow::Continue),
                }
            }
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` should contain only a string or an array of strings, found {}",
                    self.field,
                    type_name(other)
                )));
            }
        };
        self.target.set(doc, result)?;
        Ok(Flow::Continue)
    }
}

/// At most 64 characters of a value for an error message, so a huge field
/// cannot blow up logs and failure documents.
fn excerpt(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[path = "../../../../tests/support/mmdb_fixture.rs"]
mod mmdb_fixture;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::{Path, PathBuf};

    use serde_json::json;

    use super::*;
    use crate::pipeline::compile::{CompileOptions, SharedResources};
    use crate::pipeline::processors::test_util::{run, run_err, run_ref, try_run};
    use serde_json::Value;

    thread_local! {
        /// The fixture databases, generated once per test thread and removed
        /// when the thread (the test) ends, which a `static` would not do.
        static FIXTURES: tempfile::TempDir = {
            let dir = tempfile::tempdir().expect("tempdir");
            mmdb_fixture::write_fixture_dbs(dir.path()).expect("fixture databases");
            dir
        };
    }

    fn fixture_dir() -> PathBuf {
        FIXTURES.with(|dir| dir.path().to_path_buf())
    }

    fn build_in(dir: Option<&Path>, config: Value) -> Result<Box<dyn Processor>, String> {
        let options = CompileOptions {
            geoip_dir: dir.map(Path::to_path_buf),
            ..CompileOptions::default()
        };
        let names = HashSet::new();
        let resources = SharedResources::default();
        let file = PathBuf::from("test.yaml");
        let ctx = CompileContext {
            options: &options,
            file: &file,
            pipeline_names: &names,
            resources: &resources,
        };
        build(&config, &ctx)
    }

    fn geoip(config: Value) -> Box<dyn Processor> {
        build_in(Some(&fixture_dir()), config).unwrap_or_else(|e| panic!("build failed: {e}"))
    }

    fn asn(mut config: Value) -> Box<dyn Processor> {
        config["database_file"] = json!("GeoLite2-ASN.mmdb");
        geoip(config)
    }

    #[test]
    fn city_full_record_with_default_properties() {
        let out = run(geoip(json!({"field": "ip"})), json!({"ip": "89.160.20.130"}));
        assert_eq!(
            out["geoip"],
            json!({
                "continent_name": "Europe",
                "country_iso_code": "SE",
                "country_name": "Sweden",
                "region_iso_code": "SE-E",
                "region_name": "Östergötland County",
                "city_name": "Linköping",
                "location": {"lat": 58.4167, "lon": 15.6167}
            })
        );
    }

    #[test]
    fn nginx_conformance_records() {
        let p = geoip(json!({"field": "source.ip", "target_field": "source.geo"}));
        let out = run(p, json!({"source": {"ip": "85.181.35.98"}}));
        assert_eq!(
            out["source"]["geo"],
            json!({
                "continent_name": "Europe",
                "country_iso_code": "DE",
                "country_name": "Germany",
                "region_iso_code": "DE-BE",
                "region_name": "Land Berlin",
                "city_name": "Berlin",
                "location": {"lat": 52.4908, "lon": 13.3275}
            })
        );
        let p = geoip(json!({"field": "source.ip", "target_field": "source.geo"}));
        let out = run(p, json!({"source": {"ip": "199.96.1.1"}}));
        assert_eq!(out["source"]["geo"]["region_iso_code"], json!("US-IL"));
        assert_eq!(out["source"]["geo"]["region_name"], json!("Illinois"));
        assert_eq!(out["source"]["geo"]["city_name"], json!("Springfield"));
        assert_eq!(out["source"]["geo"]["continent_name"], json!("North America"));
        assert_eq!(
            out["source"]["geo"]["location"],
            json!({"lat": 39.772, "lon": -89.6859})
        );
    }

    #[test]
    fn most_specific_subdivision_wins() {
        let out = run(geoip(json!({"field": "ip"})), json!({"ip": "2.125.160.216"}));
        assert_eq!(out["geoip"]["region_iso_code"], json!("GB-WBK"));
        assert_eq!(out["geoip"]["region_name"], json!("West Berkshire"));
    }

    #[test]
    fn country_only_records_leave_out_missing_parts() {
        let out = run(geoip(json!({"field": "ip"})), json!({"ip": "67.43.156.1"}));
        assert_eq!(
            out["geoip"],
            json!({"continent_name": "Asia", "country_iso_code": "BT", "country_name": "Bhutan"})
        );
    }

    #[test]
    fn ipv6_lookups() {
        let out = run(geoip(json!({"field": "ip"})), json!({"ip": "2001:218::1"}));
        assert_eq!(
            out["geoip"],
            json!({
                "continent_name": "Asia",
                "country_iso_code": "JP",
                "country_name": "Japan",
                "location": {"lat": 35.68536, "lon": 139.75309}
            })
        );
        let p = geoip(json!({"field": "ip", "properties": ["ip", "country_iso_code", "timezone"]}));
        let out = run(p, json!({"ip": "2a03:0000:10ff:f00f:0000:0000:0:8000"}));
        assert_eq!(
            out["geoip"],
            json!({"ip": "2a03:0:10ff:f00f::8000", "country_iso_code": "PT", "timezone": "Europe/Lisbon"})
        );
        // IPv4-mapped addresses are looked up (and reported) as IPv4.
        let p = geoip(json!({"field": "ip", "properties": ["ip", "city_name"]}));
        let out = run(p, json!({"ip": "::ffff:81.2.69.142"}));
        assert_eq!(out["geoip"], json!({"ip": "81.2.69.142", "city_name": "London"}));
    }

    #[test]
    fn every_city_property() {
        let all = [
            "ip",
            "continent_code",
            "continent_name",
            "country_iso_code",
            "country_name",
            "region_iso_code",
            "region_name",
            "city_name",
            "timezone",
            "location",
            "postal_code",
        ];
        let out = run(
            geoip(json!({"field": "ip", "properties": all})),
            json!({"ip": "216.160.83.58"}),
        );
        assert_eq!(
            out["geoip"],
            json!({
                "ip": "216.160.83.58",
                "continent_code": "NA",
                "continent_name": "North America",
                "country_iso_code": "US",
                "country_name": "United States",
                "region_iso_code": "US-WA",
                "region_name": "Washington",
                "city_name": "Milton",
                "timezone": "America/Los_Angeles",
                "location": {"lat": 47.2513, "lon": -122.3149},
                "postal_code": "98354"
            })
        );
    }

    #[test]
    fn properties_select_and_validate() {
        let p = geoip(json!({"field": "ip", "properties": ["CITY_NAME", "country_iso_code", "city_name"]}));
        let out = run(p, json!({"ip": "81.2.69.142"}));
        assert_eq!(out["geoip"], json!({"city_name": "London", "country_iso_code": "GB"}));

        let err = build_in(Some(&fixture_dir()), json!({"field": "ip", "properties": ["latitude"]}))
            .err()
            .unwrap();
        assert!(err.contains("invalid property `latitude`"), "{err}");
        assert!(err.contains("city_name") && err.contains("location"), "{err}");
        let err = build_in(
            Some(&fixture_dir()),
            json!({"field": "ip", "properties": ["city_name"], "database_file": "GeoLite2-ASN.mmdb"}),
        )
        .err()
        .unwrap();
        assert!(
            err.contains("invalid property `city_name`") && err.contains("organization_name"),
            "{err}"
        );
        let err = build_in(Some(&fixture_dir()), json!({"field": "ip", "properties": []}))
            .err()
            .unwrap();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn asn_database() {
        let out = run(asn(json!({"field": "ip"})), json!({"ip": "89.160.20.200"}));
        assert_eq!(
            out["geoip"],
            json!({"ip": "89.160.20.200", "asn": 29518, "organization_name": "Bredband2 AB", "network": "89.160.20.128/25"})
        );
        // The Filebeat nginx pipeline's ASN step.
        let p =
            asn(json!({"field": "source.ip", "target_field": "source.as", "properties": ["asn", "organization_name"]}));
        let out = run(p, json!({"source": {"ip": "85.181.35.98"}}));
        assert_eq!(
            out["source"]["as"],
            json!({"asn": 3320, "organization_name": "Deutsche Telekom AG"})
        );
        // A record without an organisation.
        let out = run(asn(json!({"field": "ip"})), json!({"ip": "67.43.156.7"}));
        assert_eq!(
            out["geoip"],
            json!({"ip": "67.43.156.7", "asn": 35908, "network": "67.43.156.0/24"})
        );
        let out = run(
            asn(json!({"field": "ip", "properties": ["network"]})),
            json!({"ip": "2a03::1"}),
        );
        assert_eq!(out["geoip"], json!({"network": "2a03::/16"}));
        // City has no ASN data for London: nothing is added.
        let out = run(asn(json!({"field": "ip"})), json!({"ip": "81.2.69.142"}));
        assert!(out.get("geoip").is_none());
    }

    #[test]
    fn ecs_compatibility_names_asn_properties_as_ecs() {
        for mode in ["v1", "v8"] {
            let p = asn(json!({"field": "ip", "ecs_compatibility": mode}));
            let out = run(p, json!({"ip": "89.160.20.200"}));
            assert_eq!(
                out["geoip"],
                json!({"ip": "89.160.20.200", "number": 29518, "organization": {"name": "Bredband2 AB"}, "network": "89.160.20.128/25"})
            );
        }
        // The same document as ES's names followed by the Filebeat module's
        // two renames, key order included.
        let p = asn(json!({
            "field": "source.ip", "target_field": "source.as",
            "properties": ["asn", "organization_name"], "ecs_compatibility": "v1"
        }));
        let out = run(p, json!({"source": {"ip": "85.181.35.98"}}));
        assert_eq!(
            serde_json::to_string(&out["source"]["as"]).unwrap(),
            r#"{"number":3320,"organization":{"name":"Deutsche Telekom AG"}}"#
        );
        // No organisation: no empty `organization` object.
        let p = asn(json!({"field": "ip", "ecs_compatibility": "v1"}));
        let out = run(p, json!({"ip": "67.43.156.7"}));
        assert_eq!(
            out["geoip"],
            json!({"ip": "67.43.156.7", "number": 35908, "network": "67.43.156.0/24"})
        );
        // `disabled` is ES's naming; City output is the same either way.
        let p = asn(json!({"field": "ip", "properties": ["asn"], "ecs_compatibility": "disabled"}));
        assert_eq!(run(p, json!({"ip": "89.160.20.200"}))["geoip"], json!({"asn": 29518}));
        let plain = run(geoip(json!({"field": "ip"})), json!({"ip": "89.160.20.130"}));
        let ecs = run(
            geoip(json!({"field": "ip", "ecs_compatibility": "v1"})),
            json!({"ip": "89.160.20.130"}),
        );
        assert_eq!(plain, ecs);
        // Anything else is rejected at load time.
        let err = build_in(Some(&fixture_dir()), json!({"field": "ip", "ecs_compatibility": "v2"}))
            .err()
            .expect("v2 is not a mode");
        assert!(
            err.contains("`ecs_compatibility` must be `disabled`, `v1` or `v8`, not `v2`"),
            "{err}"
        );
    }

    #[test]
    fn target_field_is_nested() {
        let p = geoip(json!({"field": "client.ip", "target_field": "client.geo", "properties": ["city_name"]}));
        let out = run(p, json!({"client": {"ip": "175.16.199.3"}}));
        assert_eq!(
            out["client"],
            json!({"ip": "175.16.199.3", "geo": {"city_name": "Changchun"}})
        );
        let p = geoip(json!({"field": "ip", "target_field": "x.y"}));
        assert!(run_err(p, json!({"ip": "175.16.199.3", "x": "scalar"})).contains("x.y"));
    }

    #[test]
    fn private_and_unknown_addresses_add_nothing() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "::1",
            "fe80::1",
            "8.8.8.8",
            "2001:db8::1",
        ] {
            let out = run(geoip(json!({"field": "ip"})), json!({"ip": ip}));
            assert_eq!(out, json!({"ip": ip}), "{ip}");
        }
    }

    #[test]
    fn invalid_addresses_fail_the_record() {
        for bad in [
            "not an ip",
            "",
            " 81.2.69.142",
            "81.2.69.142:80",
            "300.1.1.1",
            "010.1.1.1",
            "fe80::1%eth0",
        ] {
            let err = run_err(geoip(json!({"field": "ip"})), json!({"ip": bad}));
            assert!(
                err.contains("is not an IP string literal") && err.contains("`ip`"),
                "{bad}: {err}"
            );
        }
        let huge = "x".repeat(1_000_000);
        let err = run_err(geoip(json!({"field": "ip"})), json!({"ip": huge}));
        assert!(err.len() < 300, "error messages stay short");
    }

    #[test]
    fn missing_null_and_wrong_types() {
        assert!(run_err(geoip(json!({"field": "ip"})), json!({})).contains("doesn't exist"));
        assert!(run_err(geoip(json!({"field": "ip"})), json!({"ip": null})).contains("is null"));
        let p = geoip(json!({"field": "ip", "ignore_missing": true}));
        assert_eq!(run(p, json!({})), json!({}));
        let p = geoip(json!({"field": "ip", "ignore_missing": true}));
        assert_eq!(run(p, json!({"ip": null})), json!({"ip": null}));
        for wrong in [json!(42), json!(true), json!({"a": "81.2.69.142"})] {
            let err = run_err(geoip(json!({"field": "ip"})), json!({"ip": wrong}));
            assert!(err.contains("only a string or an array of strings"), "{err}");
        }
    }

    #[test]
    fn arrays_with_first_only() {
        let src = json!({"ip": ["10.0.0.1", "67.43.156.1", "81.2.69.142"]});
        let p = geoip(json!({"field": "ip", "properties": ["country_iso_code"]}));
        assert_eq!(run(p, src.clone())["geoip"], json!({"country_iso_code": "BT"}));

        let p = geoip(json!({"field": "ip", "properties": ["country_iso_code"], "first_only": false}));
        assert_eq!(
            run(p, src)["geoip"],
            json!([null, {"country_iso_code": "BT"}, {"country_iso_code": "GB"}])
        );

        let p = geoip(json!({"field": "ip", "first_only": false}));
        assert!(run(p, json!({"ip": ["10.0.0.1", "127.0.0.1"]})).get("geoip").is_none());
        let p = geoip(json!({"field": "ip"}));
        assert!(run(p, json!({"ip": []})).get("geoip").is_none());
        let p = geoip(json!({"field": "ip"}));
        let err = run_err(p, json!({"ip": ["10.0.0.1", 7]}));
        assert!(
            err.contains("should only contain strings") && err.contains("index 1"),
            "{err}"
        );
        let p = geoip(json!({"field": "ip"}));
        assert!(run_err(p, json!({"ip": ["10.0.0.1", "nope"]})).contains("not an IP string literal"));
    }

    #[test]
    fn cached_results_are_identical() {
        let p = geoip(json!({"field": "ip"}));
        let first = run_ref(&*p, json!({"ip": "85.181.35.1"}));
        for _ in 0..3 {
            assert_eq!(run_ref(&*p, json!({"ip": "85.181.35.1"})), first);
            assert_eq!(run_ref(&*p, json!({"ip": "10.0.0.1"})), json!({"ip": "10.0.0.1"}));
        }
    }

    #[test]
    fn missing_database_is_a_load_error_naming_the_fix() {
        let empty = tempfile::tempdir().unwrap();
        let err = build_in(Some(empty.path()), json!({"field": "ip"})).err().unwrap();
        assert!(err.contains("`GeoLite2-City.mmdb` not found in"), "{err}");
        assert!(err.contains(&empty.path().display().to_string()), "{err}");
        assert!(err.contains("geoipupdate") && err.contains("--geoip-dir"), "{err}");

        let err = build_in(
            None,
            json!({"field": "ip", "database_file": "Sluice-Test-Never-Installed.mmdb"}),
        )
        .err()
        .unwrap();
        assert!(err.contains("/usr/share/GeoIP, /var/lib/GeoIP"), "{err}");
        assert!(err.contains("no GeoIP directory is configured"), "{err}");
    }

    #[test]
    fn ignore_missing_database_tags_every_record() {
        let empty = tempfile::tempdir().unwrap();
        let config = json!({"field": "ip", "ignore_missing_database": true, "database_file": "GeoLite2-ASN.mmdb"});
        let p = build_in(Some(empty.path()), config.clone()).unwrap();
        let out = run(p, json!({"ip": "89.160.20.128", "tags": ["x"]}));
        assert_eq!(
            out,
            json!({"ip": "89.160.20.128", "tags": ["x", "_geoip_database_unavailable_GeoLite2-ASN.mmdb"]})
        );
        let p = build_in(Some(empty.path()), config).unwrap();
        let (_, doc) = try_run(p, json!({})).unwrap();
        assert_eq!(
            doc.source["tags"],
            json!(["_geoip_database_unavailable_GeoLite2-ASN.mmdb"])
        );
        // Typos are still load errors.
        let config = json!({"field": "ip", "ignore_missing_database": true, "properties": ["citi_name"]});
        assert!(
            build_in(Some(empty.path()), config)
                .err()
                .unwrap()
                .contains("citi_name")
        );
        // A present database is used normally.
        let p = geoip(json!({"field": "ip", "ignore_missing_database": true, "properties": ["city_name"]}));
        assert_eq!(
            run(p, json!({"ip": "81.2.69.142"}))["geoip"],
            json!({"city_name": "London"})
        );
    }

    #[test]
    fn unsupported_and_corrupt_databases_are_load_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = mmdb_writer::Writer::new("GeoIP2-Anonymous-IP");
        let net: mmdb_writer::ipnet::IpNet = "192.0.2.0/24".parse().unwrap();
        writer
            .insert_value(
                net,
                mmdb_writer::Value::map([("is_anonymous", mmdb_writer::Value::Bool(true))]),
            )
            .unwrap();
        std::fs::write(dir.path().join("anon.mmdb"), writer.to_bytes().unwrap()).unwrap();
        let err = build_in(Some(dir.path()), json!({"field": "ip", "database_file": "anon.mmdb"}))
            .err()
            .unwrap();
        assert!(
            err.contains("GeoIP2-Anonymous-IP") && err.contains("does not support"),
            "{err}"
        );

        std::fs::write(dir.path().join("junk.mmdb"), b"junk").unwrap();
        let config = json!({"field": "ip", "database_file": "junk.mmdb", "ignore_missing_database": true});
        let err = build_in(Some(dir.path()), config).err().unwrap();
        assert!(err.contains("not a valid MaxMind database"), "{err}");
    }

    #[test]
    fn country_database_in_an_ipv4_only_file() {
        use mmdb_writer::Value as M;
        let dir = tempfile::tempdir().unwrap();
        let mut writer = mmdb_writer::Writer::builder("GeoLite2-Country")
            .ip_version(mmdb_writer::IpVersion::V4)
            .build();
        let place = |code: &str, name: &str| M::map([("iso_code", M::from(code)), ("names", M::map([("en", name)]))]);
        let record = M::map([
            (
                "continent",
                M::map([("code", M::from("EU")), ("names", M::map([("en", "Europe")]))]),
            ),
            ("country", place("PT", "Portugal")),
        ]);
        let net: mmdb_writer::ipnet::IpNet = "192.0.2.0/24".parse().unwrap();
        writer.insert_value(net, record).unwrap();
        std::fs::write(dir.path().join("GeoLite2-Country.mmdb"), writer.to_bytes().unwrap()).unwrap();

        let config = json!({"field": "ip", "database_file": "GeoLite2-Country.mmdb"});
        let p = build_in(Some(dir.path()), config.clone()).unwrap();
        assert_eq!(
            run(p, json!({"ip": "192.0.2.9"}))["geoip"],
            json!({"continent_name": "Europe", "country_iso_code": "PT", "country_name": "Portugal"})
        );
        // No IPv6 tree: IPv6 addresses simply have no data.
        let p = build_in(Some(dir.path()), config).unwrap();
        assert_eq!(run(p, json!({"ip": "2a03::1"})), json!({"ip": "2a03::1"}));
        let config = json!({"field": "ip", "database_file": "GeoLite2-Country.mmdb", "properties": ["continent_code", "city_name"]});
        let err = build_in(Some(dir.path()), config).err().unwrap();
        assert!(
            err.contains("invalid property `city_name` for a Country database"),
            "{err}"
        );
    }

    #[test]
    fn numbers_in_any_mmdb_type() {
        use mmdb_writer::Value as M;
        let dir = tempfile::tempdir().unwrap();
        let net: mmdb_writer::ipnet::IpNet = "192.0.2.0/24".parse().unwrap();
        let mut city = mmdb_writer::Writer::new("Other-City");
        let location = M::map([("latitude", M::Float(1.5)), ("longitude", M::U32(7))]);
        city.insert_value(net, M::map([("location", location)])).unwrap();
        std::fs::write(dir.path().join("city.mmdb"), city.to_bytes().unwrap()).unwrap();
        let mut asn = mmdb_writer::Writer::new("Other-ASN");
        asn.insert_value(net, M::map([("autonomous_system_number", M::U16(64512))]))
            .unwrap();
        std::fs::write(dir.path().join("asn.mmdb"), asn.to_bytes().unwrap()).unwrap();

        let p = build_in(Some(dir.path()), json!({"field": "ip", "database_file": "city.mmdb"})).unwrap();
        assert_eq!(
            run(p, json!({"ip": "192.0.2.1"}))["geoip"],
            json!({"location": {"lat": 1.5, "lon": 7.0}})
        );
        let config = json!({"field": "ip", "database_file": "asn.mmdb", "properties": ["asn"]});
        let p = build_in(Some(dir.path()), config).unwrap();
        assert_eq!(run(p, json!({"ip": "192.0.2.1"}))["geoip"], json!({"asn": 64512}));
    }

    #[test]
    fn rejects_bad_options() {
        let fixtures = fixture_dir();
        let dir = Some(fixtures.as_path());
        assert!(build_in(dir, json!({})).err().unwrap().contains("field"));
        assert!(
            build_in(dir, json!({"field": "ip", "bogus": 1}))
                .err()
                .unwrap()
                .contains("bogus")
        );
        assert!(build_in(dir, json!({"field": ""})).is_err());
        let err = build_in(dir, json!({"field": "ip", "database_file": "/tmp/GeoLite2-City.mmdb"}))
            .err()
            .unwrap();
        assert!(err.contains("not a path"), "{err}");
        assert!(build_in(dir, json!({"field": "ip", "properties": "city_name"})).is_err());
        assert!(build_in(dir, json!({"field": "ip", "first_only": "yes"})).is_err());
        // Accepted and ignored, as in ES.
        assert!(
            build_in(
                dir,
                json!({"field": "ip", "download_database_on_pipeline_creation": false})
            )
            .is_ok()
        );
    }

    #[test]
    fn one_reader_per_database_file() {
        let options = CompileOptions {
            geoip_dir: Some(fixture_dir()),
            ..CompileOptions::default()
        };
        let names = HashSet::new();
        let resources = SharedResources::default();
        let file = PathBuf::from("test.yaml");
        let ctx = CompileContext {
            options: &options,
            file: &file,
            pipeline_names: &names,
            resources: &resources,
        };
        build(&json!({"field": "a"}), &ctx).unwrap();
        let path = std::path::absolute(fixture_dir().join("GeoLite2-City.mmdb")).unwrap();
        let key = format!("geoip:{}", path.display());
        let first: Arc<Database> = resources.get_or_load(&key, || Err("not cached".to_owned())).unwrap();
        build(&json!({"field": "b"}), &ctx).unwrap();
        let second: Arc<Database> = resources.get_or_load(&key, || Err("not cached".to_owned())).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
    }
}

/// A GeoIP database loaded by a pipeline set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedDatabase {
    /// File name, e.g. `GeoLite2-City.mmdb`.
    pub file: String,
    /// Metadata database type.
    pub database_type: String,
    /// Build time, seconds since the epoch.
    pub build_epoch: u64,
}

/// The databases the geoip processors of a set loaded.
pub fn loaded_databases(resources: &SharedResources) -> Vec<LoadedDatabase> {
    let mut out: Vec<LoadedDatabase> = resources
        .collect::<Database>("geoip:")
        .into_iter()
        .map(|db| LoadedDatabase {
            file: db
                .path()
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            database_type: db.database_type().to_owned(),
            build_epoch: db.build_epoch(),
        })
        .collect();
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}
