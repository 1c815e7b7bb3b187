//! Strings taken from the text: the candidate values of a `type: string` property with a
//! `format` or a `pattern`, or of a plain one with a description (the text's phrases).
//! Every candidate is a span of the text (a date in a form JSON Schema's `date` does not
//! accept is written in that form) that satisfies every constraint of the property, so
//! whichever the decoder picks, the object stays valid.
//! The `regex` crate runs in time linear in the text, whatever the pattern.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use regex::{Regex, RegexBuilder};

/// The `format`s a value can be extracted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An e-mail address (`user@example.com`).
    Email,
    /// An RFC 3339 full-date (`2026-11-30`); also read from `30 November 2026`,
    /// `November 30, 2026` and `Nov 30th 2026`, written as `2026-11-30`.
    Date,
    /// An RFC 3339 date-time with its offset (`2026-11-30T14:05:00Z`; a space for the `T`
    /// and missing seconds are accepted in the text and written out).
    DateTime,
    /// An RFC 3339 full-time with its offset (`14:05:00+01:00`).
    Time,
    /// An absolute URI with a scheme and `//` (`https://example.com/a?b`).
    Uri,
    /// A UUID (`123e4567-e89b-12d3-a456-426614174000`).
    Uuid,
    /// A dotted IPv4 address.
    Ipv4,
    /// A DNS name of at least two labels (`mail.example.com`).
    Hostname,
}

impl Format {
    /// The format named `name` in a schema, if it can be extracted.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "email" => Format::Email,
            "date" => Format::Date,
            "date-time" => Format::DateTime,
            "time" => Format::Time,
            "uri" => Format::Uri,
            "uuid" => Format::Uuid,
            "ipv4" => Format::Ipv4,
            "hostname" => Format::Hostname,
            _ => return None,
        })
    }

    /// The names [`Format::from_name`] accepts, for error messages.
    pub const NAMES: &'static str = "email, date, date-time, time, uri, uuid, ipv4, hostname";
}

/// Longest `pattern` a schema may give, in bytes.
pub const MAX_PATTERN_BYTES: usize = 512;
/// Largest compiled `pattern` (the `regex` crate's NFA size limit), in bytes: `\p{L}+`
/// fits, `\w{30}` does not.
pub const MAX_PATTERN_PROGRAM_BYTES: usize = 64 * 1024;
/// Largest cache of a pattern's lazy DFA, in bytes (per compiled copy of the pattern).
pub const MAX_PATTERN_DFA_BYTES: usize = 64 * 1024;
/// Most positions a pattern may spell out ([`pattern_positions`]): its pieces, each times
/// the counts of the repetitions around it. Searching costs up to this many steps per
/// byte of text when the lazy DFA gives up, so `x{5000}` (one request took seconds) is
/// refused; `[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}` (382) is not.
pub const MAX_PATTERN_POSITIONS: usize = 512;
/// Most positions all the patterns of one schema may spell out together.
pub const MAX_SCHEMA_PATTERN_POSITIONS: usize = 2048;
/// What the lazy DFA cache of a pattern compiled by a validator grows to, in bytes: the
/// validators only check candidates and escalated values (at most a text's or a reply's
/// length), never search a whole text. (Their size limits are jsonschema's defaults:
/// setting them instantiates a second copy of its keyword code, 0.9 MB of wasm.)
pub const VALIDATOR_PATTERN_DFA_BYTES: usize = 16 * 1024;
/// Memory one `pattern` may hold, in bytes: compiled three times (here, and by the
/// validators of the schema and of the pattern alone, which compile the same pattern to
/// about the same size), each an NFA and a lazy DFA cache.
pub const PATTERN_MEMORY_BYTES: usize = (MAX_PATTERN_PROGRAM_BYTES + MAX_PATTERN_DFA_BYTES)
    + 2 * (MAX_PATTERN_PROGRAM_BYTES + VALIDATOR_PATTERN_DFA_BYTES);
/// Candidates kept per field: the first ones in the text.
pub const MAX_CANDIDATES: usize = 16;

