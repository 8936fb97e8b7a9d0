//! One MaxMind database: where its file is, loading it into memory, what
//! kind it is (City, Country, ASN), which ES properties it can produce, and
//! turning one lookup into the ES/ECS-shaped object.

use std::fmt::Write as _;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use crate::value::{Map, Number, Value};
use maxminddb::Reader;
use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};

/// Searched, in order, when no GeoIP directory is configured: the Debian /
/// Ubuntu `geoipupdate` package writes to the first, older setups and other
/// distributions to the second.
pub(super) const FALLBACK_DIRS: &[&str] = &["/usr/share/GeoIP", "/var/lib/GeoIP"];

/// The database families this processor understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    City,
    Country,
    Asn,
}

impl Kind {
    /// Classifies a metadata `database_type` such as `GeoLite2-City`,
    /// `GeoIP2-Country` or `DBIP-ASN-Lite`. ASN is checked first because
    /// some vendors' ASN types also mention other words.
    pub(super) fn from_database_type(database_type: &str) -> Option<Kind> {
        if database_type.contains("ASN") {
            Some(Kind::Asn)
        } else if database_type.contains("City") {
            Some(Kind::City)
        } else if database_type.contains("Country") {
            Some(Kind::Country)
        } else {
            None
        }
    }

    /// "a City database", for messages.
    pub(super) fn described(self) -> &'static str {
        match self {
            Kind::City => "a City database",
            Kind::Country => "a Country database",
            Kind::Asn => "an ASN database",
        }
    }

    /// Properties this kind can produce, in ES's documentation order.
    pub(super) fn valid_properties(self) -> &'static [Property] {
        use Property::*;
        match self {
            Kind::City => &[
                Ip,
                ContinentCode,
                ContinentName,
                CountryIsoCode,
                CountryName,
                RegionIsoCode,
                RegionName,
                CityName,
                Timezone,
                Location,
                PostalCode,
            ],
            Kind::Country => &[Ip, ContinentCode, ContinentName, CountryIsoCode, CountryName],
            Kind::Asn => &[Ip, Asn, OrganizationName, Network],
        }
    }

    /// ES 8 defaults when `properties` is not given.
    pub(super) fn default_properties(self) -> &'static [Property] {
        use Property::*;
        match self {
            Kind::City => &[
                ContinentName,
                CountryIsoCode,
                CountryName,
                RegionIsoCode,
                RegionName,
                CityName,
                Location,
            ],
            Kind::Country => &[ContinentName, CountryIsoCode, CountryName],
            Kind::Asn => &[Ip, Asn, OrganizationName, Network],
        }
    }
}

/// One output field of the processor, named as in ES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Property {
    Ip,
    ContinentCode,
    ContinentName,
    CountryIsoCode,
    CountryName,
    RegionIsoCode,
    RegionName,
    CityName,
    Timezone,
    Location,
    PostalCode,
    Asn,
    OrganizationName,
    Network,
}

/// The names the properties get in the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Naming {
    /// As the ES geoip processor: `asn`, `organization_name`.
    Es,
    /// As ECS (and Logstash's geoip filter with `ecs_compatibility`):
    /// `number`, `organization.name`.
    Ecs,
}

/// Every property in a stable order, for parsing and error messages.
pub(super) const ALL_PROPERTIES: &[Property] = &[
    Property::Ip,
    Property::ContinentCode,
    Property::ContinentName,
    Property::CountryIsoCode,
    Property::CountryName,
    Property::RegionIsoCode,
    Property::RegionName,
    Property::CityName,
    Property::Timezone,
    Property::Location,
    Property::PostalCode,
    Property::Asn,
    Property::OrganizationName,
    Property::Network,
];

