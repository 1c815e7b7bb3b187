//! Personal data in text, found and replaced by typed placeholders before the text leaves
//! the edge (feature `redact`). The local model always reads the original; what goes to an
//! escalation endpoint or a middleware origin can be redacted ([`Redactor::redact`]).
//!
//! Each type is found in two steps, as Google's libphonenumber finds numbers in text: a
//! linear-time pattern proposes candidates, and a check confirms them, so that order
//! numbers, dates, amounts and version strings are left alone:
//!
//! | type | candidate | check |
//! |---|---|---|
//! | [`PiiType::Email`] | `local@domain.tld` | the address parses as RFC 5321 (`email_address`, jsonschema's own `email` check); the top-level domain is letters |
//! | [`PiiType::Iban`] | two letters, two digits, 11 to 30 letters or digits, in groups | the country's length and the ISO 7064 mod-97 checksum (`iban_validate`) |
//! | [`PiiType::Card`] | 13 to 19 digits, optionally in groups | the Luhn checksum and a card network's first digit (2 to 6) |
//! | [`PiiType::Ip`] | dotted quads, colon-separated hex groups | `std::net` parses it as an IPv4 or IPv6 address |
//! | [`PiiType::Phone`] | 7 to 15 digits with the separators people type (`+`, spaces, `-`, `.`, `/`, parentheses) | a valid number in libphonenumber's metadata (`phonenumber`): international (`+`, `00`) as written, national in one of the configured regions |
//!
//! Types are tried in that order, and a candidate overlapping one already found is
//! dropped (an IBAN's digits are not also a phone number). Offsets are bytes into the
//! text; [`char_offsets`] turns them into Unicode code points, as the HTTP API reports
//! them.

mod detect;

use std::fmt;

pub use detect::luhn;
pub use phonenumber::country::Id as Region;

/// A kind of personal data the redactor finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiType {
    /// An e-mail address.
    Email,
    /// A phone number, national or international.
    Phone,
    /// A payment card number (PAN).
    Card,
    /// An International Bank Account Number.
    Iban,
    /// An IPv4 or IPv6 address.
    Ip,
}

impl PiiType {
    /// Every type, in the order they are detected (the first to claim a span keeps it).
    pub const ALL: [PiiType; 5] = [
        PiiType::Email,
        PiiType::Iban,
        PiiType::Card,
        PiiType::Ip,
        PiiType::Phone,
    ];

    /// The name used in settings and in the API: `email`, `phone`, `card`, `iban`, `ip`.
    pub fn name(self) -> &'static str {
        match self {
            PiiType::Email => "email",
            PiiType::Phone => "phone",
            PiiType::Card => "card",
            PiiType::Iban => "iban",
            PiiType::Ip => "ip",
        }
    }

    /// The placeholder that replaces a value of this type: `[EMAIL]`, `[PHONE]`, ...
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiType::Email => "[EMAIL]",
            PiiType::Phone => "[PHONE]",
            PiiType::Card => "[CARD]",
            PiiType::Iban => "[IBAN]",
            PiiType::Ip => "[IP]",
        }
    }

    /// The type named `name` (as [`PiiType::name`] gives it, any case).
    pub fn from_name(name: &str) -> Option<PiiType> {
        PiiType::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(name.trim()))
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for PiiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`PiiType`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TypeSet(u8);

impl TypeSet {
    /// No type.
    pub const NONE: TypeSet = TypeSet(0);

