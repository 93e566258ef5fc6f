//! The sending end of a sync (on the source host).

use super::SendOptions;
use crate::files::agent::{error, Out};
use crate::files::protocol::Reply;

/// Sends `root` to the receiver.
pub fn run(_root: &str, _o: &SendOptions, _out: &Out) -> Reply {
    error("sync is not available yet", "unsupported")
}
