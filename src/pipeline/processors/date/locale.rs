//! Month names, day names and AM/PM markers per locale, matched
//! case-insensitively. Parsing is lenient the way Joda's was: `MMM` and
//! `MMMM` both accept the full and the abbreviated name, with or without
//! the abbreviation's trailing dot (`Dez.`, `janv.`). Output always uses
//! English names, as ES formats `output_format` with `Locale.ROOT`.

use std::sync::LazyLock;

/// Names of one locale, lowercased and sorted longest first so that the
/// first match is the longest one (`march` before `mar`, `12月` before `1月`).
#[derive(Debug)]
pub struct Locale {
    /// The language tag, for messages and tests.
    pub tag: &'static str,
    months: Vec<Name<u32>>,
    days: Vec<Name<u32>>,
    am_pm: Vec<Name<bool>>,
}

/// One accepted spelling.
#[derive(Debug)]
struct Name<T> {
    lower: String,
    /// The first byte when the name starts with an ASCII character: a
    /// cheap pre-check that rejects most candidates.
    first: Option<u8>,
    ascii: bool,
    value: T,
}

impl<T> Name<T> {
    fn new(name: &str, value: T) -> Name<T> {
        let lower = name.to_lowercase();
        Name {
            first: lower.bytes().next().filter(u8::is_ascii),
            ascii: lower.is_ascii(),
            lower,
            value,
        }
    }
}

/// Raw name lists: for each month (January first) and each day of week
/// (Monday first), every accepted spelling.
struct Raw {
    tag: &'static str,
    months: [&'static [&'static str]; 12],
    days: [&'static [&'static str]; 7],
    am: &'static [&'static str],
    pm: &'static [&'static str],
}