/// What a value must satisfy.
#[derive(Debug, Clone)]
pub struct Constraints {
    pub format: Option<Format>,
    pub pattern: Option<Regex>,
    /// In characters, as JSON Schema counts them.
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    /// How `pattern` is searched for in a text, when it is anchored ([`Unanchored`]).
    search: Option<Unanchored>,
    /// `pattern` as the `jsonschema` crate reads it (ECMA-262 regular expressions, on
    /// fancy-regex): a candidate must match it too, so that where the two readings of a
    /// pattern differ, only values both accept are answered.
    validator_pattern: Option<Arc<jsonschema::Validator>>,
}

/// A pattern anchored at either end (`^ORD-[0-9]+$`: JSON Schema patterns are searches,
/// so schemas anchor them to describe a whole value) without its anchors, to find values
/// inside a text. Where an anchor was, a match must not cut a word: its edge character and
/// the text's next one are not both word characters.
#[derive(Debug, Clone)]
struct Unanchored {
    regex: Regex,
    start: bool,
    end: bool,
}

impl Unanchored {
    fn of(pattern: &Regex) -> Option<Unanchored> {
        let text = pattern.as_str();
        // Leading inline flags (`(?i)^ord-[0-9]+$`) stay in front of what they govern.
        let flags_end = text
            .strip_prefix("(?")
            .and_then(|rest| rest.find(')').map(|at| at + 3))
            .filter(|&end| {
                text[2..end - 1]
                    .chars()
                    .all(|c| c.is_ascii_alphabetic() || c == '-')
            })
            .unwrap_or(0);
        let (flags, text) = text.split_at(flags_end);
        let (start, rest) = match text.strip_prefix('^').or_else(|| text.strip_prefix(r"\A")) {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        // A `$` is an anchor unless escaped (an odd run of backslashes before it).
        let escaped = |body: &str| body.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1;
        let (end, inner) = match rest.strip_suffix('$').or_else(|| rest.strip_suffix(r"\z")) {
            Some(body) if !escaped(body) => (true, body),
            _ => (false, rest),
        };
        if !(start || end) || inner.is_empty() {
            return None;
        }
        let regex = compile_pattern(&format!("{flags}{inner}")).ok()?;
        Some(Unanchored { regex, start, end })
    }

    fn keeps(&self, text: &str, span: &Range<usize>) -> bool {
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        let value = &text[span.clone()];
        let cuts_start = word(text[..span.start].chars().next_back()) && word(value.chars().next());
        let cuts_end = word(text[span.end..].chars().next()) && word(value.chars().next_back());
        !((self.start && cuts_start) || (self.end && cuts_end))
    }
}

impl PartialEq for Constraints {
    fn eq(&self, other: &Constraints) -> bool {
        self.format == other.format
            && self.pattern.as_ref().map(Regex::as_str) == other.pattern.as_ref().map(Regex::as_str)
            && self.min_length == other.min_length
            && self.max_length == other.max_length
    }
}

/// A candidate value and where it is in the text (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub value: String,
    pub span: Range<usize>,
}

/// Compiles a schema's `pattern` under the size limits.
///
/// Errors: the pattern's syntax is not the `regex` crate's (lookaround, backreferences),
/// it spells out more than [`MAX_PATTERN_POSITIONS`], or it compiles past
/// [`MAX_PATTERN_PROGRAM_BYTES`]; the message says which.
pub fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    let positions = pattern_positions(pattern)?;
    if positions > MAX_PATTERN_POSITIONS {
        return Err(format!(
            "spells out {positions} positions (its pieces times their repetition counts), \
             more than {MAX_PATTERN_POSITIONS}"
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(MAX_PATTERN_PROGRAM_BYTES)
        .dfa_size_limit(MAX_PATTERN_DFA_BYTES)
        .build()
        .map_err(|error| match error {
            regex::Error::CompiledTooBig(limit) => {
                format!("compiles to more than {limit} bytes")
            }
            other => unsupported_syntax(&other.to_string()),
        })
}

fn unsupported_syntax(message: &str) -> String {
    format!(
        "is not a pattern the linear-time engine reads (lookaround, backreferences and some \
         escapes are not): {}",
        message.lines().last().unwrap_or_default().trim()
    )
}

/// How many positions `pattern` spells out: each literal byte or class counts 1, times
/// the upper count of every repetition around it (its lower count when unbounded, so `+`
/// and `*` count once); concatenations and alternations add up. It bounds the work of a
/// search per byte of text.
///
/// Errors: the pattern does not parse (the parser's message).
pub fn pattern_positions(pattern: &str) -> Result<usize, String> {
    use regex_syntax::hir::{Hir, HirKind};
    fn positions(hir: &Hir) -> u64 {
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => 0,
            HirKind::Literal(literal) => literal.0.len() as u64,
            HirKind::Class(_) => 1,
            HirKind::Repetition(repetition) => {
                let count = u64::from(repetition.max.unwrap_or(repetition.min).max(1));
                count.saturating_mul(positions(&repetition.sub))
            }
            HirKind::Capture(capture) => positions(&capture.sub),
            HirKind::Concat(all) | HirKind::Alternation(all) => {
                all.iter().map(positions).fold(0, u64::saturating_add)
            }
        }
    }
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(64)
        .build()
        .parse(pattern)
        .map_err(|error| unsupported_syntax(&error.to_string()))?;
    Ok(usize::try_from(positions(&hir)).unwrap_or(usize::MAX))
}

/// A validator of `{"pattern": pattern}`: how the `jsonschema` crate reads the pattern.
///
/// Errors: the crate cannot compile it (its message).
fn validator_pattern(pattern: &str) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(&serde_json::json!({ "pattern": pattern }))
        .map_err(|error| error.to_string())
}

