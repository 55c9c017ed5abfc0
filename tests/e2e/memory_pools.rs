//! The two memory pools (`runtime/engine.rs`): bots whose memory image is
//! large (the JavaScript and Python runtimes) take their instances from the
//! large-image pool, whose freed slots are reset by copying the image back;
//! small ones (Rust) from the standard pool. Either way a fresh instance
//! keeps nothing from the turn before, and a pooled one keeps its memory.

use axum::http::StatusCode;

use crate::support::*;

/// `instance` asked `n` times in a row of `route`.
async fn instance_answers(host: &Host, route: &str, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let (status, text) = host.ask(route, "instance").await;
        assert_eq!(status, StatusCode::OK, "{route}: {}", host.log());
        seen.push(text.unwrap_or_default());
    }
    seen
}

#[tokio::test]
async fn large_images_get_their_own_pool_and_fresh_instances_still_keep_nothing() {
    let examples = [
        ("rust", "rust-echo", "standard"),
        ("js", "js-echo", "large-image"),
        ("py", "python-echo", "large-image"),
    ];
    let names: Vec<(String, &str)> = examples
        .iter()
        .flat_map(|(lang, guest, _)| {
            [
                (lang.to_string(), *guest),
                (format!("{lang}-pooled"), *guest),
            ]
        })
        .collect();
    let bots = BotsDir::with(
        &names
            .iter()
            .map(|(name, guest)| (name.as_str(), *guest))
            .collect::<Vec<_>>(),
    );
    for (lang, _, _) in examples {
        std::fs::write(
            bots.path().join(format!("{lang}-pooled.toml")),
            "[instances]\npolicy = \"pooled\"\npool_size = 1\n",
        )
        .expect("write manifest");
    }
    let host = Host::start(bots, &[]);

    for (lang, _, pool) in examples {
        let status = host.bot_status(lang).await.expect("status");
        assert_eq!(status["instances"]["memoryPool"], pool, "{status}");
        let status = host
            .bot_status(&format!("{lang}-pooled"))
            .await
            .expect("status");
        assert_eq!(status["instances"]["memoryPool"], pool, "{status}");

        // A fresh instance per turn: the slot is reused, its memory reset.
        assert_eq!(
            instance_answers(&host, lang, 3).await,
            ["Instance: 1", "Instance: 1", "Instance: 1"],
            "{lang}"
        );
        // One warm instance: its memory carries over.
        assert_eq!(
            instance_answers(&host, &format!("{lang}-pooled"), 3).await,
            ["Instance: 1", "Instance: 2", "Instance: 3"],
            "{lang}-pooled"
        );
    }
    host.assert_no_panic();
}
