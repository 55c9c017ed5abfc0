//! Turn processing without HTTP: whoever asks (a channel's request, Direct
//! Line, the admin API, a timer) gets a turn admitted, de-duplicated, run
//! through the middleware to a committed end, and its answer as data.

pub mod answer;
pub mod attempts;
pub mod dedup;
pub mod dispatch;
pub mod middleware;
pub mod scheduler;
pub mod services;
