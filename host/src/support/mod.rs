//! The bottom layer: small helpers every other layer may use, which import
//! nothing of the crate above `support`: the clock, random ids, retry
//! backoff, error chains, fault-injection points (test builds), per-key
//! FIFO ordering, the Prometheus metric families, a span's W3C trace
//! context, returning freed heap to the system, whether a URL names this
//! machine.

pub mod backoff;
pub mod clock;
pub mod errors;
pub mod faults;
pub mod ids;
pub mod memory;
pub mod metrics;
pub mod ordering;
pub mod trace_context;
pub mod urls;
