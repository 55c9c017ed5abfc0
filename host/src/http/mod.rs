//! The HTTP face of the host: the server loop, the routes and their shared
//! state, the message endpoints, Direct Line, the skill-host endpoints,
//! the admin API, status and the chat page. Only this layer turns a turn's answer into a response.

pub mod admin;
pub mod app;
pub mod body;
pub mod chat_page;
pub mod conversations;
pub mod directline;
pub mod messages;
pub mod openapi;
pub mod openapi_paths;
pub mod routes;
pub mod server;
pub mod skills;
pub mod status;
pub mod trust;
