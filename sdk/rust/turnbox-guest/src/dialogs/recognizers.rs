//! What the user meant: a choice from a list (by value, title or synonym,
//! case-insensitively, anywhere in the text; or by its number or ordinal),
//! a yes or a no, a number (see `number.rs`).

use super::choices::{Choice, FoundChoice};
pub use super::number::recognize_number;

/// Lower-case words of `text`.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The choice `utterance` names, if any (botbuilder's `recognizeChoices`).
pub fn recognize_choices(utterance: &str, choices: &[Choice], locale: &str) -> Option<FoundChoice> {
    let said = tokens(utterance);
    if said.is_empty() {
        return None;
    }
    // The best match of a choice's words within the utterance.
    let mut best: Option<FoundChoice> = None;
    for (index, choice) in choices.iter().enumerate() {
        let words = std::iter::once(&choice.value)
            .chain(choice.title.iter())
            .chain(choice.synonyms.iter());
        for word in words {
            let wanted = tokens(word);
            if wanted.is_empty() || wanted.len() > said.len() {
                continue;
            }
            if said.windows(wanted.len()).any(|w| w == wanted.as_slice()) {
                let score = wanted.len() as f64 / said.len() as f64;
                if best.as_ref().is_none_or(|b| score > b.score) {
                    best = Some(FoundChoice {
                        value: choice.value.clone(),
                        index,
                        score,
                        synonym: Some(word.clone()),
                    });
                }
            }
        }
    }
    if best.is_some() {
        return best;
    }
    // Else by position: "2", "two", "the second one".
    let position = ordinal(&said).or_else(|| {
        recognize_number(utterance, locale)
            .filter(|n| n.fract() == 0.0 && *n >= 1.0)
            .map(|n| n as usize)
    })?;
    let choice = choices.get(position.checked_sub(1)?)?;
    Some(FoundChoice {
        value: choice.value.clone(),
        index: position - 1,
        score: 1.0,
        synonym: Some(utterance.trim().to_owned()),
    })
}

/// An English ordinal among the words: "first" or "1st" is 1.
fn ordinal(words: &[String]) -> Option<usize> {
    const ORDINALS: [&str; 10] = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth",
    ];
    words.iter().find_map(|w| {
        if let Some(n) = ORDINALS.iter().position(|o| o == w) {
            return Some(n + 1);
        }
        let digits = w.trim_end_matches(|c: char| c.is_alphabetic());
        let suffix = &w[digits.len()..];
        if !digits.is_empty() && matches!(suffix, "st" | "nd" | "rd" | "th") {
            return digits.parse().ok();
        }
        None
    })
}

/// Yes or no in `text` (botbuilder's boolean recognizer, for en, de, fr,
/// es, nl, pt, it): the first word that says either.
pub fn recognize_boolean(text: &str, locale: &str) -> Option<bool> {
    let language = locale
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let (yes, no): (&[&str], &[&str]) = match language.as_str() {
        "de" => (
            &["ja", "jawohl", "genau", "richtig", "klar", "ok", "okay"],
            &["nein", "nee", "falsch", "nicht"],
        ),
        "fr" => (
            &["oui", "ouais", "ok", "d'accord", "vrai"],
            &["non", "faux", "pas"],
        ),
        "es" => (
            &["sí", "si", "claro", "vale", "ok", "verdadero"],
            &["no", "falso"],
        ),
        "nl" => (&["ja", "jazeker", "ok", "oké"], &["nee", "niet", "onwaar"]),
        "pt" => (&["sim", "claro", "ok"], &["não", "nao"]),
        "it" => (&["sì", "si", "certo", "ok"], &["no", "falso"]),
        _ => (
            &[
                "yes",
                "y",
                "yep",
                "yup",
                "yeah",
                "ya",
                "sure",
                "ok",
                "okay",
                "true",
                "correct",
                "right",
                "agree",
                "absolutely",
                "definitely",
                "affirmative",
            ],
            &[
                "no",
                "n",
                "nope",
                "nah",
                "not",
                "false",
                "wrong",
                "incorrect",
                "disagree",
                "negative",
            ],
        ),
    };
    if text.contains('👍') {
        return Some(true);
    }
    if text.contains('👎') {
        return Some(false);
    }
    tokens(text).iter().find_map(|t| {
        if yes.contains(&t.as_str()) {
            Some(true)
        } else if no.contains(&t.as_str()) {
            Some(false)
        } else {
            None
        }
    })
}