impl Constraints {
    /// Constraints of a string field; an anchored `pattern` is also prepared for searching.
    pub fn new(
        format: Option<Format>,
        pattern: Option<Regex>,
        min_length: Option<usize>,
        max_length: Option<usize>,
    ) -> Constraints {
        let search = pattern.as_ref().and_then(Unanchored::of);
        let validator_pattern = pattern
            .as_ref()
            .and_then(|p| validator_pattern(p.as_str()).ok())
            .map(Arc::new);
        Constraints {
            format,
            pattern,
            min_length,
            max_length,
            search,
            validator_pattern,
        }
    }

    /// The distinct values in `text` that satisfy every constraint, in text order, at most
    /// [`MAX_CANDIDATES`]. A format gives the spans; a pattern alone gives its matches.
    pub fn candidates(&self, text: &str) -> Vec<Candidate> {
        let found: Vec<Candidate> = match (self.format, &self.pattern) {
            (Some(format), _) => format_candidates(format, text),
            (None, Some(pattern)) => {
                let (regex, search) = match &self.search {
                    Some(search) => (&search.regex, Some(search)),
                    None => (pattern, None),
                };
                regex
                    .find_iter(text)
                    .filter(|m| search.is_none_or(|s| s.keeps(text, &m.range())))
                    .map(|m| Candidate {
                        value: m.as_str().to_owned(),
                        span: m.range(),
                    })
                    .collect()
            }
            (None, None) => phrases(text),
        };
        let mut kept: Vec<Candidate> = Vec::new();
        for candidate in found {
            if kept.len() == MAX_CANDIDATES {
                break;
            }
            if self.allows(&candidate.value) && !kept.iter().any(|k| k.value == candidate.value) {
                kept.push(candidate);
            }
        }
        kept
    }

    /// Whether these are a plain string's: no `format`, no `pattern`. Its candidates are
    /// the text's phrases ([`phrases`]), ranked by the field's description.
    pub fn is_plain(&self) -> bool {
        self.format.is_none() && self.pattern.is_none()
    }

    /// Whether `value`, given by someone else (the escalation endpoint), satisfies every
    /// constraint: the whole of it is one value of the format, written as the decoder
    /// writes it (a date as `YYYY-MM-DD`), and it passes the pattern and lengths. The core's
    /// validator only annotates `format`, so this is what holds such a value to it.
    pub fn accepts(&self, value: &str) -> bool {
        let formatted = self.format.is_none_or(|format| {
            format_candidates(format, value)
                .iter()
                .any(|c| c.span == (0..value.len()) && c.value == value)
        });
        formatted && self.allows(value)
    }

