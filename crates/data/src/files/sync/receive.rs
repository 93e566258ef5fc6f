//! The receiving end of a sync (on the target host).

use super::ReceiveOptions;
use crate::files::agent::{error, Out};
use crate::files::protocol::Reply;

/// Receives a sync stream into `root`.
pub fn run(
    _root: &str,
    _o: &ReceiveOptions,
    _input: &mut dyn std::io::BufRead,
    _out: &Out,
) -> Reply {
    error("sync is not available yet", "unsupported")
}
