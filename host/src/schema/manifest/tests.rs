//! Unit tests of the manifest format.

use super::*;

#[test]
fn a_full_manifest_parses() {
    let m = Manifest::parse(
        r#"
route = "support"

[limits]
memory_mib = 32
turn_deadline_ms = 2000
fuel = 1000000
max_concurrent_turns = 4
max_activities_per_turn = 10

[credentials]
MicrosoftAppId = "00000000-0000-0000-0000-000000000001"
MicrosoftAppPassword = "hunter2"
MicrosoftAppTenantId = "tenant"
MicrosoftAppType = "SingleTenant"

[config]
greeting = "hello"
"#,
    )
    .unwrap();
    assert_eq!(m.route.as_deref(), Some("support"));
    let limits = m.limits(&BotDefaults::default());
    assert_eq!(limits.memory_mib, 32);
    assert_eq!(limits.fuel, Some(1_000_000));
    assert_eq!(m.credentials.app_type, Some(AppType::SingleTenant));
    assert_eq!(m.config["greeting"].expose(), "hello");
    let shown = format!("{m:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("hello"),
        "{shown}"
    );
}

#[test]
fn defaults_fill_what_is_unset() {
    let defaults = BotDefaults::default();
    let limits = Manifest::parse("").unwrap().limits(&defaults);
    assert_eq!(limits.memory_mib, 64);
    assert_eq!(limits.turn_deadline_ms, 10_000);
    assert_eq!(limits.fuel, None);
}

#[test]
fn errors_name_the_line_and_key() {
    let err = Manifest::parse("route = \"a\"\n[limits]\nmemory_mb = 3\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("line 3:") && err.contains("memory_mb"),
        "{err}"
    );
    let err = Manifest::parse("[limits]\n\nmemory_mib = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("line 3:") && err.contains("limits.memory_mib"),
        "{err}"
    );
    let err = Manifest::parse("route = \"../x\"").unwrap_err().to_string();
    assert!(err.starts_with("line 1:") && err.contains("route"), "{err}");
    let err = Manifest::parse("[credentials]\nMicrosoftAppType = \"Other\"")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("line 2:"), "{err}");
    assert!(Manifest::parse("[config]\nx = 1").is_err());
    assert!(Manifest::parse("nonsense").is_err());
}

#[test]
fn the_instance_policy_defaults_to_fresh_and_checks_pool_settings() {
    let fresh = Manifest::parse("").unwrap();
    assert_eq!(fresh.instance_policy(), Ok(InstancePolicy::Fresh));
    let pooled = Manifest::parse("[instances]\npolicy = \"pooled\"\nmax_turns = 50\n").unwrap();
    assert_eq!(
        pooled.instance_policy(),
        Ok(InstancePolicy::Pooled {
            pool_size: DEFAULT_POOL_SIZE,
            max_turns: 50
        })
    );
    let err = Manifest::parse("[instances]\npool_size = 2\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("policy = \"pooled\""), "{err}");
    let err = Manifest::parse("[instances]\npolicy = \"pooled\"\npool_size = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("line 3:") && err.contains("instances.pool_size"),
        "{err}"
    );
    assert!(Manifest::parse("[instances]\npolicy = \"warm\"\n").is_err());
}

#[test]
fn api_keys_are_secrets_of_a_useful_length() {
    let m = Manifest::parse("[api]\nkeys = [\"0123456789abcdef\"]\n").unwrap();
    assert_eq!(m.api.keys[0].expose(), "0123456789abcdef");
    assert!(!format!("{m:?}").contains("0123456789abcdef"));
    let err = Manifest::parse("[api]\nkeys = [\"short\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("api.keys"), "{err}");
    assert!(Manifest::parse("[api]\nkey = []\n").is_err());
}
