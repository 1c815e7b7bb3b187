//! The detectors: a linear-time candidate pattern per type (the `regex` crate), then the
//! check that confirms a candidate. See the table in [`super`].

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use regex::Regex;

use super::{Finding, PiiType, Region};

/// Most phone-number candidates checked against libphonenumber's metadata in one text
/// (each check costs tens of microseconds per region). Candidates past it are replaced
/// unchecked: a text built to exhaust the check fails closed, and nothing leaves it
/// unredacted.
pub const MAX_PHONE_CHECKS: usize = 64;

struct Patterns {
    email: Regex,
    iban: Regex,
    iban_head: Regex,
    card: Regex,
    ipv4: Regex,
    ipv6: Regex,
    phone: Regex,
    date: Regex,
    thousands: Regex,
    reference: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        // The patterns are constants: a failure to compile is a bug caught by the tests.
        let compile = |pattern: &str| Regex::new(pattern).expect("a valid detector pattern");
        Patterns {
            email: compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@(?:[\w-]+\.)+[\w-]+"),
            iban: compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b"),
            iban_head: compile(r"\b[A-Z]{2}[0-9]{2}[ -]?$"),
            card: compile(r"\b[0-9](?:[ -]?[0-9]){12,22}\b"),
            ipv4: compile(r"\b[0-9]{1,3}(?:\.[0-9]{1,3}){3}\b"),
            ipv6: compile(r"(?i)[0-9a-f:]*:[0-9a-f]*:[0-9a-f:.]*"),
            phone: compile(r"(?:\+ ?)?\(?[0-9][0-9 ().\-/\u{a0}]{4,24}[0-9]"),
            date: compile(
                r"^(?:[0-9]{4}[-/. ][0-9]{1,2}[-/. ][0-9]{1,2}|[0-9]{1,2}[-/. ][0-9]{1,2}[-/. ][0-9]{2,4})$",
            ),
            thousands: compile(r"^[0-9]{1,3}(?:[. ][0-9]{3})+$"),
            // A year then a serial (`2024-55812`, `2024/00871`), or a date stamp
            // (`20241103`, `2024110312`).
            reference: compile(
                r"^(?:(?:19|20)[0-9]{2}[-/.]|(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))",
            ),
        }
    })
}

/// Every value in `text`, in order, none overlapping; national phone numbers are read in
/// `regions`.
pub(super) fn find(text: &str, regions: &[Region]) -> Vec<Finding> {
    let patterns = patterns();
    let mut found: Vec<Finding> = Vec::new();
    let claim = |kind: PiiType, start: usize, end: usize, found: &mut Vec<Finding>| {
        if !found.iter().any(|f| start < f.end && f.start < end) {
            found.push(Finding { kind, start, end });
        }
    };
    for m in patterns.email.find_iter(text) {
        if let Some((start, end)) = email(text, m.start(), m.end()) {
            claim(PiiType::Email, start, end, &mut found);
        }
    }
    for m in patterns.iban.find_iter(text) {
        if let Some(end) = iban(text, m.start(), m.end()) {
            claim(PiiType::Iban, m.start(), end, &mut found);
        }
    }
    for m in patterns.card.find_iter(text) {
        // The digits of an IBAN that failed its check are not a card number.
        let iban_head = patterns.iban_head.is_match(tail(text, m.start(), 8));
        if let Some((start, end)) = card(m.as_str()).filter(|_| !iban_head) {
            claim(
                PiiType::Card,
                m.start() + start,
                m.start() + end,
                &mut found,
            );
        }
    }
    for m in patterns.ipv4.find_iter(text) {
        let dotted_on = text[m.end()..].starts_with('.')
            && text[m.end() + 1..].starts_with(|c: char| c.is_ascii_digit());
        let dotted_before = text[..m.start()].ends_with('.');
        if !dotted_on && !dotted_before && m.as_str().parse::<Ipv4Addr>().is_ok() {
            claim(PiiType::Ip, m.start(), m.end(), &mut found);
        }
    }
    for m in patterns.ipv6.find_iter(text) {
        let candidate = m.as_str().trim_end_matches([':', '.']);
        let end = m.start() + candidate.len();
        if separated(text, m.start(), end)
            && candidate.matches(':').count() >= 2
            && candidate.parse::<Ipv6Addr>().is_ok()
        {
            claim(PiiType::Ip, m.start(), end, &mut found);
        }
    }
    let mut checks = 0;
    for m in patterns.phone.find_iter(text) {
        for (start, end) in pieces(text, m.start(), m.end()) {
            let taken = |found: &[Finding]| found.iter().any(|f| start < f.end && f.start < end);
            if taken(&found) || !phone_shaped(text, start, end, patterns) {
                continue;
            }
            checks += 1;
            if checks > MAX_PHONE_CHECKS || phone(&text[start..end], regions) {
                claim(PiiType::Phone, start, end, &mut found);
            }
        }
    }
    found.sort_by_key(|f| f.start);
    found
}

