//! Locale-aware number recognition for `NumberPrompt` and the choice
//! recognizer: the first number in a text, in digits with the locale's
//! group and decimal separators ("1,234.5" in en-US, "1.234,5" in de-DE,
//! "1 234,5" in fr-FR) or in English words ("one", "twenty-one",
//! "two hundred and five").

/// The first number in `text`, read in `locale`'s notation.
pub fn recognize_number(text: &str, locale: &str) -> Option<f64> {
    let (decimal, groups) = separators(locale);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let word_start = i == 0 || !chars[i - 1].is_alphanumeric();
        if c.is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphabetic()) {
            let (value, _) = parse_digits(&chars, i, decimal, groups)?;
            let negative =
                i > 0 && chars[i - 1] == '-' && (i == 1 || !chars[i - 2].is_alphanumeric());
            return Some(if negative { -value } else { value });
        }
        if c.is_alphabetic() && word_start {
            let end = (i..chars.len())
                .find(|&j| !chars[j].is_alphabetic())
                .unwrap_or(chars.len());
            if let Some(value) = parse_words(&chars[i..]) {
                return Some(value);
            }
            i = end;
            continue;
        }
        i += 1;
    }
    None
}

/// The decimal separator and the group separators of `locale`.
fn separators(locale: &str) -> (char, &'static [char]) {
    let language = locale
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match language.as_str() {
        "de" | "es" | "it" | "nl" | "pt" | "da" | "id" | "tr" | "el" | "ro" => (',', &['.']),
        "fr" | "ru" | "sv" | "nb" | "no" | "fi" | "pl" | "cs" | "uk" | "hu" | "sk" => {
            (',', &[' ', '\u{a0}', '\u{202f}'])
        }
        _ => ('.', &[',']),
    }
}

/// Digits from `start`: groups of three after a group separator, then an
/// optional decimal part. Returns the value and where it ends.
fn parse_digits(
    chars: &[char],
    start: usize,
    decimal: char,
    groups: &[char],
) -> Option<(f64, usize)> {
    let digit = |j: usize| chars.get(j).is_some_and(|c| c.is_ascii_digit());
    let mut number = String::new();
    let mut i = start;
    while digit(i) {
        number.push(chars[i]);
        i += 1;
    }
    // A group separator counts only before exactly three digits.
    while chars.get(i).is_some_and(|c| groups.contains(c))
        && (1..=3).all(|k| digit(i + k))
        && !digit(i + 4)
    {
        number.extend(&chars[i + 1..i + 4]);
        i += 4;
    }
    if chars.get(i) == Some(&decimal) && digit(i + 1) {
        number.push('.');
        i += 1;
        while digit(i) {
            number.push(chars[i]);
            i += 1;
        }
    }
    number.parse().ok().map(|v| (v, i))
}

fn unit(word: &str) -> Option<u64> {
    const UNITS: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(n) = UNITS.iter().position(|u| *u == word) {
        return Some(n as u64);
    }
    TENS.iter()
        .position(|t| *t == word)
        .map(|n| (n as u64 + 2) * 10)
}

/// English number words from the start of `chars`: "one", "twenty-one",
/// "three hundred and five", "two thousand".
fn parse_words(chars: &[char]) -> Option<f64> {
    let text: String = chars.iter().collect::<String>().to_lowercase();
    let mut total = 0u64;
    let mut current = 0u64;
    let mut any = false;
    for word in text.split(|c: char| c.is_whitespace() || c == '-') {
        let word = word.trim_matches(|c: char| !c.is_alphabetic());
        if word.is_empty() {
            continue;
        }
        if let Some(n) = unit(word) {
            current += n;
        } else if word == "hundred" && any {
            current = current.max(1) * 100;
        } else if word == "thousand" && any {
            total += current.max(1) * 1000;
            current = 0;
        } else if word == "and" && any {
            continue;
        } else {
            break;
        }
        any = true;
    }
    any.then_some((total + current) as f64)
}

#[cfg(test)]
mod tests {
    use super::recognize_number;

    #[test]
    fn reads_the_locales_notation() {
        assert_eq!(recognize_number("42", "en-US"), Some(42.0));
        assert_eq!(recognize_number("it is 1,234.5 now", "en-US"), Some(1234.5));
        assert_eq!(recognize_number("1.234,5", "de-DE"), Some(1234.5));
        assert_eq!(recognize_number("1 234,5", "fr-FR"), Some(1234.5));
        assert_eq!(recognize_number("-7", "en-US"), Some(-7.0));
        assert_eq!(recognize_number("One", "en-US"), Some(1.0));
        assert_eq!(recognize_number("twenty-one", "en-US"), Some(21.0));
        assert_eq!(
            recognize_number("two hundred and five", "en-US"),
            Some(205.0)
        );
        assert_eq!(recognize_number("hello", "en-US"), None);
        assert_eq!(recognize_number("orange", "en-US"), None);
    }
}
