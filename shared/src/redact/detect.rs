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
    /// Digit groups of identifiers shaped like nothing a phone plan writes: a US Social
    /// Security number (3-2-4), a ZIP+4 code (5-4), an ISBN-10 (1-3-5-1 and kin).
    not_phone_shape: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        // The patterns are constants: a failure to compile is a bug caught by the tests.
        let compile = |pattern: &str| Regex::new(pattern).expect("a valid detector pattern");
        Patterns {
            email: compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@(?:[\w-]+\.)+[\w-]+"),
            // Either case, and a space after the country code ("DE 89 3704 ..."), as
            // people type them; the checksum decides.
            iban: compile(r"\b[A-Za-z]{2} ?[0-9]{2}(?: ?[A-Za-z0-9]){11,30}\b"),
            iban_head: compile(r"\b[A-Za-z]{2} ?[0-9]{2}[ -]?$"),
            card: compile(r"\b[0-9](?:[ -]?[0-9]){12,}\b"),
            ipv4: compile(r"\b[0-9]{1,3}(?:\.[0-9]{1,3}){3}\b"),
            ipv6: compile(r"(?i)[0-9a-f:]*:[0-9a-f]*:[0-9a-f:.]*"),
            // `(+44) 7911 123456` too: a calling code in parentheses.
            phone: compile(r"\(?(?:\+ ?)?\(?[0-9][0-9 ().\-/\u{a0}]{4,24}[0-9]"),
            date: compile(
                r"^(?:[0-9]{4}[-/. ][0-9]{1,2}[-/. ][0-9]{1,2}|[0-9]{1,2}[-/. ][0-9]{1,2}[-/. ][0-9]{2,4})$",
            ),
            // `1.234.567`, `8 336 817` (but not `612 345 678`, a Spanish mobile).
            thousands: compile(r"^(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]{1,2}(?: [0-9]{3})+)$"),
            // A year then a serial (`2024-55812`, `2024/00871`), or a date stamp
            // (`20241103`, `2024110312`).
            reference: compile(
                r"^(?:(?:19|20)[0-9]{2}[-/.]|(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))",
            ),
            not_phone_shape: compile(
                r"^(?:[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{5}-[0-9]{4}|[0-9]{1,5}-[0-9]{1,7}-[0-9]{1,7}-[0-9X])$",
            ),
        }
    })
}

/// Most distinct international calling codes whose numbers are checked in one text:
/// libphonenumber compiles each region's patterns on first use into a shared cache of 100,
/// so a text cycling through many countries would recompile them on every check. Numbers
/// of further countries are replaced unchecked.
pub const MAX_CALLING_CODES: usize = 8;

/// Words that, among the six before a number (or as a part of a `snake_case` key such as
/// `customer_phone`), say it is a phone number, in the languages of the default regions:
/// it is then read as one even glued to them (`Tel.030 1234567`), and an identifier word
/// just before it does not count (`Phone number for this order: 07911 123456`).
#[rustfmt::skip]
const PHONE_WORDS: &[&str] = &[
    "tel", "tél", "tele", "telephone", "téléphone", "telefon", "telefone", "telefono",
    "teléfono", "telefoon", "telefonnummer", "phone", "ph", "fon", "mobile", "mobil",
    "móvil", "cellulare", "cell", "celular", "handy", "portable", "gsm", "fax", "call",
    "ring", "whatsapp", "contact", "kontakt", "contatto", "contacto", "tlf", "mob", "tfno",
    "telf", "cel", "anrufen", "ruf", "rückruf", "appelez", "appelle", "appeler", "rappelez",
    "llámame", "llamame", "llama", "llamar", "llámenos", "chiamami", "chiama", "chiamare",
    "chiamate", "bel", "bellen", "ligue", "liga", "ligar",
];