    /// Every type.
    pub fn all() -> TypeSet {
        PiiType::ALL.into_iter().collect()
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: PiiType) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The types in the set, in [`PiiType::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = PiiType> {
        PiiType::ALL
            .into_iter()
            .filter(move |kind| self.contains(*kind))
    }

    /// Reads a setting's value: `all`, `none` (or blank), or a comma-separated list of
    /// type names, in any case. Errors: the name that is not a type, with the ones that
    /// are.
    pub fn parse_list(text: &str) -> Result<TypeSet, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "none" => return Ok(TypeSet::NONE),
            "all" => return Ok(TypeSet::all()),
            _ => {}
        }
        text.split(',')
            .map(|name| {
                PiiType::from_name(name).ok_or_else(|| {
                    format!(
                        "{:?} is not a type of personal data (all, none, or some of {})",
                        name.trim(),
                        TypeSet::all().names()
                    )
                })
            })
            .collect()
    }

    /// The names, comma-separated: `email, card`.
    pub fn names(self) -> String {
        self.iter()
            .map(PiiType::name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromIterator<PiiType> for TypeSet {
    fn from_iter<I: IntoIterator<Item = PiiType>>(kinds: I) -> TypeSet {
        TypeSet(kinds.into_iter().fold(0, |bits, kind| bits | kind.bit()))
    }
}

/// One value of personal data in a text: its type and byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub kind: PiiType,
    /// Byte offset of its first byte.
    pub start: usize,
    /// Byte offset just past its last byte.
    pub end: usize,
}

/// A text with its personal data replaced, and what was replaced (byte offsets into the
/// original text, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub found: Vec<Finding>,
}

/// The phone regions a national number (one written without `+` or `00`) is checked
/// against when none are configured: the locales of the labelled set the detector is
/// measured on (`shared/tests/data/pii.txt`).
pub const DEFAULT_REGIONS: &str = "US,GB,DE,FR,ES,IT,NL,IN,BR";

/// Most regions a redactor checks national numbers against: each region is another
/// chance for a digit string to be some region's valid number.
pub const MAX_REGIONS: usize = 16;

/// Finds and replaces personal data. Cheap to clone; its patterns are compiled once per
/// process (or isolate) on first use, and libphonenumber's metadata is read then too
/// ([`Redactor::warm`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redactor {
    regions: Vec<Region>,
}

impl Default for Redactor {
    fn default() -> Redactor {
        Redactor::from_regions(DEFAULT_REGIONS).unwrap_or(Redactor {
            regions: Vec::new(),
        })
    }
}

impl Redactor {
    /// A redactor that reads national phone numbers as numbers of `regions`: ISO 3166
    /// alpha-2 codes, comma-separated (`US,GB,DE`). Errors: a code that is not a region,
    /// none at all, or more than [`MAX_REGIONS`].
    pub fn from_regions(regions: &str) -> Result<Redactor, String> {
        let regions = regions
            .split(',')
            .map(|code| {
                let code = code.trim();
                code.to_ascii_uppercase().parse::<Region>().map_err(|_| {
                    // The one code people reach for that ISO 3166 spells otherwise.
                    let hint = if code.eq_ignore_ascii_case("UK") {
                        " (the United Kingdom is GB)"
                    } else {
                        ""
                    };
                    format!("{code:?} is not an ISO 3166 region code{hint}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if regions.is_empty() || regions.len() > MAX_REGIONS {
            return Err(format!("give 1 to {MAX_REGIONS} region codes"));
        }
        Ok(Redactor { regions })
    }

    /// The regions national phone numbers are read in.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Compiles the patterns and reads libphonenumber's metadata now (about 60 ms natively
    /// the first time in a process), so that the first request does not pay for it: for
    /// start-up snapshots (Wizer) and servers.
    pub fn warm(&self) {
        let _ = self.find("+1 415 555 2671");
    }

    /// [`Redactor::warm`], and every region's number patterns too: libphonenumber compiles a
    /// region's patterns on first use into a shared cache of 100 regexes, which a fresh
    /// instance started from a snapshot without them paid on every request with a phone
    /// number (13-22 ms under Viceroy, Dec 7 2026; 3-4 ms with them, a Spanish number still
    /// 10 ms as the cache cannot hold all nine default regions). It reads each region's
    /// example numbers (libphonenumber's own, fixed line and mobile). The snapshot grows by
    /// about 6 MB: the Fastly program takes it (100 MB package limit); the Spin component
    /// does not (50 MiB application limit).
    pub fn warm_every_region(&self) {
        self.warm();
        for region in &self.regions {
            let Some(metadata) = phonenumber::metadata::DATABASE.by_id(region.as_ref()) else {
                continue;
            };
            let descriptors = metadata.descriptors();
            let examples = [descriptors.fixed_line(), descriptors.mobile()]
                .into_iter()
                .flatten()
                .filter_map(|descriptor| descriptor.example());
            for example in examples {
                let national = match metadata.national_prefix() {
                    Some(prefix) => format!("{prefix}{example}"),
                    None => example.to_owned(),
                };
                let _ = self.find(&format!(
                    "tel {national}, +{} {example}",
                    metadata.country_code()
                ));
            }
        }
    }

    /// Every value of personal data in `text`, in order, none overlapping.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        detect::find(text, &self.regions)
    }

    /// `text` with every value of a type in `types` replaced by its placeholder.
    pub fn redact(&self, text: &str, types: TypeSet) -> Redacted {
        let found: Vec<Finding> = self
            .find(text)
            .into_iter()
            .filter(|finding| types.contains(finding.kind))
            .collect();
        Redacted {
            text: replace(text, &found),
            found,
        }
    }
}

/// `text` with each of `found` (in order, not overlapping) replaced by its placeholder.
pub fn replace(text: &str, found: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for finding in found {
        out.push_str(&text[at..finding.start]);
        out.push_str(finding.kind.placeholder());
        at = finding.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The Unicode code point offsets of byte offsets `bytes` (ascending) into `text`: what
/// Python's `str` indexes and Presidio reports.
pub fn char_offsets(text: &str, bytes: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut chars = 0;
    let mut at = 0;
    for &byte in bytes {
        chars += text.get(at..byte).map_or(0, |s| s.chars().count());
        at = byte.max(at);
        out.push(chars);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_lists_parse_and_name_the_bad_one() {
        assert_eq!(TypeSet::parse_list("all").unwrap(), TypeSet::all());
        assert_eq!(TypeSet::parse_list(" ALL ").unwrap(), TypeSet::all());
        assert_eq!(TypeSet::parse_list("None").unwrap(), TypeSet::NONE);
        let uk = Redactor::from_regions("DE,UK").unwrap_err();
        assert!(uk.contains("GB"), "{uk}");
        assert_eq!(TypeSet::parse_list(" ").unwrap(), TypeSet::NONE);
        let set = TypeSet::parse_list("email, CARD").unwrap();
        assert!(set.contains(PiiType::Email) && set.contains(PiiType::Card));
        assert!(!set.contains(PiiType::Phone));
        assert_eq!(set.names(), "email, card");
        let error = TypeSet::parse_list("email,ssn").unwrap_err();
        assert!(error.contains("\"ssn\""), "{error}");
    }

    #[test]
    fn regions_parse_and_are_bounded() {
        assert_eq!(Redactor::from_regions("us, gb").unwrap().regions().len(), 2);
        assert!(Redactor::from_regions("XX").is_err());
        assert!(Redactor::from_regions("").is_err());
        let many = vec!["US"; MAX_REGIONS + 1].join(",");
        assert!(Redactor::from_regions(&many).is_err());
        assert!(!Redactor::default().regions().is_empty());
    }

    #[test]
    fn placeholders_replace_values_and_offsets_count_code_points() {
        let text = "Grüße, schreib an jürgen@example.de oder ruf +49 30 901820 an.";
        let redacted = Redactor::default().redact(text, TypeSet::all());
        assert_eq!(
            redacted.text,
            "Grüße, schreib an [EMAIL] oder ruf [PHONE] an."
        );
        let kinds: Vec<PiiType> = redacted.found.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [PiiType::Email, PiiType::Phone]);
        let email = redacted.found[0];
        assert_eq!(&text[email.start..email.end], "jürgen@example.de");
        let chars = char_offsets(text, &[email.start, email.end]);
        let as_chars: String = text
            .chars()
            .skip(chars[0])
            .take(chars[1] - chars[0])
            .collect();
        assert_eq!(as_chars, "jürgen@example.de");
    }

    #[test]
    fn only_the_asked_types_are_replaced() {
        let text = "card 4111 1111 1111 1111, mail a@b.co";
        let redacted = Redactor::default().redact(text, TypeSet::parse_list("card").unwrap());
        assert_eq!(redacted.text, "card [CARD], mail a@b.co");
        assert_eq!(redacted.found.len(), 1);
    }
}