/// The at most `bytes` bytes of `text` before `end` (fewer, to start on a character).
fn tail(text: &str, end: usize, bytes: usize) -> &str {
    let mut start = end.saturating_sub(bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..end]
}

/// Whether `text[start..end]` stands apart: no letter, digit or `_` touches either end.
fn separated(text: &str, start: usize, end: usize) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    !text[..start].chars().next_back().is_some_and(word)
        && !text[end..].chars().next().is_some_and(word)
}

/// The e-mail address in the candidate `text[start..end]`, if it is one: leading dots
/// trimmed, parsed as jsonschema's `email` check parses, with a top-level domain of at
/// least two letters.
fn email(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let candidate = &text[start..end];
    let trimmed = candidate.trim_start_matches('.');
    let start = start + (candidate.len() - trimmed.len());
    let tld = trimmed.rsplit('.').next()?;
    // `kiosk.Valid`: a capitalised last label is a sentence run on, not a domain.
    let cased = tld.chars().all(char::is_lowercase) || tld.chars().all(char::is_uppercase);
    let tld_ok = tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic) && cased;
    (tld_ok && email_address::EmailAddress::is_valid(trimmed)).then_some((start, end))
}

/// Where the IBAN starting at `start` ends, if the candidate `text[start..end]` (or a
/// prefix of it ending before a space) is one: the longest that passes the country's
/// length and the mod-97 check.
fn iban(text: &str, start: usize, end: usize) -> Option<usize> {
    let candidate = &text[start..end];
    let mut compact = String::with_capacity(candidate.len());
    // (compact length, byte end in text) at each place the candidate may end.
    let mut ends = Vec::new();
    for (at, c) in candidate.char_indices() {
        if c != ' ' {
            compact.push(c);
            let next = candidate[at + 1..].chars().next();
            if next.is_none_or(|n| n == ' ') {
                ends.push((compact.len(), start + at + 1));
            }
        }
    }
    ends.into_iter()
        .rev()
        .filter(|&(len, _)| len >= 15)
        .find(|&(len, _)| compact[..len].parse::<iban::Iban>().is_ok())
        .map(|(_, end)| end)
}

