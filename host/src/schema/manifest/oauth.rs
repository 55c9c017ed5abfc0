//! The manifest's `[oauth]` section: the OAuth connections (configured on
//! the bot's Azure Bot resource) whose user tokens the bot may ask the Bot
//! Framework Token Service for. A connection not listed is refused.

use serde::{Deserialize, Deserializer};

/// The longest connection name accepted.
const MAX_CONNECTION_NAME: usize = 256;

/// `[oauth]` as written in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSection {
    /// The connection names, e.g. `["graph", "github"]`.
    #[serde(default, deserialize_with = "connection_names")]
    pub connections: Vec<String>,
}

/// Names that are non-empty, without commas or control characters (the
/// Token Service's `include` lists them comma-separated), at most
/// [`MAX_CONNECTION_NAME`] bytes, and each listed once.
fn connection_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(serde::de::Error::custom("a connection name is empty"));
        }
        if name.len() > MAX_CONNECTION_NAME {
            return Err(serde::de::Error::custom(format!(
                "the connection name `{name}` is over {MAX_CONNECTION_NAME} bytes"
            )));
        }
        if name.contains(',') || name.chars().any(char::is_control) {
            return Err(serde::de::Error::custom(format!(
                "the connection name `{name}` holds a comma or a control character"
            )));
        }
        if names[..i].contains(name) {
            return Err(serde::de::Error::custom(format!(
                "the connection `{name}` is listed twice"
            )));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use crate::schema::manifest::Manifest;

    #[test]
    fn connections_parse_and_bad_names_are_refused() {
        let m = Manifest::parse("[oauth]\nconnections = [\"graph\", \"github\"]").unwrap();
        assert_eq!(m.oauth.connections, ["graph", "github"]);
        assert!(Manifest::parse("").unwrap().oauth.connections.is_empty());
        for bad in [
            "[oauth]\nconnections = [\"\"]",
            "[oauth]\nconnections = [\"a,b\"]",
            "[oauth]\nconnections = [\"a\", \"a\"]",
            "[oauth]\nconnection = [\"a\"]",
            "[oauth]\nconnections = \"a\"",
        ] {
            assert!(Manifest::parse(bad).is_err(), "{bad}");
        }
    }
}
