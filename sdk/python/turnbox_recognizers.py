"""What a user's words mean: the recognisers behind turnbox's prompts
(numbers by locale, choices, yes/no, dates). Plain Python with no host
calls, so they are unit-tested on CPython (tests/python/test_recognizers.py).

A practical subset of Microsoft.Recognizers.Text, which botbuilder uses:

- numbers: digits with the locale's separators ("1,234.5" in en-US,
  "1.234,5" in de-DE, "1 234,5" in fr-FR), a sign, and English number
  words up to the hundreds ("one", "twenty-one", "a hundred and five");
- choices: by position ("2", "second"), by value or synonym, whole words,
  case-insensitive;
- yes/no in English, German, French, Spanish, Dutch, Portuguese, Italian;
- dates: see `recognize_datetime`.
"""

import datetime
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

_COMMA_DECIMAL = {"de", "fr", "es", "it", "nl", "pt", "ru", "pl", "sv", "da", "nb", "no",
                  "fi", "tr", "cs", "sk", "hu", "ro", "id", "uk", "el", "bg", "hr", "sl"}


def _language(locale: Optional[str]) -> str:
    return (locale or "en-us").replace("_", "-").split("-")[0].lower()


def decimal_separator(locale: Optional[str]) -> str:
    """The decimal separator of `locale` ("," in de-DE, "." in en-US)."""
    return "," if _language(locale) in _COMMA_DECIMAL else "."