/// Words that, just before a number, name it an identifier, a code or a reference rather
/// than a phone number (product, book and postal codes, tax and company numbers, orders,
/// timestamps). Only the last word counts, and never for a number written with `+` or
/// `00`: a word further back, or an international number, is too likely a real phone
/// number to leave in the text.
#[rustfmt::skip]
const NOT_PHONE_WORDS: &[&str] = &[
    "isbn", "issn", "ean", "gtin", "upc", "barcode", "sku", "asin", "imei", "serial", "sn",
    "zip", "zipcode", "postcode", "cep", "siret", "siren", "ssn", "vat", "ust", "nif",
    "cif", "cpf", "cnpj", "bsn", "kvk", "steuernummer", "version", "build", "order",
    "invoice", "ticket", "ref", "reference", "tracking", "timestamp", "ts", "epoch",
    "created_at", "updated_at", "uuid", "pedido", "bestellung", "rechnung", "commande",
    "facture", "ordine", "fattura", "factura",
];

/// Words that, just before a Luhn-valid run of digits, name it a device or product code,
/// not a payment card.
const CODE_WORDS: &[&str] = &[
    "isbn", "issn", "ean", "gtin", "upc", "barcode", "sku", "asin", "imei", "serial", "sn",
];

/// Words that, just before a dotted quad, name it a version, not an IP address
/// (`version 1.2.3.4`).
const VERSION_WORDS: &[&str] = &["version", "v", "build"];

/// Whether the word just before byte `start` of `text` (punctuation and spaces between)
/// is in `list`.
fn named_by(text: &str, start: usize, list: &[&str]) -> bool {
    words_before(text, start)
        .last()
        .is_some_and(|word| list.contains(&word.as_str()))
}

/// The last words (lower case, up to six) in the 64 bytes before byte `start` of `text`,
/// after the last digit there: a word speaks of the number that follows it, not of a
/// later one (`mobile +55 11 2346 6880. CEP 01310-100`).
fn words_before(text: &str, start: usize) -> Vec<String> {
    let mut from = start.saturating_sub(64);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    if let Some(digit) = text[from..start].rfind(|c: char| c.is_ascii_digit()) {
        from += digit + 1;
    }
    let words: Vec<String> = text[from..start]
        .split(|c: char| !(c.is_alphabetic() || c == '_'))
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    words[words.len().saturating_sub(6)..].to_vec()
}

/// What the words just before byte `start` of `text` say about the number there:
/// `Some(true)` a phone word is among the last six, `Some(false)` the last one names an
/// identifier (and no phone word is there), `None` neither.
fn context(text: &str, start: usize) -> Option<bool> {
    let words = words_before(text, start);
    let phone_word = |word: &String| {
        PHONE_WORDS.contains(&word.as_str())
            || word.split('_').any(|part| PHONE_WORDS.contains(&part))
    };
    if words.iter().any(phone_word) {
        Some(true)
    } else if named_by(text, start, NOT_PHONE_WORDS) {
        Some(false)
    } else {
        None
    }
}