    /// Whether `value` satisfies the pattern (a search, as JSON Schema's `pattern` is) and
    /// the lengths.
    fn allows(&self, value: &str) -> bool {
        let chars = value.chars().count();
        !value.is_empty()
            && self.pattern.as_ref().is_none_or(|p| p.is_match(value))
            && self
                .validator_pattern
                .as_ref()
                .is_none_or(|v| v.is_valid(&serde_json::Value::from(value)))
            && self.min_length.is_none_or(|min| chars >= min)
            && self.max_length.is_none_or(|max| chars <= max)
    }
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("a built-in pattern compiles"))
}

fn format_candidates(format: Format, text: &str) -> Vec<Candidate> {
    static EMAIL: OnceLock<Regex> = OnceLock::new();
    static UUID: OnceLock<Regex> = OnceLock::new();
    static IPV4: OnceLock<Regex> = OnceLock::new();
    static URI: OnceLock<Regex> = OnceLock::new();
    static HOSTNAME: OnceLock<Regex> = OnceLock::new();
    static DATE_TIME: OnceLock<Regex> = OnceLock::new();
    static TIME: OnceLock<Regex> = OnceLock::new();
    let spans = |re: &Regex| -> Vec<Candidate> {
        re.find_iter(text)
            .map(|m| Candidate {
                value: m.as_str().to_owned(),
                span: m.range(),
            })
            .collect()
    };
    match format {
        Format::Email => spans(regex(
            &EMAIL,
            r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}\b",
        ))
        .into_iter()
        // What email_address (jsonschema's `email` check) accepts: a dot-atom local part
        // of at most 64 bytes; and a domain of at most 253.
        .filter(|c| {
            let domain = c.value.rsplit('@').next().unwrap_or_default();
            email_address::EmailAddress::is_valid(&c.value)
                && domain.len() <= 253
                && no_reserved_hyphens(domain)
        })
        .collect(),
        Format::Uuid => spans(regex(
            &UUID,
            r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b",
        )),
        Format::Ipv4 => spans(regex(
            &IPV4,
            r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b",
        ))
        .into_iter()
        // Not part of a longer dotted run of numbers (a version such as 1.2.3.4.5).
        .filter(|c| {
            let after = text[c.span.end..].strip_prefix('.');
            let before = text[..c.span.start].strip_suffix('.');
            !after.is_some_and(|rest| rest.starts_with(|ch: char| ch.is_ascii_digit()))
                && !before.is_some_and(|rest| rest.ends_with(|ch: char| ch.is_ascii_digit()))
        })
        .collect(),
        // RFC 3986's characters only (a quote ends the link, as in prose), every `%` an
        // escape: what a `uri` validator accepts.
        Format::Uri => spans(regex(
            &URI,
            r"\b[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+",
        ))
        .into_iter()
        .map(|mut c| {
            // Sentence punctuation after a link is not part of it.
            let trimmed = c.value.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
            c.span.end = c.span.start + trimmed.len();
            c.value = trimmed.to_owned();
            c
        })
        // What fluent-uri (jsonschema's `uri` check) parses: no bracket outside an IP
        // literal, a numeric port, one fragment, escapes of two hex digits.
        .filter(|c| fluent_uri::Uri::parse(c.value.as_str()).is_ok())
        .collect(),
        Format::Hostname => spans(regex(
            &HOSTNAME,
            r"\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\b",
        ))
        .into_iter()
        // Not the domain of an e-mail address or a URL's host with its path.
        .filter(|c| {
            !text[..c.span.start].ends_with('@')
                && c.value.len() <= 253
                && c.value.contains(|ch: char| ch.is_ascii_alphabetic())
                && no_reserved_hyphens(&c.value)
        })
        .collect(),
        Format::Date => dates(text),
        Format::DateTime => regex(
            &DATE_TIME,
            r"\b([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(\.[0-9]{1,9})?)?(Z|z|[+-][0-9]{2}:[0-9]{2})",
        )
        .captures_iter(text)
        .filter_map(|c| {
            let date = full_date(&c[1], &c[2], &c[3])?;
            let time = full_time(&c[4], &c[5], c.get(6).map(|m| m.as_str()), c.get(7).map(|m| m.as_str()), &c[8])?;
            let whole = c.get(0)?;
            Some(Candidate {
                value: format!("{date}T{time}"),
                span: whole.range(),
            })
        })
        .collect(),
        Format::Time => regex(
            &TIME,
            r"\b([0-9]{2}):([0-9]{2})(?::([0-9]{2})(\.[0-9]{1,9})?)?(Z|z|[+-][0-9]{2}:[0-9]{2})",
        )
        .captures_iter(text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            // The time of a date-time, or the tail of a longer time, is not a time of
            // its own.
            if text[..whole.start()].ends_with(|ch: char| ch == ':' || ch == 'T' || ch == 't' || ch.is_ascii_digit()) {
                return None;
            }
            let time = full_time(&c[1], &c[2], c.get(3).map(|m| m.as_str()), c.get(4).map(|m| m.as_str()), &c[5])?;
            Some(Candidate {
                value: time,
                span: whole.range(),
            })
        })
        .collect(),
    }
}