impl Property {
    pub(super) fn name(self) -> &'static str {
        match self {
            Property::Ip => "ip",
            Property::ContinentCode => "continent_code",
            Property::ContinentName => "continent_name",
            Property::CountryIsoCode => "country_iso_code",
            Property::CountryName => "country_name",
            Property::RegionIsoCode => "region_iso_code",
            Property::RegionName => "region_name",
            Property::CityName => "city_name",
            Property::Timezone => "timezone",
            Property::Location => "location",
            Property::PostalCode => "postal_code",
            Property::Asn => "asn",
            Property::OrganizationName => "organization_name",
            Property::Network => "network",
        }
    }

    /// ES upper-cases property names before matching, so `CITY_NAME` works.
    pub(super) fn parse(name: &str) -> Option<Property> {
        ALL_PROPERTIES
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

/// Why a database could not be found: the places that were searched.
#[derive(Debug)]
pub(super) struct NotFound {
    pub(super) searched: Vec<PathBuf>,
    /// False when no GeoIP directory was configured and the fallback
    /// directories were searched instead.
    pub(super) configured: bool,
}

/// Rejects anything but a bare file name, as ES does: databases are chosen
/// by name from the configured GeoIP directory, never by path.
pub(super) fn validate_file_name(name: &str) -> Result<(), String> {
    let mut components = Path::new(name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(_)), None) if !name.contains('/') && !name.contains('\\') => Ok(()),
        _ if name.trim().is_empty() => Err("`database_file` is empty".to_owned()),
        _ => Err(format!(
            "`database_file` must be a file name such as `GeoLite2-City.mmdb`, not a path (got `{name}`); \
             put the file in the GeoIP directory (`geoip_dir` in the config, `--geoip-dir` or SLUICE_GEOIP_DIR)"
        )),
    }
}

/// Finds `name` in the configured directory, or in [`FALLBACK_DIRS`] when
/// none is configured.
pub(super) fn locate(name: &str, geoip_dir: Option<&Path>) -> Result<PathBuf, NotFound> {
    let dirs: Vec<PathBuf> = match geoip_dir {
        Some(dir) => vec![dir.to_path_buf()],
        None => FALLBACK_DIRS.iter().map(PathBuf::from).collect(),
    };
    for dir in &dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            // Absolute, so the same file reached through different relative
            // spellings is loaded once per pipeline set.
            return Ok(std::path::absolute(&candidate).unwrap_or(candidate));
        }
    }
    Err(NotFound {
        searched: dirs,
        configured: geoip_dir.is_some(),
    })
}

/// A database loaded into memory. The file is read rather than mapped:
/// databases are replaced on disk while Sluice runs, and a mapping of a file
/// overwritten in place is undefined behaviour.
pub(super) struct Database {
    reader: Reader<Vec<u8>>,
    kind: Kind,
    path: PathBuf,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Reads a database file and makes sure it did not change while being read:
/// a file overwritten in place (rather than replaced by a rename, as
/// geoipupdate does) would otherwise give a torn copy that may still parse.
/// Size and modification time are compared before and after; a changing
/// file is retried a few times, then reported.
fn read_stable(path: &Path) -> Result<Vec<u8>, String> {
    let stat = |p: &Path| -> Result<(u64, Option<std::time::SystemTime>), String> {
        let m = std::fs::metadata(p).map_err(|e| format!("cannot read GeoIP database {}: {e}", p.display()))?;
        Ok((m.len(), m.modified().ok()))
    };
    for attempt in 0..5 {
        let before = stat(path)?;
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read GeoIP database {}: {e}", path.display()))?;
        let after = stat(path)?;
        if before == after && bytes.len() as u64 == after.0 {
            return Ok(bytes);
        }
        std::thread::sleep(std::time::Duration::from_millis(100 * (attempt + 1)));
    }
    Err(format!(
        "GeoIP database {} kept changing while being read; replace database files atomically \
         (write a temporary file in the same directory, then rename it, as geoipupdate does)",
        path.display()
    ))
}

impl Database {
    /// Reads and validates the file; fails on unreadable files, files that
    /// are not MaxMind databases and database types we cannot interpret.
    pub(super) fn load(path: &Path) -> Result<Database, String> {
        let bytes = read_stable(path)?;
        let reader = Reader::from_source(bytes)
            .map_err(|e| format!("{} is not a valid MaxMind database: {e}", path.display()))?;
        let database_type = &reader.metadata().database_type;
        let kind = Kind::from_database_type(database_type).ok_or_else(|| {
            format!(
                "{} has database type `{database_type}`, which the geoip processor does not support; \
                 use a City, Country or ASN database (GeoLite2-City, GeoLite2-Country, GeoLite2-ASN \
                 or their GeoIP2 equivalents)",
                path.display()
            )
        })?;
        Ok(Database {
            reader,
            kind,
            path: path.to_path_buf(),
        })
    }