/// Every value in `original`, in order, none overlapping; national phone numbers are read
/// in `regions`. Detection runs on a [`View`] of the text (invisible characters dropped,
/// look-alike spaces, dashes and digits made ASCII), each stage on what the stages before
/// it left (their values masked), and the spans are mapped back to `original`.
pub(super) fn find(original: &str, regions: &[Region]) -> Vec<Finding> {
    let patterns = patterns();
    let view = View::of(original);
    let mut text = view.text.clone();
    let mut found: Vec<Finding> = Vec::new();
    let mut claim = |kind: PiiType, start: usize, end: usize, text: &mut String| {
        found.push(Finding { kind, start, end });
        mask(text, start, end);
    };
    let emails: Vec<_> = patterns
        .email
        .find_iter(&text)
        .filter_map(|m| email(&text, m.start(), m.end()))
        .collect();
    for (start, end) in emails {
        claim(PiiType::Email, start, end, &mut text);
    }
    let ibans: Vec<_> = patterns
        .iban
        .find_iter(&text)
        .filter_map(|m| iban(&text, m.start(), m.end()).map(|end| (m.start(), end)))
        .collect();
    for (start, end) in ibans {
        claim(PiiType::Iban, start, end, &mut text);
    }
    let mut ips: Vec<(usize, usize)> = Vec::new();
    for m in patterns.ipv6.find_iter(&text) {
        let candidate = m.as_str().trim_end_matches([':', '.']);
        let end = m.start() + candidate.len();
        if separated(&text, m.start(), end)
            && candidate.matches(':').count() >= 2
            && candidate.parse::<Ipv6Addr>().is_ok()
        {
            ips.push((m.start(), end));
        }
    }
    for m in patterns.ipv4.find_iter(&text) {
        let dotted_on = text[m.end()..].starts_with('.')
            && text[m.end() + 1..].starts_with(|c: char| c.is_ascii_digit());
        let dotted_before = text[..m.start()].ends_with('.');
        let inside = ips.iter().any(|&(s, e)| m.start() < e && s < m.end());
        let version = named_by(&text, m.start(), VERSION_WORDS);
        if !dotted_on
            && !dotted_before
            && !inside
            && !version
            && m.as_str().parse::<Ipv4Addr>().is_ok()
        {
            ips.push((m.start(), m.end()));
        }
    }
    for (start, end) in ips {
        claim(PiiType::Ip, start, end, &mut text);
    }
    let mut cards_found = Vec::new();
    for m in patterns.card.find_iter(&text) {
        for (start, end) in cards(m.as_str()) {
            let (start, end) = (m.start() + start, m.start() + end);
            // The digits of an IBAN that failed its check are not a card number, nor are
            // codes a word before them names (`IMEI 35...`, `EAN 40...`).
            if !patterns.iban_head.is_match(tail(&text, start, 8))
                && !named_by(&text, start, CODE_WORDS)
            {
                cards_found.push((start, end));
            }
        }
    }
    for (start, end) in cards_found {
        claim(PiiType::Card, start, end, &mut text);
    }
    let mut checks = 0;
    let mut calling_codes: Vec<&str> = Vec::new();
    let mut phones: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while let Some(m) = patterns.phone.find_at(&text, at) {
        at = m.end();
        let before = phones.len();
        let mut said_at: Option<(usize, Option<bool>)> = None;
        for (start, end) in pieces(&text, m.start(), m.end()) {
            // Earlier matches' numbers all end before this match starts.
            let taken = phones[before..].iter().any(|&(s, e)| start < e && s < end);
            if taken {
                continue;
            }
            let lead = text[start..].trim_start_matches('(');
            // A WhatsApp link's number is international without its `+`.
            let link = text
                .get(start.saturating_sub(6)..start)
                .is_some_and(|s| s.eq_ignore_ascii_case("wa.me/"));
            let international = link || lead.starts_with('+') || lead.starts_with("00");
            // Most pieces of a match share its start: the words before it are read once.
            let said = match said_at {
                Some((at, said)) if at == start => said,
                _ => {
                    let said = context(&text, start);
                    said_at = Some((start, said));
                    said
                }
            };
            let said = said.filter(|&phone| phone || !international);
            let shaped = match (link, said) {
                (true, _) | (false, Some(true)) => phone_shaped(&text, start, end, patterns, true),
                (false, Some(false)) => false,
                (false, None) => phone_shaped(&text, start, end, patterns, false),
            };
            if !shaped {
                continue;
            }
            checks += 1;
            let candidate = &text[start..end];
            let unchecked = checks > MAX_PHONE_CHECKS
                || calling_code(candidate).is_some_and(|code| {
                    if !calling_codes.contains(&code) {
                        calling_codes.push(code);
                    }
                    calling_codes.len() > MAX_CALLING_CODES && calling_codes.last() == Some(&code)
                });
            let valid = || {
                if link {
                    phone(&format!("+{candidate}"), regions)
                } else {
                    phone(candidate, regions)
                }
            };
            // Past the bound, replaced unchecked (fail closed).
            if unchecked || valid() {
                phones.push((start, end));
            }
        }
        // Numbers in a row (`Tel 0612345678 0698765432`): the search goes on just after
        // the last one found, so the next is a candidate of its own.
        if let Some(last) = phones[before..].iter().map(|&(_, end)| end).max() {
            at = at.min(last.max(m.start() + 1));
        }
    }
    for (start, end) in phones {
        claim(PiiType::Phone, start, end, &mut text);
    }
    found.sort_by_key(|f| f.start);
    // Stages see only what earlier ones left, so spans do not overlap; keep it certain,
    // since replacing overlapping spans would cut the text wrongly.
    let mut end = 0;
    found.retain(|f| {
        let apart = f.start >= end;
        end = end.max(f.end);
        apart
    });
    found
        .into_iter()
        .map(|f| Finding {
            kind: f.kind,
            start: view.starts[f.start],
            end: view.ends[f.end - 1],
        })
        .collect()
}