const RAW: &[Raw] = &[
    Raw {
        tag: "en",
        months: [
            &["january", "jan"],
            &["february", "feb"],
            &["march", "mar"],
            &["april", "apr"],
            &["may"],
            &["june", "jun"],
            &["july", "jul"],
            &["august", "aug"],
            &["september", "sept", "sep"],
            &["october", "oct"],
            &["november", "nov"],
            &["december", "dec"],
        ],
        days: [
            &["monday", "mon"],
            &["tuesday", "tues", "tue"],
            &["wednesday", "wed"],
            &["thursday", "thurs", "thur", "thu"],
            &["friday", "fri"],
            &["saturday", "sat"],
            &["sunday", "sun"],
        ],
        am: &["am", "a.m."],
        pm: &["pm", "p.m."],
    },
    Raw {
        tag: "de",
        months: [
            &["januar", "jänner", "jan", "jän"],
            &["februar", "feb"],
            &["märz", "mär", "mrz"],
            &["april", "apr"],
            &["mai"],
            &["juni", "jun"],
            &["juli", "jul"],
            &["august", "aug"],
            &["september", "sept", "sep"],
            &["oktober", "okt"],
            &["november", "nov"],
            &["dezember", "dez"],
        ],
        days: [
            &["montag", "mo"],
            &["dienstag", "di"],
            &["mittwoch", "mi"],
            &["donnerstag", "do"],
            &["freitag", "fr"],
            &["samstag", "sonnabend", "sa"],
            &["sonntag", "so"],
        ],
        am: &["am", "vorm."],
        pm: &["pm", "nachm."],
    },
    Raw {
        tag: "fr",
        months: [
            &["janvier", "janv", "jan"],
            &["février", "fevrier", "févr", "fevr", "fév", "fev"],
            &["mars", "mar"],
            &["avril", "avr"],
            &["mai"],
            &["juin"],
            &["juillet", "juil"],
            &["août", "aout"],
            &["septembre", "sept", "sep"],
            &["octobre", "oct"],
            &["novembre", "nov"],
            &["décembre", "decembre", "déc", "dec"],
        ],
        days: [
            &["lundi", "lun"],
            &["mardi", "mar"],
            &["mercredi", "mer"],
            &["jeudi", "jeu"],
            &["vendredi", "ven"],
            &["samedi", "sam"],
            &["dimanche", "dim"],
        ],
        am: &["am"],
        pm: &["pm"],
    },
    Raw {
        tag: "es",
        months: [
            &["enero", "ene"],
            &["febrero", "feb"],
            &["marzo", "mar"],
            &["abril", "abr"],
            &["mayo", "may"],
            &["junio", "jun"],
            &["julio", "jul"],
            &["agosto", "ago"],
            &["septiembre", "setiembre", "sept", "sep", "set"],
            &["octubre", "oct"],
            &["noviembre", "nov"],
            &["diciembre", "dic"],
        ],
        days: [
            &["lunes", "lun"],
            &["martes", "mar"],
            &["miércoles", "miercoles", "mié", "mie"],
            &["jueves", "jue"],
            &["viernes", "vie"],
            &["sábado", "sabado", "sáb", "sab"],
            &["domingo", "dom"],
        ],
        am: &["a. m.", "a.m.", "am"],
        pm: &["p. m.", "p.m.", "pm"],
    },
    Raw {
        tag: "it",
        months: [
            &["gennaio", "gen"],
            &["febbraio", "feb"],
            &["marzo", "mar"],
            &["aprile", "apr"],
            &["maggio", "mag"],
            &["giugno", "giu"],
            &["luglio", "lug"],
            &["agosto", "ago"],
            &["settembre", "set"],
            &["ottobre", "ott"],
            &["novembre", "nov"],
            &["dicembre", "dic"],
        ],
        days: [
            &["lunedì", "lunedi", "lun"],
            &["martedì", "martedi", "mar"],
            &["mercoledì", "mercoledi", "mer"],
            &["giovedì", "giovedi", "gio"],
            &["venerdì", "venerdi", "ven"],
            &["sabato", "sab"],
            &["domenica", "dom"],
        ],
        am: &["am"],
        pm: &["pm"],
    },
    Raw {
        tag: "pt",
        months: [
            &["janeiro", "jan"],
            &["fevereiro", "fev"],
            &["março", "marco", "mar"],
            &["abril", "abr"],
            &["maio", "mai"],
            &["junho", "jun"],
            &["julho", "jul"],
            &["agosto", "ago"],
            &["setembro", "set"],
            &["outubro", "out"],
            &["novembro", "nov"],
            &["dezembro", "dez"],
        ],
        days: [
            &["segunda-feira", "segunda", "seg"],
            &["terça-feira", "terca-feira", "terça", "terca", "ter"],
            &["quarta-feira", "quarta", "qua"],
            &["quinta-feira", "quinta", "qui"],
            &["sexta-feira", "sexta", "sex"],
            &["sábado", "sabado", "sáb", "sab"],
            &["domingo", "dom"],
        ],
        am: &["am", "a.m."],
        pm: &["pm", "p.m."],
    },
    Raw {
        tag: "nl",
        months: [
            &["januari", "jan"],
            &["februari", "feb"],
            &["maart", "mrt", "mar"],
            &["april", "apr"],
            &["mei"],
            &["juni", "jun"],
            &["juli", "jul"],
            &["augustus", "aug"],
            &["september", "sept", "sep"],
            &["oktober", "okt"],
            &["november", "nov"],
            &["december", "dec"],
        ],
        days: [
            &["maandag", "ma"],
            &["dinsdag", "di"],
            &["woensdag", "wo"],
            &["donderdag", "do"],
            &["vrijdag", "vr"],
            &["zaterdag", "za"],
            &["zondag", "zo"],
        ],
        am: &["a.m.", "am"],
        pm: &["p.m.", "pm"],
    },
    Raw {
        tag: "zh",
        months: [
            &["一月", "1月", "01月"],
            &["二月", "2月", "02月"],
            &["三月", "3月", "03月"],
            &["四月", "4月", "04月"],
            &["五月", "5月", "05月"],
            &["六月", "6月", "06月"],
            &["七月", "7月", "07月"],
            &["八月", "8月", "08月"],
            &["九月", "9月", "09月"],
            &["十月", "10月"],
            &["十一月", "11月"],
            &["十二月", "12月"],
        ],
        days: [
            &["星期一", "周一"],
            &["星期二", "周二"],
            &["星期三", "周三"],
            &["星期四", "周四"],
            &["星期五", "周五"],
            &["星期六", "周六"],
            &["星期日", "星期天", "周日"],
        ],
        am: &["上午", "am"],
        pm: &["下午", "pm"],
    },
];

