//! Why one format could not parse one value. Cheap to build (no
//! allocation) because a miss of the first format is routine when several
//! formats are listed; it becomes text only when every format failed.

use std::fmt;

/// What the parser was looking for when the text did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected<'a> {
    /// A literal from the pattern.
    Literal(&'a str),
    /// Digits of the named field.
    Digits(&'static str),
    /// A name (month, day of week, AM/PM) in the locale.
    Text(&'static str),
    /// An offset such as `+01:00`, `+0100` or `Z`.
    Offset,
    /// A time-zone id, abbreviation or offset.
    Zone,
}

/// A failed parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// The text does not match at byte `pos`.
    Expected { pos: usize, what: Expected<'a> },
    /// The whole format matched but text is left over at byte `pos`.
    Trailing { pos: usize },
    /// A field holds a value outside its range (`month 13`, `second 60`).
    Range { field: &'static str, value: i64 },
    /// Every field is in range but the date does not exist (`2015-02-29`).
    NoSuchDate { year: i64, month: u32, day: u32 },
    /// The instant is outside years 0000–9999.
    OutOfRange,
    /// The value is not a number (UNIX, UNIX_MS, TAI64N).
    NotANumber(&'static str),
    /// The text is empty.
    Empty,
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Expected { pos, what } => {
                f.write_str("expected ")?;
                match what {
                    Expected::Literal(l) => write!(f, "`{l}`")?,
                    Expected::Digits(field) => write!(f, "digits of the {field}")?,
                    Expected::Text(field) => write!(f, "a {field} name")?,
                    Expected::Offset => f.write_str("a zone offset such as +01:00, +0100 or Z")?,
                    Expected::Zone => f.write_str("a time zone id, abbreviation or offset")?,
                }
                write!(f, " at position {pos}")
            }
            ParseError::Trailing { pos } => write!(f, "unexpected text after position {pos}"),
            ParseError::Range { field, value } => write!(f, "{field} {value} is out of range"),
            ParseError::NoSuchDate { year, month, day } => {
                write!(f, "{year:04}-{month:02}-{day:02} is not a valid date")
            }
            ParseError::OutOfRange => f.write_str("the date is outside years 0000-9999"),
            ParseError::NotANumber(what) => write!(f, "not {what}"),
            ParseError::Empty => f.write_str("the value is empty"),
        }
    }
}