/// The Luhn checksum (ISO/IEC 7812-1) of a string of ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d - b'0');
            if !i.is_multiple_of(2) {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The card number in a run of digits and single separators, as a byte range of it: the
/// whole run, else its longest prefix of whole groups, of 13 to 19 digits, starting with
/// a card network's digit (2 to 6) and passing Luhn.
fn card(run: &str) -> Option<(usize, usize)> {
    let mut digits = Vec::with_capacity(run.len());
    // (digits so far, byte end) at each group end.
    let mut ends = Vec::new();
    for (at, b) in run.bytes().enumerate() {
        if b.is_ascii_digit() {
            digits.push(b);
            if run
                .as_bytes()
                .get(at + 1)
                .is_none_or(|n| !n.is_ascii_digit())
            {
                ends.push((digits.len(), at + 1));
            }
        }
    }
    if !(b'2'..=b'6').contains(digits.first()?) {
        return None;
    }
    ends.into_iter()
        .rev()
        .filter(|&(len, _)| (13..=19).contains(&len))
        .find(|&(len, _)| luhn(&digits[..len]))
        .map(|(_, end)| (0, end))
}

/// The ways to read a phone candidate `text[start..end]`, most likely first: the whole;
/// then, cut at `/`, before `(` and after a full stop (`07946746291/07880867867`,
/// `08712460324 (10p/min)`, `to 89693. 08715500022`), each piece, its prefixes and then its
/// suffix after its first group when that group is the end of a word
/// (`MobileUpd8 08001950382`). A piece is trimmed
/// to start with a digit, `+` or `(` and to end with a digit.
fn pieces(text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut out = vec![(start, end)];
    let candidate = &text[start..end];
    let glued = text[..start]
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric);
    let cuts = candidate
        .char_indices()
        .filter(|&(at, c)| {
            c == '/' || (c == '(' && at > 0) || (c == '.' && candidate[at + 1..].starts_with(' '))
        })
        .map(|(at, _)| at)
        .chain([candidate.len()]);
    let mut piece_start = 0;
    for cut in cuts {
        let piece = &candidate[piece_start..cut];
        let lead = piece.len()
            - piece
                .trim_start_matches(|c: char| !c.is_ascii_digit() && c != '+' && c != '(')
                .len();
        let piece = piece[lead..].trim_end_matches(|c: char| !c.is_ascii_digit());
        let offset = start + piece_start + lead;
        let digit = |at: usize| piece.as_bytes().get(at).is_some_and(u8::is_ascii_digit);
        // Group ends (after a digit not followed by one), longest first; then, when the
        // candidate starts inside a word (`MobileUpd8 08001950382`), what follows its first
        // group and a space.
        let ends = (1..=piece.len())
            .rev()
            .filter(|&at| digit(at - 1) && !digit(at));
        let first_space = piece.find(' ').filter(|_| glued && piece_start == 0);
        let starts = first_space.map(|at| at + 1).filter(|&at| digit(at));
        let ranges = ends
            .map(|at| (offset, offset + at))
            .chain(starts.map(|at| (offset + at, offset + piece.len())));
        for range in ranges {
            if range.0 < range.1 && !out.contains(&range) {
                out.push(range);
            }
        }
        piece_start = cut + 1;
    }
    out
}

/// Whether the candidate `text[start..end]` is shaped like a phone number: 7 to 15
/// digits, balanced parentheses, no run of more than two separators, standing apart from
/// words, codes (`ORD-1234567`, `#1234567`) and longer numbers, and not a date or a
/// number with thousands separators.
fn phone_shaped(text: &str, start: usize, end: usize, patterns: &Patterns) -> bool {
    let candidate = &text[start..end];
    let digits = candidate.bytes().filter(u8::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return false;
    }
    let opens = candidate.matches('(').count();
    if opens != candidate.matches(')').count() || opens > 2 {
        return false;
    }
    let mut run = 0;
    for c in candidate.chars() {
        run = if c.is_ascii_digit() || c == '+' {
            0
        } else {
            run + 1
        };
        if run > 2 {
            return false;
        }
    }
    let before = text[..start].chars().next_back();
    let before2 = text[..start].chars().rev().nth(1);
    let codeish = |c: char| matches!(c, '-' | '_' | '/' | '.' | '#' | '$' | '€' | '£' | '%');
    if before.is_some_and(|c| c.is_alphanumeric() || c == '#' || c == '$' || c == '€')
        || (before.is_some_and(codeish) && before2.is_some_and(char::is_alphabetic))
    {
        return false;
    }
    let after = text[end..].chars().next();
    let after2 = text[end..].chars().nth(1);
    if after.is_some_and(|c| c.is_alphanumeric() || c == '%' || c == '€')
        || (after.is_some_and(|c| matches!(c, '-' | '.' | ','))
            && after2.is_some_and(|c| c.is_ascii_digit()))
    {
        return false;
    }
    if patterns.date.is_match(candidate)
        || patterns.thousands.is_match(candidate)
        || patterns.reference.is_match(candidate)
    {
        return false;
    }
    // Bare digits with no trunk `0` (`5581034`, `88213390`) are reference numbers far
    // more often than numbers dialled without their area code.
    let bare = candidate.bytes().all(|b| b.is_ascii_digit());
    !(bare && !candidate.starts_with('0') && digits < 9)
}

/// Whether `candidate` is a valid phone number: as written when international (`+` or
/// `00`), else in one of `regions`.
fn phone(candidate: &str, regions: &[Region]) -> bool {
    let valid = |region: Option<Region>, number: &str| {
        phonenumber::parse(region, number).is_ok_and(|n| phonenumber::is_valid(&n))
    };
    let trimmed = candidate.trim_start_matches('(');
    if trimmed.starts_with('+') {
        return valid(None, candidate);
    }
    if let Some(rest) = trimmed.strip_prefix("00") {
        return valid(None, &format!("+{rest}"));
    }
    regions.iter().any(|&region| valid(Some(region), candidate))
}