static LOCALES: LazyLock<Vec<Locale>> = LazyLock::new(|| RAW.iter().map(Locale::from_raw).collect());

/// English month names for output, January first.
pub const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// English day names for output, Monday first.
pub const DAYS_EN: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn sorted<T>(mut v: Vec<Name<T>>) -> Vec<Name<T>> {
    v.sort_by_key(|n| std::cmp::Reverse(n.lower.len()));
    v
}

impl Locale {
    fn from_raw(raw: &Raw) -> Locale {
        let numbered = |lists: &[&[&str]]| -> Vec<Name<u32>> {
            let mut v = Vec::new();
            for (i, names) in lists.iter().enumerate() {
                for n in *names {
                    v.push(Name::new(n, i as u32 + 1));
                }
            }
            sorted(v)
        };
        let mut am_pm: Vec<Name<bool>> = raw.am.iter().map(|n| Name::new(n, false)).collect();
        am_pm.extend(raw.pm.iter().map(|n| Name::new(n, true)));
        Locale {
            tag: raw.tag,
            months: numbered(&raw.months),
            days: numbered(&raw.days),
            am_pm: sorted(am_pm),
        }
    }

    /// English, the default (`ENGLISH` in ES).
    pub fn english() -> &'static Locale {
        &LOCALES[0]
    }

    /// Resolves a locale the way ES's `LocaleUtils.parse` and Java's
    /// `Locale` constants name them: `en`, `en_US`, `en-GB`, `ENGLISH`,
    /// `GERMANY`, `fr_FR`, `zh-CN`, … Only the language part selects the
    /// names; the region is accepted and ignored.
    pub fn lookup(raw: &str) -> Result<&'static Locale, String> {
        let s = raw.trim().to_ascii_lowercase();
        let language = match s.as_str() {
            "" | "root" | "english" | "us" | "uk" | "canada" => "en",
            "german" | "germany" => "de",
            "french" | "france" | "canada_french" => "fr",
            "italian" | "italy" => "it",
            "spanish" | "spain" => "es",
            "portuguese" | "portugal" | "brazil" => "pt",
            "dutch" | "netherlands" => "nl",
            "chinese" | "china" | "prc" | "simplified_chinese" | "traditional_chinese" | "taiwan" => "zh",
            other => other.split(['_', '-']).next().unwrap_or(""),
        };
        let well_formed = (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase());
        if !well_formed {
            return Err(format!(
                "invalid locale `{raw}`: expected a language tag such as `en`, `de_DE` or `fr-FR`"
            ));
        }
        LOCALES.iter().find(|l| l.tag == language).ok_or_else(|| {
            let known: Vec<&str> = RAW.iter().map(|r| r.tag).collect();
            format!(
                "locale `{raw}` is not supported; supported languages: {}",
                known.join(", ")
            )
        })
    }

    /// Month (1–12) whose name starts `s`, and the bytes it takes.
    pub fn match_month(&self, s: &str) -> Option<(u32, usize)> {
        longest(&self.months, s)
    }

    /// Day of week (1 = Monday) whose name starts `s`, and the bytes.
    pub fn match_day(&self, s: &str) -> Option<(u32, usize)> {
        longest(&self.days, s)
    }

    /// `true` for PM, and the bytes the marker takes.
    pub fn match_am_pm(&self, s: &str) -> Option<(bool, usize)> {
        longest(&self.am_pm, s)
    }
}

fn longest<T: Copy>(names: &[Name<T>], s: &str) -> Option<(T, usize)> {
    let first = s.as_bytes().first()?.to_ascii_lowercase();
    names.iter().find_map(|n| {
        if n.first.is_some_and(|f| f != first) {
            return None;
        }
        let len = if n.ascii {
            ascii_prefix(s, &n.lower)
        } else {
            unicode_prefix(s, &n.lower)
        };
        len.map(|len| (n.value, len))
    })
}

