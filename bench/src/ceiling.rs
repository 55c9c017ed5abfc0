//! The HTTP ceiling of this machine: a bare hyper HTTP/1.1 server on
//! loopback that reads each request's body and answers `{"id": …}` at
//! once, with no routing, no JSON parsing and no storage. `bench-suite`
//! loads it exactly as it loads turnbox, so the difference between the two
//! is what turnbox's own work costs.
//!
//!   target/release/bench-ceiling PORT

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .context("bench-ceiling PORT")?
        .parse()
        .context("PORT is a number")?;
    let _server = turnbox_bench::FastConnector::start_on(port).await?;
    std::future::pending::<()>().await;
    Ok(())
}
