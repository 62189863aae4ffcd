//! Byte sizes in RabbitMQ's units: [`parse_size`], and [`ByteSize`], which reads an
//! integer or a size string from TOML and prints with the largest exact unit.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Size units accepted by [`parse_size`], largest first (used for printing too).
const SIZE_UNITS: &[(&str, u64)] = &[
    ("TiB", 1 << 40),
    ("TB", 1_000_000_000_000),
    ("GiB", 1 << 30),
    ("GB", 1_000_000_000),
    ("MiB", 1 << 20),
    ("MB", 1_000_000),
    ("KiB", 1 << 10),
    ("kB", 1_000),
];

/// Parses a byte size the way RabbitMQ's configuration does.
///
/// Accepts a plain integer (bytes) or an integer followed by a unit:
/// `kB`/`KB`, `MB`, `GB`, `TB` (powers of 1000) or `KiB`/`kiB`, `MiB`, `GiB`,
/// `TiB` (powers of 1024); whitespace between number and unit is allowed.
/// Single-letter units (`M`, `G`, ...) are rejected as ambiguous, as are
/// fractions, signs and overflowing values.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let trimmed = s.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "invalid size '{s}': expected a whole number of bytes, optionally with a unit such as MB or MiB"
        ));
    }
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("invalid size '{s}': number too large"))?;
    let multiplier =
        unit_multiplier(unit.trim_start()).map_err(|m| format!("invalid size '{s}': {m}"))?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("invalid size '{s}': value too large"))
}

fn unit_multiplier(unit: &str) -> Result<u64, String> {
    match unit {
        "" => Ok(1),
        "KB" => Ok(1_000),
        "kiB" => Ok(1 << 10),
        _ => SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, multiplier)| multiplier)
            .ok_or_else(|| unknown_unit_message(unit)),
    }
}

fn unknown_unit_message(unit: &str) -> String {
    if unit.starts_with('.') {
        return "fractional sizes are not supported; use a smaller unit".to_string();
    }
    let upper = unit.to_ascii_uppercase();
    if matches!(upper.as_str(), "K" | "M" | "G" | "T") {
        let dec = if upper == "K" {
            "kB"
        } else {
            &format!("{upper}B")
        };
        return format!("ambiguous unit '{unit}': write '{dec}' (powers of 1000) or '{upper}iB' (powers of 1024)");
    }
    format!("unknown unit '{unit}' (expected one of kB, MB, GB, TB, KiB, MiB, GiB, TiB)")
}

/// Formats `bytes` with the largest unit that divides it exactly, or `None`
/// when no unit does (including zero).
fn format_size_with_unit(bytes: u64) -> Option<String> {
    if bytes == 0 {
        return None;
    }
    SIZE_UNITS
        .iter()
        .find(|&&(_, multiplier)| bytes.is_multiple_of(multiplier))
        .map(|&(name, multiplier)| format!("{}{name}", bytes / multiplier))
}

/// A number of bytes. In TOML it is an integer (bytes) or a size string as
/// accepted by [`parse_size`], e.g. `"50MB"` or `"512MiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size in bytes.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match format_size_with_unit(self.0) {
            Some(s) => f.write_str(&s),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_size(s).map(ByteSize)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match format_size_with_unit(self.0) {
            Some(s) => serializer.serialize_str(&s),
            // TOML integers are signed 64-bit; larger values go out as strings.
            None => match i64::try_from(self.0) {
                Ok(n) => serializer.serialize_i64(n),
                Err(_) => serializer.serialize_str(&self.0.to_string()),
            },
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SizeVisitor).map(ByteSize)
    }
}

/// Reads a size: a non-negative integer or a size string.
pub(super) struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number of bytes or a size string such as \"50MB\" or \"512MiB\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("size must not be negative, got {v}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_size(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_size_serialization_round_trips() {
        for n in [0, 1, 12, 1000, 1024, 50_000_000, 536_870_912, u64::MAX] {
            let text = ByteSize(n).to_string();
            assert_eq!(parse_size(&text), Ok(n), "{text}");
        }
        assert_eq!(ByteSize(50_000_000).to_string(), "50MB");
        assert_eq!(ByteSize(3 << 30).to_string(), "3GiB");
    }

    #[test]
    fn size_parsing() {
        let ok: &[(&str, u64)] = &[
            ("12", 12),
            ("0", 0),
            ("50MB", 50_000_000),
            ("512MiB", 536_870_912),
            ("1GB", 1_000_000_000),
            ("2GiB", 2 << 30),
            ("1TB", 1_000_000_000_000),
            ("1TiB", 1 << 40),
            ("5kB", 5000),
            ("5KB", 5000),
            ("5KiB", 5120),
            ("5kiB", 5120),
            (" 50 MB ", 50_000_000),
        ];
        for &(input, expected) in ok {
            assert_eq!(parse_size(input), Ok(expected), "{input}");
        }
        let bad = [
            "",
            "MB",
            "abc",
            "-5",
            "+5",
            "1.5GB",
            "50XB",
            "50M",
            "1g",
            "50mb",
            "5 5",
            "99999999999999999999",
            "99999999999TiB",
        ];
        for input in bad {
            assert!(parse_size(input).is_err(), "{input:?} should be rejected");
        }
        assert!(parse_size("50M").unwrap_err().contains("'MB'"));
        assert!(parse_size("50M").unwrap_err().contains("'MiB'"));
    }
}