/// If `s` starts with the ASCII `lower` ignoring case, its byte length.
fn ascii_prefix(s: &str, lower: &str) -> Option<usize> {
    let n = lower.len();
    // Equal ignoring ASCII case to ASCII bytes means the prefix is ASCII
    // too, so `n` is a char boundary of `s`.
    s.as_bytes()
        .get(..n)?
        .eq_ignore_ascii_case(lower.as_bytes())
        .then_some(n)
}

/// If `s` starts with `lower` ignoring case, the byte length of that
/// prefix of `s` (which may differ from `lower`'s).
fn unicode_prefix(s: &str, lower: &str) -> Option<usize> {
    let mut input = s.char_indices();
    for want in lower.chars() {
        let (_, got) = input.next()?;
        if got != want && !got.to_lowercase().eq(std::iter::once(want)) {
            return None;
        }
    }
    Some(input.next().map_or(s.len(), |(i, _)| i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_locales() {
        for (raw, tag) in [
            ("ENGLISH", "en"),
            ("en", "en"),
            ("en_US", "en"),
            ("en-GB", "en"),
            ("", "en"),
            ("GERMANY", "de"),
            ("de_DE", "de"),
            ("fr", "fr"),
            ("es-ES", "es"),
            ("it", "it"),
            ("pt_BR", "pt"),
            ("nl", "nl"),
            ("zh_CN", "zh"),
            ("CHINESE", "zh"),
        ] {
            assert_eq!(Locale::lookup(raw).map(|l| l.tag), Ok(tag), "{raw}");
        }
        assert!(Locale::lookup("ja").unwrap_err().contains("not supported"));
        assert!(Locale::lookup("klingon").unwrap_err().contains("invalid locale"));
        assert!(Locale::lookup("e1").unwrap_err().contains("invalid locale"));
    }

    #[test]
    fn matches_longest_name_case_insensitively() {
        let en = Locale::english();
        assert_eq!(en.match_month("Dec/2016"), Some((12, 3)));
        assert_eq!(en.match_month("DECEMBER 7"), Some((12, 8)));
        assert_eq!(en.match_month("march"), Some((3, 5)));
        assert_eq!(en.match_month("Sept 1"), Some((9, 4)));
        assert_eq!(en.match_month("Dez"), None);
        assert_eq!(en.match_day("Wednesday,"), Some((3, 9)));
        assert_eq!(en.match_day("thu"), Some((4, 3)));
        assert_eq!(en.match_am_pm("pm"), Some((true, 2)));
        assert_eq!(en.match_am_pm("A.M."), Some((false, 4)));
        assert_eq!(en.match_month(""), None);
    }

    #[test]
    fn matches_non_ascii_names() {
        let de = Locale::lookup("de").unwrap();
        assert_eq!(de.match_month("MÄRZ 2016"), Some((3, 5)));
        assert_eq!(de.match_month("Dez"), Some((12, 3)));
        let fr = Locale::lookup("fr").unwrap();
        assert_eq!(fr.match_month("Février"), Some((2, 8)));
        assert_eq!(fr.match_month("août"), Some((8, 5)));
        let es = Locale::lookup("es").unwrap();
        assert_eq!(es.match_day("Miércoles"), Some((3, 10)));
        assert_eq!(es.match_am_pm("p. m."), Some((true, 5)));
        let zh = Locale::lookup("zh").unwrap();
        assert_eq!(zh.match_month("十一月"), Some((11, 9)));
        assert_eq!(zh.match_month("12月"), Some((12, 5)));
        assert_eq!(zh.match_month("1月"), Some((1, 4)));
        assert_eq!(zh.match_am_pm("下午"), Some((true, 6)));
        // A truncated multi-byte name never matches and never panics.
        assert_eq!(fr.match_month("ao"), None);
        assert_eq!(de.match_month("M\u{308}"), None);
    }
}
