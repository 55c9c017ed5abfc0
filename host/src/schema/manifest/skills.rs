//! The manifest's `[skills.NAME]` tables: the other bots this bot may call
//! as skills (`skills.forward` in WIT), each with the app id its tokens are
//! for and the endpoint it is posted to. Only these endpoints are ever
//! called: a bot names a skill, never a URL.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::is_valid_name;

/// One skill as the manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    /// The skill's Microsoft App Id: the audience of the root's token, and
    /// the `appid`/`azp` its replies must come with.
    pub app_id: String,
    /// Where activities are posted, e.g. `https://skill.example/api/messages`.
    pub endpoint: Url,
}

/// The skills of a bot, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<String, RawSkill>")]
pub struct Skills(BTreeMap<String, Skill>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSkill {
    app_id: String,
    endpoint: String,
}

impl Skills {
    pub fn get(&self, name: &str) -> Option<&Skill> {
        self.0.get(name)
    }

    /// The declared skill whose app id is `app_id` (case-insensitive, as
    /// app ids are GUIDs), with its name.
    pub fn by_app_id(&self, app_id: &str) -> Option<(&str, &Skill)> {
        self.0
            .iter()
            .find(|(_, s)| s.app_id.eq_ignore_ascii_case(app_id))
            .map(|(n, s)| (n.as_str(), s))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<BTreeMap<String, RawSkill>> for Skills {
    type Error = String;

    fn try_from(raw: BTreeMap<String, RawSkill>) -> Result<Self, String> {
        let mut skills = BTreeMap::new();
        for (name, skill) in raw {
            if !is_valid_name(&name) {
                return Err(format!(
                    "`skills.{name}`: a skill's name is 1-64 letters, digits, `-` or `_`"
                ));
            }
            let app_id = skill.app_id.trim().to_owned();
            if app_id.is_empty() || app_id.len() > 128 || app_id.contains('/') {
                return Err(format!(
                    "`skills.{name}.app_id` must be the skill's Microsoft App Id"
                ));
            }
            let endpoint = parse_endpoint(&skill.endpoint)
                .map_err(|why| format!("`skills.{name}.endpoint`: {why}"))?;
            skills.insert(name, Skill { app_id, endpoint });
        }
        Ok(Skills(skills))
    }
}

/// An https URL with a host; plain http only to this machine (a token
/// rides on every call).
fn parse_endpoint(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if url.host().is_none() {
        return Err(format!("`{text}` has no host"));
    }
    let loopback = crate::support::urls::is_loopback(&url);
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "`{text}` must be https (plain http only to localhost): the call carries a token"
        )),
        _ => Err(format!("`{text}` is not an http(s) URL")),
    }
}

#[cfg(test)]
mod tests {
    use crate::schema::manifest::Manifest;

    #[test]
    fn skills_are_parsed_and_checked() {
        let m = Manifest::parse(
            r#"
[skills.echo]
app_id = "11111111-0000-4000-8000-000000000001"
endpoint = "https://skill.example/api/messages"

[skills.local]
app_id = "22222222-0000-4000-8000-000000000002"
endpoint = "http://127.0.0.1:3978/api/messages"
"#,
        )
        .unwrap();
        let echo = m.skills.get("echo").unwrap();
        assert_eq!(echo.endpoint.as_str(), "https://skill.example/api/messages");
        assert_eq!(
            m.skills
                .by_app_id("22222222-0000-4000-8000-000000000002")
                .map(|(n, _)| n),
            Some("local")
        );
        for bad in [
            "[skills.x]\napp_id = \"a\"\nendpoint = \"http://skill.example/api/messages\"",
            "[skills.x]\napp_id = \"\"\nendpoint = \"https://skill.example/\"",
            "[skills.x]\napp_id = \"a\"\nendpoint = \"ftp://skill.example/\"",
            "[skills.x]\napp_id = \"a\"\nendpoint = \"not a url\"",
            "[skills.x]\napp_id = \"a\"\nendpoint = \"https://s.example/\"\nextra = 1",
            "[skills.\"a b\"]\napp_id = \"a\"\nendpoint = \"https://s.example/\"",
        ] {
            let err = Manifest::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("skills") || err.contains("unknown field"),
                "{bad}: {err}"
            );
        }
    }
}