/// The first digits after a leading `+` or `00`: a key for the number's country (a
/// calling code has one to three digits; the first three tell countries apart well
/// enough to bound the work).
fn calling_code(candidate: &str) -> Option<&str> {
    let rest = candidate.trim_start_matches('(');
    let rest = rest
        .strip_prefix('+')
        .or_else(|| rest.strip_prefix("00"))?
        .trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count().min(3);
    Some(&rest[..digits])
}

/// Replaces `text[start..end]` by as many `X`s: later stages see a word there, not the
/// value, and every byte offset stays where it was.
fn mask(text: &mut String, start: usize, end: usize) {
    let masked = "X".repeat(end - start);
    text.replace_range(start..end, &masked);
}

/// The text detection reads: characters that hide inside values (zero-width spaces and
/// joiners, soft hyphens, word joiners, byte-order marks) dropped; Unicode spaces made
/// `' '`, dashes and minus signs `'-'`, full-width `＠` and `＋` ASCII, and the decimal
/// digits of other scripts (Arabic-Indic, Devanagari, full-width) ASCII digits. `starts[i]`
/// and `ends[i]` are where the original character behind byte `i` starts and ends.
struct View {
    text: String,
    starts: Vec<usize>,
    ends: Vec<usize>,
}

impl View {
    fn of(original: &str) -> View {
        let mut view = View {
            text: String::with_capacity(original.len()),
            starts: Vec::with_capacity(original.len()),
            ends: Vec::with_capacity(original.len()),
        };
        for (at, c) in original.char_indices() {
            let end = at + c.len_utf8();
            let mapped = match c {
                '\u{ad}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' => continue,
                '\u{a0}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => ' ',
                '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe63}' | '\u{ff0d}' => '-',
                '\u{ff20}' => '@',
                '\u{ff0b}' => '+',
                _ => ascii_digit(c).unwrap_or(c),
            };
            view.text.push(mapped);
            for _ in 0..mapped.len_utf8() {
                view.starts.push(at);
                view.ends.push(end);
            }
        }
        view
    }
}

/// The ASCII digit for a decimal digit of another script, if `c` is one.
fn ascii_digit(c: char) -> Option<char> {
    const ZEROS: [u32; 4] = [0x0660, 0x06f0, 0x0966, 0xff10];
    let code = u32::from(c);
    ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&code))
        .and_then(|&zero| char::from_digit(code - zero, 10))
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
    let labels: Vec<&str> = trimmed.rsplit('@').next()?.split('.').collect();
    let before = labels.len().checked_sub(2).map_or("", |i| labels[i]);
    let capitalised = tld.chars().next().is_some_and(char::is_uppercase)
        && tld.chars().skip(1).all(char::is_lowercase);
    let valid = |address: &str| email_address::EmailAddress::is_valid(address);
    // A capitalised last label after a lower-case one is a sentence run on
    // (`jane@example.com.Thanks`): the address ends before it, when what is left still
    // has a domain with a dot. Else it is the address's own (`marco@gmail.Com`), or no
    // address at all (`msg+ticket@kiosk.Valid`: a word, in a venue's SMS slang).
    if capitalised && before.chars().all(char::is_lowercase) {
        let cut = trimmed.rfind('.')?;
        let shorter = &trimmed[..cut];
        let dotted = shorter.rsplit('@').next().is_some_and(|d| d.contains('.'));
        if dotted && valid(shorter) {
            return Some((start, start + cut));
        }
        // A capitalised word is a run on; a two- or three-letter one (`Com`, `De`) a
        // top-level domain typed with a capital.
        if tld.chars().count() > 3 {
            return None;
        }
    }
    let tld_ok = tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic);
    (tld_ok && valid(trimmed)).then_some((start, end))
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
        .find(|&(len, _)| {
            compact[..len]
                .to_ascii_uppercase()
                .parse::<iban::Iban>()
                .is_ok()
        })
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