/// The phrases a plain string is taken from, in text order: each sentence (ended by `.`,
/// `!`, `?` or `;` before a space, or by a line break) and each passage in double quotes
/// (`"..."`, `“...”`), trimmed of spaces.
fn phrases(text: &str) -> Vec<Candidate> {
    static QUOTED: OnceLock<Regex> = OnceLock::new();
    let mut found = Vec::new();
    // Spaces, and the invisible characters `trim` keeps (zero-width space and joiners,
    // the byte-order mark), are not part of a phrase; a phrase has a letter or a digit.
    let blank = |c: char| {
        c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    };
    let mut push = |span: Range<usize>| {
        let piece = &text[span.clone()];
        let start = span.start + (piece.len() - piece.trim_start_matches(blank).len());
        let end = span.start + piece.trim_end_matches(blank).len();
        if start < end && text[start..end].chars().any(char::is_alphanumeric) {
            found.push(Candidate {
                value: text[start..end].to_owned(),
                span: start..end,
            });
        }
    };
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, ch)) = chars.next() {
        let next = chars.peek().map(|(_, next)| *next);
        let ends = match ch {
            '\n' | '\r' => true,
            '.' | '!' | '?' | ';' => next.is_none_or(char::is_whitespace),
            _ => false,
        };
        if ends {
            push(start..at);
            start = at + ch.len_utf8();
        }
    }
    push(start..text.len());
    for quoted in regex(&QUOTED, r#""([^"\n]+)"|“([^”\n]+)”"#).captures_iter(text) {
        if let Some(inner) = quoted.get(1).or_else(|| quoted.get(2)) {
            push(inner.range());
        }
    }
    found.sort_by_key(|c| c.span.start);
    found
}

/// Whether no label of a host name has hyphens in its third and fourth places: RFC 5891
/// (section 4.2.3.1) keeps those for A-labels (`xn--`), and jsonschema's `hostname` and
/// `email` checks refuse such a label unless its Punycode decodes to a valid U-label. An
/// A-label is not decoded here, so a host written with one is not taken.
fn no_reserved_hyphens(host: &str) -> bool {
    host.split('.')
        .all(|label| label.as_bytes().get(2..4) != Some(b"--".as_slice()))
}

/// `HH:MM:SS[.frac]offset` if the parts are a valid RFC 3339 full-time.
fn full_time(
    hour: &str,
    minute: &str,
    second: Option<&str>,
    fraction: Option<&str>,
    offset: &str,
) -> Option<String> {
    let (h, m) = (hour.parse::<u32>().ok()?, minute.parse::<u32>().ok()?);
    let s = second.map_or(Some(0), |s| s.parse::<u32>().ok())?;
    // A leap second (:60) is valid only where one was inserted: not read.
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    if offset.len() == 6 {
        let (oh, om) = (
            offset[1..3].parse::<u32>().ok()?,
            offset[4..6].parse::<u32>().ok()?,
        );
        if oh > 23 || om > 59 {
            return None;
        }
    }
    let offset = if offset.eq_ignore_ascii_case("z") {
        "Z"
    } else {
        offset
    };
    Some(format!(
        "{h:02}:{m:02}:{s:02}{}{offset}",
        fraction.unwrap_or_default()
    ))
}

