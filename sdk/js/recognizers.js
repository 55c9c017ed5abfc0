// turnbox guest SDK for JavaScript: the text recognizers behind the
// prompts — numbers (locale-aware), yes/no, and a practical subset of dates
// and times. botbuilder uses Microsoft.Recognizers.Text for these; this is
// a small, dependency-free stand-in, documented in docs/LANGUAGES.md
// ("Dialogs"), with what it does not recognise.

/** The language part of a locale, lower case: 'de-DE' → 'de'. */
export function language(locale) {
  return String(locale ?? 'en-us').toLowerCase().split(/[-_]/)[0] || 'en';
}

// Languages whose decimal mark is a comma (and whose thousands separator
// is a dot, a space or an apostrophe).
const DECIMAL_COMMA = new Set([
  'de', 'fr', 'es', 'it', 'nl', 'pt', 'ru', 'pl', 'sv', 'da', 'nb', 'no', 'fi', 'tr', 'cs', 'id', 'uk', 'ro', 'hu',
]);

const SPACES = '\\s\\u00a0\\u202f';
const NUMBER_DOT = new RegExp(`(^|[^\\d.,])([-+\\u2212]?)(\\d{1,3}(?:,\\d{3})+|\\d+)(?:\\.(\\d+))?(?![\\d])`);
const NUMBER_COMMA = new RegExp(
  `(^|[^\\d.,])([-+\\u2212]?)(\\d{1,3}(?:[.'${SPACES}]\\d{3})+|\\d+)(?:,(\\d+))?(?![\\d])`,
);

const UNITS = [
  'zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven',
  'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen',
];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
const WORD_VALUES = new Map([
  ...UNITS.map((w, i) => [w, i]),
  ...TENS.map((w, i) => [w, i * 10]).filter(([w]) => w),
]);
const SCALES = new Map([['hundred', 100], ['thousand', 1000], ['million', 1e6]]);

/** English number words ("forty-two", "one hundred and five") in `text`:
 * the first run of them, or undefined. */
function englishWords(text) {
  const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
  let total = 0;
  let current = 0;
  let seen = false;
  for (const word of words) {
    if (WORD_VALUES.has(word)) {
      current += WORD_VALUES.get(word);
      seen = true;
    } else if (seen && SCALES.has(word)) {
      const scale = SCALES.get(word);
      if (scale === 100) current = (current || 1) * 100;
      else {
        total += (current || 1) * scale;
        current = 0;
      }
    } else if (seen && word === 'and') {
      continue;
    } else if (seen) {
      break;
    }
  }
  return seen ? total + current : undefined;
}

/** The first number in `text`, read the way `locale` writes numbers:
 * "1,234.5" in en-US, "1.234,5" or "1 234,5" in de-DE and fr-FR; in
 * English also number words ("forty-two"). Undefined when there is none. */
export function recognizeNumber(text, locale) {
  const input = String(text ?? '');
  const lang = language(locale);
  const comma = DECIMAL_COMMA.has(lang);
  const match = (comma ? NUMBER_COMMA : NUMBER_DOT).exec(input);
  if (match) {
    const whole = match[3].replace(/[^\d]/g, '');
    const value = Number(`${whole}${match[4] ? `.${match[4]}` : ''}`);
    return match[2] === '-' || match[2] === '\u2212' ? -value : value;
  }
  return lang === 'en' ? englishWords(input) : undefined;
}

// Yes and no, per language: whole words or phrases.
const BOOLEANS = {
  en: [['yes', 'y', 'yeah', 'yep', 'yup', 'sure', 'ok', 'okay', 'of course', 'certainly', 'absolutely', 'true', 'correct', 'affirmative'],
    ['no', 'n', 'nope', 'nah', 'not', 'false', 'negative', 'never', 'no way']],
  de: [['ja', 'jawohl', 'klar', 'sicher', 'ok', 'okay', 'genau', 'richtig'], ['nein', 'ne', 'nee', 'nicht', 'falsch']],
  fr: [['oui', 'ouais', "d'accord", 'ok', 'bien sûr', 'vrai'], ['non', 'pas', 'faux']],
  es: [['sí', 'si', 'claro', 'vale', 'ok', 'verdadero'], ['no', 'falso', 'nunca']],
  pt: [['sim', 'claro', 'ok', 'verdadeiro'], ['não', 'nao', 'falso']],
  it: [['sì', 'si', 'certo', 'ok', 'vero'], ['no', 'falso']],
  nl: [['ja', 'zeker', 'oké', 'ok', 'waar'], ['nee', 'niet', 'onwaar']],
};

/** The default Yes/No choice labels of a ConfirmPrompt, per language. */
export const CONFIRM_CHOICES = {
  en: ['Yes', 'No'], de: ['Ja', 'Nein'], fr: ['Oui', 'Non'], es: ['Sí', 'No'],
  pt: ['Sim', 'Não'], it: ['Sì', 'No'], nl: ['Ja', 'Nee'],
};

// A character between words (componentize-js's engine has no Unicode
// property escapes, so words are what lies between these).
const BREAK = '[\\s.,;:!?¿¡"()\\[\\]{}<>/*&^%$#@~|+=_\\u2013\\u2014-]';

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** true for a yes, false for a no, undefined for neither: the earliest
 * yes or no word in `text` in the locale's language (English as a
 * fallback). */