/// The card numbers in a run of digit groups (joined by single spaces or dashes), as byte
/// ranges of it: from each group that starts with a card network's digit (2 to 6), the
/// longest window of whole groups of 13 to 19 digits that passes Luhn, left to right, none
/// overlapping (`qty 3 4111 1111 1111 1111`, two cards in a row).
fn cards(run: &str) -> Vec<(usize, usize)> {
    let bytes = run.as_bytes();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at].is_ascii_digit() {
            let start = at;
            while at < bytes.len() && bytes[at].is_ascii_digit() {
                at += 1;
            }
            groups.push((start, at));
        } else {
            at += 1;
        }
    }
    let mut out = Vec::new();
    let mut first = 0;
    while first < groups.len() {
        let mut digits: Vec<u8> = Vec::with_capacity(19);
        let mut best = None;
        if (b'2'..=b'6').contains(&bytes[groups[first].0]) {
            for (last, &(start, end)) in groups.iter().enumerate().skip(first) {
                digits.extend_from_slice(&bytes[start..end]);
                if digits.len() > 19 {
                    break;
                }
                if digits.len() >= 13 && luhn(&digits) {
                    best = Some(last);
                }
            }
        }
        match best {
            Some(last) => {
                out.push((groups[first].0, groups[last].1));
                first = last + 1;
            }
            None => first += 1,
        }
    }
    out
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
/// digits, balanced parentheses, no run of more than two separators (or one spaced out),
/// standing apart from words, codes (`ORD-1234567`, `#1234567`) and longer numbers, and
/// not a date; unless a phone word `announced` it, not glued to a word or code either
/// (`Tel.030 1234567` is announced), nor a number with thousands separators, a year and
/// serial, or an identifier shape (`Teléfono: 612.345.678`); libphonenumber still has the
/// last word.
fn phone_shaped(
    text: &str,
    start: usize,
    end: usize,
    patterns: &Patterns,
    announced: bool,
) -> bool {
    let candidate = &text[start..end];
    let digits = candidate.bytes().filter(u8::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return false;
    }
    let opens = candidate.matches('(').count();
    if opens != candidate.matches(')').count() || opens > 2 {
        return false;
    }
    // Separators between digits: at most two in a row, or one spaced out (`030 / 1234567`,
    // `0171 - 1234567`, as German numbers are written).
    let (mut run, mut marks) = (0, 0);
    for c in candidate.chars() {
        if c.is_ascii_digit() || c == '+' {
            (run, marks) = (0, 0);
            continue;
        }
        run += 1;
        marks += usize::from(c != ' ' && c != '\u{a0}');
        if run > 3 || (run == 3 && marks != 1) {
            return false;
        }
    }
    let before = text[..start].chars().next_back();
    let before2 = text[..start].chars().rev().nth(1);
    let codeish = |c: char| matches!(c, '-' | '_' | '/' | '.' | '#' | '$' | '€' | '£' | '%');
    let glued = before.is_some_and(|c| c.is_alphanumeric() || c == '#' || c == '$' || c == '€')
        || (before.is_some_and(codeish) && before2.is_some_and(char::is_alphabetic));
    // Announced by a phone word, it may touch the word (`Tel.030 1234567`), not a digit.
    if (glued && !announced) || before.is_some_and(|c| c.is_ascii_digit()) {
        return false;
    }
    let after = text[end..].chars().next();
    let after2 = text[end..].chars().nth(1);
    // A comma then 7 digits or more is a list of numbers (`0612345678,0687654321`), not
    // a decimal part.
    let listed = after == Some(',')
        && text[end + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count()
            >= 7;
    if after.is_some_and(|c| c.is_alphanumeric() || c == '%' || c == '€')
        || (after.is_some_and(|c| matches!(c, '-' | '.' | ','))
            && after2.is_some_and(|c| c.is_ascii_digit())
            && !listed)
    {
        return false;
    }
    if patterns.date.is_match(candidate)
        || (!announced
            && (patterns.thousands.is_match(candidate)
                || patterns.reference.is_match(candidate)
                || patterns.not_phone_shape.is_match(candidate)))
    {
        return false;
    }
    // Bare digits with no trunk `0` (`5581034`, `88213390`) are reference numbers far
    // more often than numbers dialled without their area code.
    let bare = candidate.bytes().all(|b| b.is_ascii_digit());
    !(bare && !candidate.starts_with('0') && digits < 9)
}

/// Whether `candidate` is a valid phone number: as written when international (`+` or
/// `00`), else in one of `regions`, written as it is dialled there: with the region's
/// trunk prefix when its national format for that number has one (`030 1234567` in
/// Germany; `1701234567` is a timestamp or a code there, not a number dialled without its
/// `0`), without when it does not (the US, Indian mobiles, Brazilian `(11) 91234-5678`).
fn phone(candidate: &str, regions: &[Region]) -> bool {
    let valid = |region: Option<Region>, number: &str| {
        phonenumber::parse(region, number)
            .ok()
            .filter(phonenumber::is_valid)
    };
    let trimmed = candidate.trim_start_matches('(');
    if let Some(rest) = candidate.strip_prefix("(+") {
        // `(+44) 7911 123456`: the calling code out of its parentheses.
        return valid(None, &format!("+{}", rest.replacen(')', " ", 1))).is_some();
    }
    if trimmed.starts_with('+') {
        return valid(None, candidate).is_some();
    }
    if let Some(rest) = trimmed.strip_prefix("00") {
        return valid(None, &format!("+{rest}")).is_some();
    }
    let digits: String = candidate.chars().filter(char::is_ascii_digit).collect();
    regions.iter().any(|&region| {
        let national = valid(Some(region), candidate).is_some_and(|number| {
            trunk_prefix(region, &number).is_none_or(|prefix| digits.starts_with(prefix))
        });
        // The region's calling code without its `+` (`44 7732584351`), as texts often
        // write it.
        national
            || (digits.len() >= 11
                && phonenumber::metadata::DATABASE
                    .by_id(region.as_ref())
                    .is_some_and(|metadata| {
                        digits.starts_with(&metadata.country_code().to_string())
                    })
                && valid(None, &format!("+{digits}")).is_some())
    })
}

/// The trunk prefix `number` is written with in `region`'s national format
/// (libphonenumber's format for it: `$NP$FG` and not optional), if any.
fn trunk_prefix(region: Region, number: &phonenumber::PhoneNumber) -> Option<&'static str> {
    // libphonenumber's format patterns are regexes it compiles into a small shared cache:
    // matching them for every candidate tripled the redactor's mean time. A format is
    // chosen by the number's leading digits and length, so the answer is kept per region,
    // length and first six digits (at most 4,096 keys, then forgotten). A B-tree, not a
    // hash map: the keys are request data, and the Spin snapshot fixes hash seeds.
    type Known =
        std::sync::Mutex<std::collections::BTreeMap<(String, usize, String), Option<&'static str>>>;
    static KNOWN: OnceLock<Known> = OnceLock::new();
    let national = number.national().to_string();
    let key = (
        region.as_ref().to_owned(),
        national.len(),
        national.chars().take(6).collect::<String>(),
    );
    let known = KNOWN.get_or_init(Default::default);
    if let Some(prefix) = known.lock().ok().and_then(|map| map.get(&key).copied()) {
        return prefix;
    }
    let prefix = format_trunk_prefix(region, &national);
    if let Ok(mut map) = known.lock() {
        if map.len() >= 4096 {
            map.clear();
        }
        map.insert(key, prefix);
    }
    prefix
}