    pub(super) fn kind(&self) -> Kind {
        self.kind
    }

    /// When the database was built (seconds since the epoch), from its
    /// metadata; exported as a metric so stale databases are noticed.
    pub(super) fn build_epoch(&self) -> u64 {
        self.reader.metadata().build_epoch
    }

    /// The metadata's database type, e.g. `GeoLite2-City`.
    pub(super) fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Looks `ip` up and builds the object holding `properties`. `None`
    /// when the database has no record for the address (private and
    /// reserved ranges, unknown networks) or the record has none of the
    /// requested properties, the two cases in which ES adds nothing.
    pub(super) fn lookup(&self, ip: IpAddr, properties: &[Property], naming: Naming) -> Result<Option<Value>, String> {
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return Ok(None);
        }
        let result = self.reader.lookup(ip).map_err(|e| e.to_string())?;
        if !result.has_data() {
            return Ok(None);
        }
        let mut out = Map::new();
        match self.kind {
            Kind::City | Kind::Country => {
                let record: CityRecord<'_> = result.decode().map_err(|e| e.to_string())?.unwrap_or_default();
                record.write(ip, properties, &mut out);
            }
            Kind::Asn => {
                let record: AsnRecord<'_> = result.decode().map_err(|e| e.to_string())?.unwrap_or_default();
                for property in properties {
                    match property {
                        Property::Ip => insert_str(&mut out, "ip", Some(&ip.to_string())),
                        Property::Asn => {
                            if let Some(n) = record.autonomous_system_number.and_then(AnyNumber::to_json) {
                                out.insert(if naming == Naming::Ecs { "number" } else { "asn" }, n);
                            }
                        }
                        Property::OrganizationName => match naming {
                            Naming::Es => {
                                insert_str(&mut out, "organization_name", record.autonomous_system_organization)
                            }
                            Naming::Ecs => {
                                if let Some(name) = record.autonomous_system_organization {
                                    let mut organization = Map::new();
                                    organization.insert("name", Value::from(name));
                                    out.insert("organization", Value::Object(organization));
                                }
                            }
                        },
                        Property::Network => {
                            let network = result.network().map_err(|e| e.to_string())?;
                            out.insert("network", Value::from(network.to_string()));
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok((!out.is_empty()).then_some(Value::Object(out)))
    }
}

fn insert_str(out: &mut Map, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.insert(key, Value::from(v));
    }
}

// The record shapes below name only the fields we read; serde skips the rest
// (other languages, geoname ids, registered_country, traits) without
// decoding them, which keeps a cache miss cheap. Strings borrow from the
// database buffer.

#[derive(Deserialize, Default)]
struct CityRecord<'a> {
    #[serde(borrow, default)]
    continent: Option<Place<'a>>,
    #[serde(borrow, default)]
    country: Option<Place<'a>>,
    #[serde(borrow, default)]
    subdivisions: MostSpecific<'a>,
    #[serde(borrow, default)]
    city: Option<Place<'a>>,
    #[serde(borrow, default)]
    location: Option<Location<'a>>,
    #[serde(borrow, default)]
    postal: Option<Postal<'a>>,
}

/// A continent, country, subdivision or city: a code and English name.
#[derive(Deserialize, Default)]
struct Place<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
}

impl<'a> Place<'a> {
    fn name(place: &Option<Place<'a>>) -> Option<&'a str> {
        place.as_ref()?.names.as_ref()?.en
    }
}

#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Location<'a> {
    #[serde(default)]
    latitude: Option<AnyNumber>,
    #[serde(default)]
    longitude: Option<AnyNumber>,
    #[serde(borrow, default)]
    time_zone: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Postal<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct AsnRecord<'a> {
    #[serde(default)]
    autonomous_system_number: Option<AnyNumber>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

/// A number stored with whatever MMDB numeric type the database vendor
/// chose: the decoder refuses typed reads across types (a uint32 AS number
/// read as u64 is an error), so accept them all and convert.
#[derive(Debug, Clone, Copy, PartialEq)]
enum AnyNumber {
    Unsigned(u64),
    Float(f64),
}

impl AnyNumber {
    fn as_f64(self) -> f64 {
        match self {
            AnyNumber::Unsigned(u) => u as f64,
            AnyNumber::Float(f) => f,
        }
    }