export function recognizeBoolean(text, locale) {
  const input = String(text ?? '').toLowerCase();
  const [yes, no] = BOOLEANS[language(locale)] ?? BOOLEANS.en;
  let best;
  for (const [words, value] of [[yes, true], [no, false]]) {
    for (const word of words) {
      const m = new RegExp(`(^|${BREAK})${escape(word)}(?=$|${BREAK})`).exec(input);
      if (m && (!best || m.index < best.index || (m.index === best.index && word.length > best.length))) {
        best = { index: m.index, length: word.length, value };
      }
    }
  }
  return best?.value;
}

const MONTHS = [
  'january', 'february', 'march', 'april', 'may', 'june',
  'july', 'august', 'september', 'october', 'november', 'december',
];
const MONTH = `(${MONTHS.map((m) => `${m.slice(0, 3)}(?:${m.slice(3)})?`).join('|')})\\.?`;
const DAY = '(\\d{1,2})(?:st|nd|rd|th)?';
const YEAR = '(\\d{4})';
const TIME = '(?:\\s*(?:at|@)?\\s*(\\d{1,2})(?::(\\d{2}))?\\s*(am|pm|a\\.m\\.|p\\.m\\.)?)?';

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** Whether year-month-day is a real calendar date. */
function isRealDate(year, month, day) {
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

/** The reference day: `{year, month, day}` from an ISO timestamp's own
 * date (the user's local date, when it is the activity's localTimestamp),
 * or today (UTC). */
function referenceDay(reference) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(reference ?? ''));
  if (m) return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  const now = new Date();
  return { year: now.getUTCFullYear(), month: now.getUTCMonth() + 1, day: now.getUTCDate() };
}

function addDays({ year, month, day }, days) {
  const d = new Date(Date.UTC(year, month - 1, day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** A time of day from the matched hour, minutes and am/pm; undefined when
 * there is none or it is not a time. */
function timeOf(hourText, minuteText, meridiem, hadAt) {
  if (hourText === undefined || (!meridiem && minuteText === undefined && !hadAt)) return undefined;
  let hour = Number(hourText);
  const minute = minuteText === undefined ? 0 : Number(minuteText);
  if (minute > 59 || hour > 23 || (meridiem && (hour < 1 || hour > 12))) return undefined;
  const pm = meridiem?.startsWith('p');
  if (meridiem) hour = (hour % 12) + (pm ? 12 : 0);
  return { hour, minute, minuteGiven: minuteText !== undefined };
}

/** A resolution in botbuilder's shape: `{timex, value}` with `value`
 * 'YYYY-MM-DD' or 'YYYY-MM-DD HH:mm:ss', or 'not resolved' for a date that
 * is not in the calendar (31 February). */
function resolution({ year, month, day }, time) {
  const date = `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
  const real = isRealDate(year, month, day);
  if (!time) return { timex: date, value: real ? date : 'not resolved' };
  const timex = `${date}T${pad(time.hour)}${time.minuteGiven && time.minute ? `:${pad(time.minute)}` : ''}`;
  const value = real ? `${date} ${pad(time.hour)}:${pad(time.minute)}:00` : 'not resolved';
  return { timex, value };
}

/** The dates (and times) in `text`: a list of `{timex, value}` (empty when
 * there is none). Recognised (English): ISO dates and date-times
 * ("2018-12-05", "2018-12-05T09:30"); "today", "tomorrow", "yesterday";
 * month-name dates ("5th December 2018", "December 5, 2018", "5 Dec",
 * "Dec 5th"; without a year, the reference year); each optionally with a
 * time ("at 9am", "9:30 pm", "at 14:00"). `reference` is the ISO
 * timestamp "today" means (the activity's localTimestamp). */
export function recognizeDateTime(text, reference) {
  const input = String(text ?? '').toLowerCase().trim();
  const today = referenceDay(reference);
  let m = /(\d{4})-(\d{2})-(\d{2})(?:[t\s](\d{2}):(\d{2})(?::\d{2})?)?/.exec(input);
  if (m) {
    const day = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
    const time = m[4] === undefined ? undefined : timeOf(m[4], m[5], undefined, true);
    return [resolution(day, time)];
  }
  const relative = { today: 0, tomorrow: 1, yesterday: -1 };
  m = new RegExp(`\\b(today|tomorrow|yesterday)\\b${TIME}`).exec(input);
  if (m) return [resolution(addDays(today, relative[m[1]]), timeOf(m[2], m[3], m[4], /\bat\b|@/.test(m[0])))];
  const monthIndex = (name) => MONTHS.findIndex((full) => full.startsWith(name.replace('.', '').slice(0, 3))) + 1;
  m = new RegExp(`\\b${DAY}\\s+(?:of\\s+)?${MONTH}(?:,?\\s+${YEAR})?\\b${TIME}`).exec(input);
  if (m) {
    const day = { year: m[3] ? Number(m[3]) : today.year, month: monthIndex(m[2]), day: Number(m[1]) };
    return [resolution(day, timeOf(m[4], m[5], m[6], /\bat\b|@/.test(m[0])))];
  }
  m = new RegExp(`\\b${MONTH}\\s+${DAY}(?:,?\\s+${YEAR})?\\b${TIME}`).exec(input);
  if (m) {
    const day = { year: m[3] ? Number(m[3]) : today.year, month: monthIndex(m[1]), day: Number(m[2]) };
    return [resolution(day, timeOf(m[4], m[5], m[6], /\bat\b|@/.test(m[0])))];
  }
  return [];
}