/// [`trunk_prefix`] by libphonenumber's formats for the national number `national`.
fn format_trunk_prefix(region: Region, national: &str) -> Option<&'static str> {
    let metadata = phonenumber::metadata::DATABASE.by_id(region.as_ref())?;
    let prefix = metadata.national_prefix()?;
    let starts_here = |m: Option<regex::Match>| m.is_some_and(|m| m.start() == 0);
    let format = metadata.formats().iter().find(|format| {
        let leading = format.leading_digits().last();
        leading.is_none_or(|digits| starts_here(digits.find(national)))
            && format
                .pattern()
                .find(national)
                .is_some_and(|m| m.start() == 0 && m.end() == national.len())
    })?;
    let written = format.national_prefix()?.contains("$NP");
    (written && !format.is_national_prefix_optional()).then_some(prefix)
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
        // A sentence run on after the address, and a capitalised top-level domain.
        one(
            "write to jane@example.com.Thanks, Jane",
            PiiType::Email,
            "jane@example.com",
        );
        one(
            "marco.rossi@gmail.Com",
            PiiType::Email,
            "marco.rossi@gmail.Com",
        );
        none("show msg+ticket@kiosk.Valid 4-7/12");
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
            "iban de89370400440532013000 bitte",
            PiiType::Iban,
            "de89370400440532013000",
        );
        one(
            "IBAN DE 89 3704 0044 0532 0130 00.",
            PiiType::Iban,
            "DE 89 3704 0044 0532 0130 00",
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
        // Luhn-valid codes that a word before them says are not cards.
        none("IMEI 356938035643809 of the handset");
        none("barcode (EAN) 4006381333931");
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
        none("upgraded to version 10.0.0.1 today, firmware v1.2.3.4");
    }

    #[test]
    fn phones_in_several_locales() {
        for (text, number) in [
            ("call (415) 555-2671 now", "(415) 555-2671"),
            ("ruf an: 030 901820", "030 901820"),
            ("appelez le 06 12 34 56 78", "06 12 34 56 78"),
            ("whatsapp +91 98765 43210", "+91 98765 43210"),
            ("bel 0031 6 12345678", "0031 6 12345678"),
            ("Txt 09061701461 to claim", "09061701461"),
            // A phone word may touch the number.
            ("Tel.030 12345678", "030 12345678"),
            // Bare digits in the US (no trunk prefix there); India's mobiles without their 0.
            ("call 4155552671", "4155552671"),
            ("mobile 98765 43210", "98765 43210"),
            // A country's calling code without its `+`.
            ("44 7732584351, reply now", "44 7732584351"),
            ("Mein Handy: (+44) 7911 123456", "(+44) 7911 123456"),
            ("Celular (+55) 11 91234-5678", "(+55) 11 91234-5678"),
            ("Büro 030 / 1234567", "030 / 1234567"),
            ("Handy 0171 - 1234567", "0171 - 1234567"),
            ("Teléfono: 612.345.678", "612.345.678"),
            ("Llámame al 612.345.678", "612.345.678"),
            ("Chat with me: https://wa.me/447911123456", "447911123456"),
            // An identifier word counts only just before the number, never before an
            // international one, and not against a phone word further back.
            ("Anrufer-ID 0171 1234567 hat angerufen", "0171 1234567"),
            ("Caller ID: +44 7911 123456", "+44 7911 123456"),
            ("Order placed from 07911 123456", "07911 123456"),
            ("Phone number for this order: 07911 123456", "07911 123456"),
            (
                r#"{"ticket":"open","contact_number":"07911123456"}"#,
                "07911123456",
            ),
        ] {
            one(text, PiiType::Phone, number);
        }
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
        // Where a national number is dialled with its trunk `0` (Germany), digits without
        // it are codes: a GTIN, a unix time.
        none("4006381333931 on the box, created 1701234567");
        // Shaped like identifiers: a US SSN, a ZIP+4 code, an ISBN-10.
        none("SSN 078-05-1120, Austin TX 78701-1234, 0-306-40615-2");
        // Named by the word before them.
        none("ISBN 3-16-148410-0, order 1234567890, SIRET 732 829 320 00074");
        none("CEP 01310-100, Bestellung 0301234567, created_at 0401234567");
    }

    #[test]
    fn numbers_in_a_row_are_each_found() {
        for text in [
            "Phones: 0612345678,0687654321",
            "Tel 0612345678 0698765432",
            "Handy 0171 1234567 - 0160 7654321",
        ] {
            let found = kinds(text);
            assert_eq!(found.len(), 2, "{text}: {found:?}");
            assert!(
                found.iter().all(|(kind, _)| *kind == PiiType::Phone),
                "{found:?}"
            );
        }
        // A decimal part is not a second number.
        none("amount 4155552671,50 due");
    }

    #[test]
    fn neighbours_do_not_hide_a_value() {
        let found = kinds("from 192.168.0.1 4111 1111 1111 1111");
        assert_eq!(
            found[1],
            (PiiType::Card, "4111 1111 1111 1111".to_owned()),
            "{found:?}"
        );
        one(
            "qty 3 4111 1111 1111 1111",
            PiiType::Card,
            "4111 1111 1111 1111",
        );
        let two = kinds("4111 1111 1111 1111 5555 5555 5555 4444");
        assert_eq!(two.len(), 2, "{two:?}");
        let found = kinds("4111 1111 1111 1111 030 901820");
        assert_eq!(
            found[1],
            (PiiType::Phone, "030 901820".to_owned()),
            "{found:?}"
        );
        one(
            "::ffff:192.168.1.1 logged in",
            PiiType::Ip,
            "::ffff:192.168.1.1",
        );
    }

    #[test]
    fn invisible_and_look_alike_characters_do_not_hide_a_value() {
        one(
            "card 4111\u{200b}1111\u{200b}1111\u{200b}1111",
            PiiType::Card,
            "4111\u{200b}1111\u{200b}1111\u{200b}1111",
        );
        one(
            "card 4111\u{a0}1111\u{2009}1111\u{202f}1111",
            PiiType::Card,
            "4111\u{a0}1111\u{2009}1111\u{202f}1111",
        );
        one(
            "mail ja\u{200b}ne@example.com",
            PiiType::Email,
            "ja\u{200b}ne@example.com",
        );
        one(
            "mail jane\u{ad}@exa\u{200d}mple.com",
            PiiType::Email,
            "jane\u{ad}@exa\u{200d}mple.com",
        );
        one(
            "call +1 415\u{200b}555\u{2011}2671",
            PiiType::Phone,
            "+1 415\u{200b}555\u{2011}2671",
        );
        one(
            "card ４１１１ １１１１ １１１１ １１１１",
            PiiType::Card,
            "４１１１ １１１１ １１１１ １１１１",
        );
        one(
            "mail jane＠example.com",
            PiiType::Email,
            "jane＠example.com",
        );
        one(
            "IBAN DE89\u{200b}3704 0044 0532 0130 00",
            PiiType::Iban,
            "DE89\u{200b}3704 0044 0532 0130 00",
        );
    }

    #[test]
    fn many_countries_are_bounded_and_fail_closed() {
        let codes = [
            "1", "44", "49", "33", "34", "39", "31", "91", "55", "61", "81", "86",
        ];
        let text: Vec<String> = codes.iter().map(|c| format!("+{c} 000 000 000")).collect();
        let found = Redactor::default().find(&text.join(" x "));
        assert_eq!(
            found.len(),
            codes.len() - MAX_CALLING_CODES,
            "past the cap, replaced unchecked"
        );
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