    fn to_json(self) -> Option<Value> {
        match self {
            AnyNumber::Unsigned(u) => Some(Value::from(u)),
            AnyNumber::Float(f) => Number::from_f64(f).map(Value::Number),
        }
    }
}

impl<'de> Deserialize<'de> for AnyNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Num;
        impl Visitor<'_> for Num {
            type Value = AnyNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AnyNumber, E> {
                Ok(AnyNumber::Unsigned(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<AnyNumber, E> {
                // Only coordinates can be negative, and those are floats.
                Ok(u64::try_from(v).map_or(AnyNumber::Float(v as f64), AnyNumber::Unsigned))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<AnyNumber, E> {
                Ok(u64::try_from(v).map_or(AnyNumber::Float(v as f64), AnyNumber::Unsigned))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<AnyNumber, E> {
                Ok(AnyNumber::Float(v))
            }
        }
        deserializer.deserialize_any(Num)
    }
}

/// The last entry of `subdivisions`: GeoIP2 lists them from largest to
/// smallest and ES reports the most specific one, without keeping a Vec.
#[derive(Default)]
struct MostSpecific<'a>(Option<Place<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for MostSpecific<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Last<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Last<'a> {
            type Value = MostSpecific<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of subdivisions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut last = None;
                while let Some(place) = seq.next_element::<Place<'a>>()? {
                    last = Some(place);
                }
                Ok(MostSpecific(last))
            }
        }
        deserializer.deserialize_seq(Last(PhantomData))
    }
}

impl CityRecord<'_> {
    fn write(&self, ip: IpAddr, properties: &[Property], out: &mut Map) {
        let country_iso = self.country.as_ref().and_then(|c| c.iso_code);
        let subdivision = &self.subdivisions.0;
        let location = self.location.as_ref();
        for property in properties {
            match property {
                Property::Ip => insert_str(out, "ip", Some(&ip.to_string())),
                Property::ContinentCode => {
                    insert_str(out, "continent_code", self.continent.as_ref().and_then(|c| c.code))
                }
                Property::ContinentName => insert_str(out, "continent_name", Place::name(&self.continent)),
                Property::CountryIsoCode => insert_str(out, "country_iso_code", country_iso),
                Property::CountryName => insert_str(out, "country_name", Place::name(&self.country)),
                Property::RegionIsoCode => {
                    // ISO 3166-2: country code, dash, subdivision code (`DE-BE`).
                    if let (Some(country), Some(sub)) = (country_iso, subdivision.as_ref().and_then(|s| s.iso_code)) {
                        let mut code = String::with_capacity(country.len() + 1 + sub.len());
                        let _ = write!(code, "{country}-{sub}");
                        out.insert("region_iso_code", Value::from(code));
                    }
                }
                Property::RegionName => insert_str(out, "region_name", Place::name(subdivision)),
                Property::CityName => insert_str(out, "city_name", Place::name(&self.city)),
                Property::Timezone => insert_str(out, "timezone", location.and_then(|l| l.time_zone)),
                Property::Location => {
                    let coordinate = |c: Option<AnyNumber>| c.map(AnyNumber::as_f64).and_then(Number::from_f64);
                    let lat = location.and_then(|l| coordinate(l.latitude));
                    let lon = location.and_then(|l| coordinate(l.longitude));
                    if let (Some(lat), Some(lon)) = (lat, lon) {
                        let mut point = Map::new();
                        point.insert("lat", Value::Number(lat));
                        point.insert("lon", Value::Number(lon));
                        out.insert("location", Value::Object(point));
                    }
                }
                Property::PostalCode => insert_str(out, "postal_code", self.postal.as_ref().and_then(|p| p.code)),
                Property::Asn | Property::OrganizationName | Property::Network => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_database_types() {
        assert_eq!(Kind::from_database_type("GeoLite2-City"), Some(Kind::City));
        assert_eq!(Kind::from_database_type("GeoIP2-City"), Some(Kind::City));
        assert_eq!(Kind::from_database_type("DBIP-City-Lite"), Some(Kind::City));
        assert_eq!(Kind::from_database_type("GeoLite2-Country"), Some(Kind::Country));
        assert_eq!(Kind::from_database_type("GeoLite2-ASN"), Some(Kind::Asn));
        assert_eq!(Kind::from_database_type("GeoIP2-ISP"), None);
        assert_eq!(Kind::from_database_type("GeoIP2-Anonymous-IP"), None);
    }

    #[test]
    fn parses_property_names_case_insensitively() {
        assert_eq!(Property::parse("city_name"), Some(Property::CityName));
        assert_eq!(Property::parse("REGION_ISO_CODE"), Some(Property::RegionIsoCode));
        assert_eq!(Property::parse("latitude"), None);
        for p in ALL_PROPERTIES {
            assert_eq!(Property::parse(p.name()), Some(*p));
        }
    }

    #[test]
    fn file_names_only() {
        assert!(validate_file_name("GeoLite2-City.mmdb").is_ok());
        assert!(validate_file_name("custom name.mmdb").is_ok());
        for bad in [
            "/etc/GeoLite2-City.mmdb",
            "dir/GeoLite2-City.mmdb",
            "../x.mmdb",
            "..",
            ".",
            "a\\b.mmdb",
        ] {
            let err = validate_file_name(bad).unwrap_err();
            assert!(err.contains("not a path"), "{bad}: {err}");
        }
        assert!(validate_file_name("").unwrap_err().contains("empty"));
    }

    #[test]
    fn locate_searches_the_configured_directory_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.mmdb"), b"").unwrap();
        let found = locate("x.mmdb", Some(dir.path())).unwrap();
        assert!(found.is_absolute() && found.ends_with("x.mmdb"));
        let missing = locate("y.mmdb", Some(dir.path())).unwrap_err();
        assert_eq!(missing.searched, vec![dir.path().to_path_buf()]);
        assert!(missing.configured);
        let fallback = locate("Sluice-Test-Never-Installed.mmdb", None).unwrap_err();
        assert_eq!(
            fallback.searched,
            vec![PathBuf::from("/usr/share/GeoIP"), PathBuf::from("/var/lib/GeoIP")]
        );
        assert!(!fallback.configured);
    }

    #[test]
    fn load_rejects_non_databases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.mmdb");
        std::fs::write(&path, b"not a database").unwrap();
        assert!(
            Database::load(&path)
                .unwrap_err()
                .contains("not a valid MaxMind database")
        );
        assert!(
            Database::load(&dir.path().join("absent.mmdb"))
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