_UNITS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * n for n, w in enumerate(
    "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}


def _words_number(tokens: Sequence[str]) -> Optional[Tuple[int, int]]:
    """An English number spelled out at the start of `tokens`: (value,
    tokens used), or None."""
    total, current, used, seen = 0, 0, 0, False
    for i, token in enumerate(tokens):
        if token in _UNITS:
            current += _UNITS[token]
        elif token in _TENS:
            current += _TENS[token]
        elif token == "hundred":
            current = max(current, 1) * 100
        elif token == "thousand":
            total += max(current, 1) * 1000
            current = 0
        elif token in ("a", "and") and i + 1 < len(tokens) and (
                tokens[i + 1] in ("hundred", "thousand") or (token == "and" and seen)):
            continue
        else:
            break
        seen, used = True, i + 1
    return (total + current, used) if seen else None


def recognize_number(text: str, locale: Optional[str] = None) -> Optional[float]:
    """The first number in `text` under `locale`'s separators, or None.
    Whole numbers ("42,0" in de-DE too) come back as int."""
    decimal = decimal_separator(locale)
    group = "." if decimal == "," else ","
    digits = re.compile(
        r"(?<![\w.,])([-+\u2212]?)(\d{1,3}(?:[" + re.escape(group) + r"\u00a0\u202f ']\d{3})+|\d+)"
        r"(?:" + re.escape(decimal) + r"(\d+))?(?![\w]|[.,]\d)")
    match = digits.search(text or "")
    words = re.findall(r"[a-z]+", (text or "").lower().replace("-", " "))
    spelled = None
    for start in range(len(words)):
        spelled = _words_number(words[start:])
        if spelled:
            break
    if match:
        whole = re.sub(r"[^\d]", "", match.group(2))
        value: float = int(whole)
        if match.group(3):
            value = float(f"{whole}.{match.group(3)}")
            value = int(value) if value.is_integer() else value
        return -value if match.group(1) in ("-", "\u2212") else value
    return spelled[0] if spelled else None


@dataclass
class FoundChoice:
    """A recognised choice: its `value`, `index` among the choices, and
    `score` (1.0 for an exact match)."""

    value: str
    index: int
    score: float = 1.0
    synonym: Optional[str] = None


_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth"]


def _tokens(text: str) -> List[str]:
    return re.findall(r"\w+", (text or "").casefold())


def _contains(haystack: List[str], needle: List[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def recognize_choice(text: str, choices: Sequence[str],
                     synonyms: Optional[Sequence[Sequence[str]]] = None) -> Optional[FoundChoice]:
    """Which of `choices` `text` names: its position ("2", "the second"),
    its value or one of its `synonyms` as whole words, ignoring case. The
    longest match wins; None when nothing matches."""
    utterance = _tokens(text)
    if not utterance:
        return None
    stripped = (text or "").strip().rstrip(".")
    if stripped.isdigit() and 1 <= int(stripped) <= len(choices):
        index = int(stripped) - 1
        return FoundChoice(choices[index], index)
    best: Optional[FoundChoice] = None
    best_len = 0
    for index, value in enumerate(choices):
        names = [value] + list((synonyms[index] if synonyms and index < len(synonyms) else []) or [])
        for name in names:
            tokens = _tokens(name)
            if tokens == utterance:
                return FoundChoice(value, index, 1.0, name if name != value else None)
            if _contains(utterance, tokens) and len(tokens) > best_len:
                best_len = len(tokens)
                best = FoundChoice(value, index, len(tokens) / len(utterance),
                                   name if name != value else None)
    if best:
        return best
    for index, ordinal in enumerate(_ORDINALS[:len(choices)]):
        if ordinal in utterance:
            return FoundChoice(choices[index], index, 0.5)
    return None


CONFIRM_CHOICES: Dict[str, Tuple[str, str]] = {
    "en": ("Yes", "No"), "de": ("Ja", "Nein"), "fr": ("Oui", "Non"), "es": ("Sí", "No"),
    "nl": ("Ja", "Nee"), "pt": ("Sim", "Não"), "it": ("Sì", "No"),
}
"""The Yes/No choices ConfirmPrompt offers, by language."""

_YES_NO: Dict[str, Tuple[List[str], List[str]]] = {
    "en": (["yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "true", "correct", "right"],
           ["no", "n", "nope", "nah", "false", "wrong", "not"]),
    "de": (["ja", "j", "jawohl", "klar", "genau", "richtig", "ok"], ["nein", "n", "nee", "falsch", "nicht"]),
    "fr": (["oui", "o", "ouais", "d'accord", "ok", "vrai"], ["non", "n", "faux", "pas"]),
    "es": (["sí", "si", "s", "claro", "vale", "ok", "correcto"], ["no", "n", "falso"]),
    "nl": (["ja", "j", "jawel", "ok", "goed"], ["nee", "n", "neen", "niet"]),
    "pt": (["sim", "s", "claro", "ok", "certo"], ["não", "nao", "n", "errado"]),
    "it": (["sì", "si", "s", "certo", "ok", "vero"], ["no", "n", "falso"]),
}


def recognize_boolean(text: str, locale: Optional[str] = None) -> Optional[bool]:
    """True for yes, False for no (English words always count too), None
    when `text` says neither or both."""
    words = set(re.findall(r"[\w']+", (text or "").casefold()))
    yes_words, no_words = set(_YES_NO["en"][0]), set(_YES_NO["en"][1])
    language = _language(locale)
    if language in _YES_NO and language != "en":
        yes_words |= set(_YES_NO[language][0])
        no_words |= set(_YES_NO[language][1])
    yes, no = bool(words & yes_words), bool(words & no_words)
    return None if yes == no else yes


@dataclass
class DateTimeResolution:
    """A recognised date (and time): `timex` as TIMEX3 ("2018-12-05T09",
    "XXXX-12-05"), `value` as "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS", or
    "not resolved" when the date does not exist (31 February)."""

    timex: str
    value: str


_MONTHS = {name: n for n, names in enumerate([
    (), ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
    ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
    ("october", "oct"), ("november", "nov"), ("december", "dec")]) for name in names}
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_TIME = re.compile(r"\b(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)|\bat\s+(\d{1,2}):(\d{2})\b"
                   r"|\b(\d{1,2}):(\d{2})\b|\b(noon|midday|midnight)\b")


def _time_of(text: str) -> Optional[Tuple[int, Optional[int]]]:
    """(hour 0-23, minute or None) said in `text`, or None."""
    m = _TIME.search(text)
    if not m:
        return None
    if m.group(8):
        return (0, None) if m.group(8) == "midnight" else (12, None)
    if m.group(1):
        hour, minute = int(m.group(1)), int(m.group(2)) if m.group(2) else None
        if not 1 <= hour <= 12:
            return None
        pm = m.group(3).startswith("p")
        return (hour % 12 + (12 if pm else 0), minute)
    hour, minute = (int(m.group(4)), int(m.group(5))) if m.group(4) else (int(m.group(6)), int(m.group(7)))
    return (hour, minute) if hour < 24 and minute < 60 else None


def _resolve(year: Optional[int], month: int, day: int, time: Optional[Tuple[int, Optional[int]]],
             today: datetime.date) -> DateTimeResolution:
    timex = f"{year:04d}-{month:02d}-{day:02d}" if year else f"XXXX-{month:02d}-{day:02d}"
    if time:
        timex += f"T{time[0]:02d}" + (f":{time[1]:02d}" if time[1] is not None else "")
    try:
        date = datetime.date(year or today.year, month, day)
        if not year and date < today:
            date = date.replace(year=today.year + 1)
    except ValueError:
        return DateTimeResolution(timex, "not resolved")
    value = date.isoformat()
    if time:
        value += f" {time[0]:02d}:{time[1] or 0:02d}:00"
    return DateTimeResolution(timex, value)


def recognize_datetime(text: str, today: Optional[datetime.date] = None) -> List[DateTimeResolution]:
    """The date in `text`, relative to `today` (default: the system's), as a
    list of resolutions (empty when there is none). Recognised: ISO dates
    ("2018-12-05", "2018-12-05T09:30"), "today", "tomorrow", "yesterday",
    month-name dates ("5th December 2018", "December 5, 2018", "Dec 5")
    and, with any of these, a time ("at 9am", "9:30 pm", "14:00", "noon").
    A month-name date without a year is its next occurrence. Not
    recognised: weekdays ("Wednesday"), numeric dates other than ISO
    ("12/05/2018", ambiguous across locales), relative phrases ("next
    week", "in 3 days"), ranges, durations, and times alone."""
    today = today or datetime.date.today()
    said = (text or "").casefold()
    iso = re.search(r"\b(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{2}):(\d{2}))?", said)
    if iso:
        time = (int(iso.group(4)), int(iso.group(5))) if iso.group(4) else _time_of(said[iso.end():])
        return [_resolve(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)), time, today)]
    for pattern, order in ((_DAY + r"\s+(?:of\s+)?" + _MONTH + r"(?:,?\s+(\d{4}))?", "dmy"),
                           (_MONTH + r"\s+" + _DAY + r"(?:,?\s+(\d{4}))?", "mdy")):
        m = re.search(r"\b" + pattern + r"\b", said)
        if m:
            day, month = (m.group(1), m.group(2)) if order == "dmy" else (m.group(2), m.group(1))
            year = int(m.group(3)) if m.group(3) else None
            return [_resolve(year, _MONTHS[month], int(day), _time_of(said[m.end():]), today)]
    relative = re.search(r"\b(today|tomorrow|yesterday)\b", said)
    if relative:
        date = today + datetime.timedelta(days={"today": 0, "tomorrow": 1, "yesterday": -1}[relative.group(1)])
        time = _time_of(said)
        return [_resolve(date.year, date.month, date.day, time, today)]
    return []
