//! What a server in a container rules out on the `redis.*` and `mysql.*` endpoints: their
//! agent is cutover's own binary and stays on the host (an image need not be able to run
//! it), so it reaches the server through the port the container publishes, else at the
//! container's own address. A field that says how to reach the server some other way
//! cannot be honoured beside `container`, and is refused at its place in the file.

use crate::problem::{Problem, Problems};
use crate::template::Template;

/// Refuses `field` (set to `value`) beside `container` on the endpoint of `owner`, saying
/// `why` it cannot be honoured.
pub(crate) fn refuse(
    owner: &str,
    field: &str,
    value: &Option<Template>,
    why: &str,
    p: &mut Problems,
) {
    if let Some(v) = value {
        p.push(
            Problem::new(
                v.span,
                format!("`{field}` of {owner} cannot be used with `container`: {why}"),
                "not with `container`",
            )
            .help(format!(
                "remove `{field}` (cutover reaches the server in the container through the port it publishes for `port`, else at the container's address), or remove `container` to reach the server at `{field}` yourself"
            )),
        );
    }
}