/// `YYYY-MM-DD` if the parts are a real date, from year 1.
fn full_date(year: &str, month: &str, day: &str) -> Option<String> {
    let (y, m, d) = (
        year.parse::<u32>().ok()?,
        month.parse::<u32>().ok()?,
        day.parse::<u32>().ok()?,
    );
    // Year 0000 is valid RFC 3339 but refused by common validators (Python's `date`).
    if y == 0 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days)
        .contains(&d)
        .then(|| format!("{y:04}-{m:02}-{d:02}"))
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The month `name` names (1 for January): its full name or its first three letters
/// ("Sept" too), in any case; "March" or "Mar", not "Marbles".
fn month_number(name: &str) -> Option<u32> {
    let name = name.to_ascii_lowercase();
    let index = MONTHS
        .iter()
        .position(|month| *month == name || (name.len() == 3 && month.starts_with(&name)))
        .or_else(|| (name == "sept").then_some(8))?;
    Some(index as u32 + 1)
}

/// Dates in the text, written `YYYY-MM-DD`: ISO dates, and English day-month-year or
/// month-day-year with the month's name. Numeric forms such as 03/04/2026 are ambiguous
/// (3 April or March 4) and are not read.
fn dates(text: &str) -> Vec<Candidate> {
    static ISO: OnceLock<Regex> = OnceLock::new();
    static DAY_FIRST: OnceLock<Regex> = OnceLock::new();
    static MONTH_FIRST: OnceLock<Regex> = OnceLock::new();
    let mut found: Vec<Candidate> = Vec::new();
    for c in regex(&ISO, r"\b([0-9]{4})-([0-9]{2})-([0-9]{2})\b").captures_iter(text) {
        if let (Some(value), Some(whole)) = (full_date(&c[1], &c[2], &c[3]), c.get(0)) {
            found.push(Candidate {
                value,
                span: whole.range(),
            });
        }
    }
    // Day-month-year and month-day-year, with the capture groups of (day, month, year).
    let named_month = [
        (
            regex(
                &DAY_FIRST,
                r"(?i)\b([0-9]{1,2})(?:st|nd|rd|th)?(?:\s+of)?\s+([A-Za-z]{3,9})\.?,?\s+([0-9]{4})\b",
            ),
            (1, 2, 3),
        ),
        (
            regex(
                &MONTH_FIRST,
                r"(?i)\b([A-Za-z]{3,9})\.?\s+([0-9]{1,2})(?:st|nd|rd|th)?,?\s+([0-9]{4})\b",
            ),
            (2, 1, 3),
        ),
    ];
    for (form, (day, month, year)) in named_month {
        for c in form.captures_iter(text) {
            let value =
                month_number(&c[month]).and_then(|m| full_date(&c[year], &m.to_string(), &c[day]));
            if let (Some(value), Some(whole)) = (value, c.get(0)) {
                found.push(Candidate {
                    value,
                    span: whole.range(),
                });
            }
        }
    }
    found.sort_by_key(|c| c.span.start);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(format: Format, text: &str) -> Vec<String> {
        let constraints = Constraints::new(Some(format), None, None, None);
        constraints
            .candidates(text)
            .into_iter()
            .map(|c| c.value)
            .collect()
    }

    #[test]
    fn each_format_finds_its_values_and_nothing_else() {
        let text = "Mail ana.lopez+shop@mail.example.co.uk or bob@x, not @nobody. \
                    Host api.example.com at 10.0.0.254 (not 999.1.1.1), \
                    see https://example.com/orders?id=7. Ref 123e4567-e89b-12d3-a456-426614174000.";
        assert_eq!(
            values(Format::Email, text),
            ["ana.lopez+shop@mail.example.co.uk"]
        );
        assert!(values(Format::Email, "write to ana.@example.com").is_empty());
        let long = format!("{}@example.com", "l".repeat(65));
        assert!(
            values(Format::Email, &long).is_empty(),
            "a local part over 64 bytes"
        );
        assert_eq!(values(Format::Ipv4, text), ["10.0.0.254"]);
        assert_eq!(
            values(Format::Uri, text),
            ["https://example.com/orders?id=7"]
        );
        assert_eq!(
            values(
                Format::Uri,
                "see https://例え.jp/x, https://a.example/%zz, https://shop.ex[mple.com/o/1, \
                 https://c.example:abc/, https://d.example/#a#b or 'https://b.example/q'"
            ),
            ["https://b.example/q"]
        );
        assert_eq!(
            values(Format::Uuid, text),
            ["123e4567-e89b-12d3-a456-426614174000"]
        );
        let reserved = format!("see 1{}example.com or ab--c.example.org", "-".repeat(51));
        assert!(
            values(Format::Hostname, &reserved).is_empty(),
            "{:?}",
            values(Format::Hostname, &reserved)
        );
        assert!(values(Format::Email, "write to jo@xn--bcher-kva.example").is_empty());
        let hosts = values(Format::Hostname, text);
        assert!(hosts.contains(&"api.example.com".to_owned()), "{hosts:?}");
        assert!(
            !hosts.contains(&"mail.example.co.uk".to_owned()),
            "{hosts:?}"
        );
    }

    #[test]
    fn dates_are_read_in_several_forms_and_written_as_rfc_3339() {
        let text = "Ordered 2026-02-28, shipped 3rd March 2026, due March 10, 2026 \
                    or Sept 1 2026; not 2026-02-30, 31 April 2026 or 03/04/2026.";
        assert_eq!(
            values(Format::Date, text),
            ["2026-02-28", "2026-03-03", "2026-03-10", "2026-09-01"]
        );
        assert_eq!(
            values(
                Format::DateTime,
                "at 2026-11-30 14:05Z and 2026-11-30T25:00:00Z"
            ),
            ["2026-11-30T14:05:00Z"]
        );
        assert_eq!(
            values(Format::Time, "from 09:30+01:00 to 2026-11-30T10:00:00Z"),
            ["09:30:00+01:00"]
        );
    }

    #[test]
    fn values_from_elsewhere_are_held_to_the_format_pattern_and_lengths() {
        let email = Constraints::new(Some(Format::Email), None, None, Some(40));
        assert!(email.accepts("ana@example.com"));
        for bad in [
            "ana@example.com and more",
            "not an address",
            "",
            "jo@ab--c.example.org",
        ] {
            assert!(!email.accepts(bad), "{bad:?}");
        }
        assert!(!email.accepts(&format!("{}@example.com", "a".repeat(40))));
        let date = Constraints::new(Some(Format::Date), None, None, None);
        assert!(date.accepts("2026-03-04"));
        assert!(
            !date.accepts("4 March 2026"),
            "not written as the decoder writes it"
        );
        assert!(!date.accepts("2026-02-30"));
        let order = Constraints::new(
            None,
            Some(compile_pattern("^ORD-[0-9]{4,8}$").expect("compiles")),
            None,
            None,
        );
        assert!(order.accepts("ORD-1234"));
        assert!(!order.accepts("ORD-12"));
    }

    #[test]
    fn an_anchored_pattern_finds_whole_values_inside_a_text() {
        let values = |pattern: &str, text: &str| -> Vec<String> {
            let pattern = compile_pattern(pattern).expect("compiles");
            Constraints::new(None, Some(pattern), None, None)
                .candidates(text)
                .into_iter()
                .map(|c| c.value)
                .collect()
        };
        let text = "Orders ORD-48213, XORD-5555 and ORD-123456789 (too long); ORD-7777.";
        assert_eq!(values("^ORD-[0-9]{4,8}$", text), ["ORD-48213", "ORD-7777"]);
        assert_eq!(
            values(r"\AORD-[0-9]{4,8}\z", text),
            ["ORD-48213", "ORD-7777"]
        );
        assert_eq!(
            values("^ORD-[0-9]{4,8}", text),
            ["ORD-48213", "ORD-12345678", "ORD-7777"],
            "anchored at the start only: a longer number may follow"
        );
        assert_eq!(values(r"^#[0-9]+$", "see #42, #7x or #9"), ["#42", "#9"]);
        assert_eq!(
            values(r"^price: [0-9]+\$", "the price: 5$, unitprice: 7$"),
            ["price: 5$"],
            "anchored at the start only, the escaped dollar kept"
        );
        assert_eq!(
            values(r"[0-9]+\$", "costs 5$ or 7$"),
            ["5$", "7$"],
            "an escaped dollar is not an anchor"
        );
        // Read one way by the regex crate and another by ECMA-262 (jsonschema): only the
        // values both accept.
        assert!(
            values("^ORD-[0-9]+{4,8}$", text).is_empty(),
            "{:?}",
            values("^ORD-[0-9]+{4,8}$", text)
        );
        assert_eq!(
            values("(?i)^ord-[0-9]{4,8}$", "ref ord-1234 ok, xord-5555"),
            ["ord-1234"],
            "inline flags before the anchor"
        );
        // The whole value still has to match the anchored pattern.
        assert!(values("^ORD-[0-9]{4,8}$", "the whole text ORD-1234").contains(&"ORD-1234".into()));
    }

    #[test]
    fn a_plain_string_is_one_of_the_texts_phrases() {
        let plain = Constraints::new(None, None, None, Some(44));
        let text = "Hi team.  My order never arrived! The tracking says \"delivered to locker 12\"; \
                    I paid 3.50 for shipping.\nCan you help? This last sentence is far too long to fit forty-four characters";
        let values: Vec<String> = plain
            .candidates(text)
            .into_iter()
            .map(|c| c.value)
            .collect();
        assert_eq!(
            values,
            [
                "Hi team",
                "My order never arrived",
                "The tracking says \"delivered to locker 12\"",
                "delivered to locker 12",
                "I paid 3.50 for shipping",
                "Can you help",
            ]
        );
        assert!(plain.is_plain());
        assert!(plain.accepts("anything at all"));
        assert!(!plain.accepts(""), "not empty");
        assert!(!plain.accepts(&"x".repeat(45)), "maxLength");
        assert!(plain.candidates("   ").is_empty());
        assert!(
            plain.candidates("\u{200B}. \u{FEFF} ! ...").is_empty(),
            "invisible or no letters"
        );
    }

    #[test]
    fn patterns_that_spell_out_too_much_are_refused() {
        assert_eq!(pattern_positions("ORD-[0-9]{4,8}"), Ok(12));
        assert_eq!(pattern_positions("(ab|c){3}x+"), Ok(10));
        let email = r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}";
        assert!(compile_pattern(email).is_ok());
        for hostile in ["x{5000}", "(x{100}){100}", "(?:a{30}){30}"] {
            let error = compile_pattern(hostile).expect_err(hostile);
            assert!(error.contains("positions"), "{hostile}: {error}");
        }
        assert!(compile_pattern(r"\w{30}")
            .expect_err("too big")
            .contains("compiles to more"));
        assert!(compile_pattern(r"\p{L}+").is_ok());
        let syntax = compile_pattern(r"(?<=a)b").expect_err("lookbehind");
        assert!(syntax.contains("linear-time engine"), "{syntax}");
    }

    #[test]
    fn only_ascii_digits_make_times_and_dates() {
        assert!(values(Format::Time, "at 10:00:00.٣Z").is_empty());
        assert!(values(Format::DateTime, "since 2026-01-01T10:00+٠١:٠٠").is_empty());
        assert!(values(Format::Date, "on ٢٠٢٦-٠١-٠١").is_empty());
        assert!(values(Format::Date, "on 0000-01-01").is_empty(), "year 0");
        assert_eq!(values(Format::Time, "at 10:00:00.3Z"), ["10:00:00.3Z"]);
    }

    #[test]
    fn a_pattern_and_lengths_filter_the_candidates() {
        let constraints = Constraints::new(
            None,
            Some(compile_pattern(r"\bORD-\d+\b").expect("compiles")),
            Some(7),
            Some(10),
        );
        let found: Vec<String> = constraints
            .candidates("ORD-12 ORD-123456 ORD-1234 and ORD-1234 again, ORD-1234567890")
            .into_iter()
            .map(|c| c.value)
            .collect();
        assert_eq!(found, ["ORD-123456", "ORD-1234"]);
    }

    #[test]
    fn patterns_that_need_backtracking_or_too_much_memory_are_refused() {
        assert!(compile_pattern(r"(?=a)b")
            .unwrap_err()
            .contains("lookaround"));
        assert!(compile_pattern(r"(a)\1").is_err());
        let huge = compile_pattern(r"\w{1000}\w{1000}\w{1000}").unwrap_err();
        assert!(huge.contains("more than"), "{huge}");
        // Catastrophic for a backtracking engine, linear here.
        let nested = compile_pattern(r"^(a+)+$").expect("compiles");
        assert!(!nested.is_match(&format!("{}b", "a".repeat(30_000))));
    }
}