#[cfg(test)]
mod tests {
    use super::super::{Redactor, TypeSet};
    use super::*;

    fn kinds(text: &str) -> Vec<(PiiType, String)> {
        Redactor::default()
            .find(text)
            .into_iter()
            .map(|f| (f.kind, text[f.start..f.end].to_owned()))
            .collect()
    }

    fn one(text: &str, kind: PiiType, value: &str) {
        assert_eq!(kinds(text), [(kind, value.to_owned())], "in {text:?}");
    }

    fn none(text: &str) {
        assert_eq!(kinds(text), [], "in {text:?}");
    }

    #[test]
    fn luhn_accepts_test_cards_and_refuses_a_changed_digit() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111111111111112"));
    }

    #[test]
    fn emails_are_found_and_lookalikes_are_not() {
        one(
            "mail me at jane.doe+tag@example.co.uk.",
            PiiType::Email,
            "jane.doe+tag@example.co.uk",
        );
        one(
            "contact: müller@bücher.de",
            PiiType::Email,
            "müller@bücher.de",
        );
        none("ping @jane on slack, or see user@localhost and v1@2.0");
    }

    #[test]
    fn ibans_pass_the_checksum_in_print_and_compact_form() {
        one(
            "IBAN: DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX",
            PiiType::Iban,
            "DE89 3704 0044 0532 0130 00",
        );
        one(
            "pay to GB82WEST12345698765432 today",
            PiiType::Iban,
            "GB82WEST12345698765432",
        );
        one(
            "FR14 2004 1010 0505 0001 3M02 606",
            PiiType::Iban,
            "FR14 2004 1010 0505 0001 3M02 606",
        );
        none("DE89 3704 0044 0532 0130 01 has a wrong check");
    }

    #[test]
    fn cards_pass_luhn_and_others_do_not() {
        one(
            "card 4111 1111 1111 1111 exp 12/29",
            PiiType::Card,
            "4111 1111 1111 1111",
        );
        one("amex 3782-822463-10005", PiiType::Card, "3782-822463-10005");
        one("5555555555554444", PiiType::Card, "5555555555554444");
        none("tracking 1Z999AA10123456784, order 4111 1111 1111 1112");
    }

    #[test]
    fn ips_are_addresses_and_versions_are_not() {
        one("login from 203.0.113.7 failed", PiiType::Ip, "203.0.113.7");
        one(
            "client 2001:db8::8a2e:370:7334.",
            PiiType::Ip,
            "2001:db8::8a2e:370:7334",
        );
        none("version 1.2.3.4.5, 999.1.1.1, at 14:05:00, std::map, de:ad:be:ef:00:01");
    }

    #[test]
    fn phones_in_several_locales() {
        one("call (415) 555-2671 now", PiiType::Phone, "(415) 555-2671");
        one("ruf an: 030 901820", PiiType::Phone, "030 901820");
        one(
            "appelez le 06 12 34 56 78",
            PiiType::Phone,
            "06 12 34 56 78",
        );
        one(
            "whatsapp +91 98765 43210",
            PiiType::Phone,
            "+91 98765 43210",
        );
        one("bel 0031 6 12345678", PiiType::Phone, "0031 6 12345678");
        one("Txt 09061701461 to claim", PiiType::Phone, "09061701461");
    }

    #[test]
    fn numbers_that_are_not_phones() {
        none("order ORD-4155552671 shipped");
        none("invoice #4155552671");
        none("on 2024-01-15 we paid 1.234.567 EUR, 12.5% more, at 10:30");
        let gb = Redactor::from_regions("GB").unwrap();
        assert!(gb
            .find("the fiction range 07700 900123 is not assigned")
            .is_empty());
        none("population 8 336 817 in 2019");
    }

    #[test]
    fn phone_checks_are_bounded_and_fail_closed() {
        let text = "0000000, ".repeat(MAX_PHONE_CHECKS + 10);
        let found = Redactor::default().redact(&text, TypeSet::all()).found;
        assert_eq!(
            found.len(),
            10,
            "past the budget, candidates are replaced unchecked"
        );
    }
}
