//! The commands besides `serve`: replaying a transcript (`replay`, over
//! `offline`, one bot without a server), `turnbox chat` (`terminal_chat`)
//! and `turnbox new` (`scaffold`).

pub mod offline;
pub mod replay;
pub mod scaffold;
pub mod terminal_chat;
