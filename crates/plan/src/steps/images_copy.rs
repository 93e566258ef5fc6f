//! `kind = "images.copy"`: Docker images copied from one host's engine to another's by
//! cutover's agents, host to host like `files.sync`: only the layers the target lacks are
//! sent, read straight from the source's layer store when its storage allows it (else
//! from `docker save`), loaded with `docker load`, and verified by image id (the digest of
//! the image's configuration, which names every layer's digest).

use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::template::Template;
use crate::validate::StepCheck;
use std::time::Duration;

/// Copies `images` from host `from` to host `to`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ImagesCopyStep {
    /// The host whose engine has the images.
    pub from: Spanned<String>,
    /// The host whose engine gets them.
    pub to: Spanned<String>,
    /// The images, by reference (`shop/web:1.4`) or id; tags come along.
    pub images: Vec<Template>,
    /// The address the `from` host reaches the `to` host's agent at (default: the `to`
    /// host's `address`).
    pub address: Option<Template>,
    /// TCP port the receiving agent listens on (default: any free port).
    pub port: Option<u16>,
    /// Give up after this long (default "2h").
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// How long the connection between the hosts may carry nothing before the copy stops
    /// as stalled (default "60s").
    #[schemars(with = "Option<String>")]
    pub stall_timeout: Option<Duration>,
}

impl ImagesCopyStep {
    /// The fields an `images.copy` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "from",
        "to",
        "images",
        "address",
        "port",
        "timeout",
        "stall_timeout",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let from = f.required("from", p);
        let to = f.required("to", p);
        let images_span = f.value_span("images");
        let images: Option<Vec<Template>> = f.required("images", p);
        let address = f.optional("address", p);
        let port = f.int("port", &limits::PORT, p);
        let timeout = f.duration("timeout", &limits::STEP_TIMEOUT, p);
        let stall_timeout = f.duration("stall_timeout", &limits::REQUEST_TIMEOUT, p);
        if let (Some(list), Some(span)) = (&images, images_span) {
            if list.is_empty() {
                p.push(
                    Problem::new(
                        span,
                        format!("`images` of {} is empty", f.owner()),
                        "no image",
                    )
                    .help("name at least one image, e.g. `images = [\"shop/web:1.4\"]`"),
                );
                return None;
            }
        }
        Some(ImagesCopyStep {
            from: from?,
            to: to?,
            images: images?,
            address,
            port,
            timeout,
            stall_timeout,
        })
    }
}

/// Cross-reference checks: hosts exist and differ; images and address hold no secret.
impl Validate for ImagesCopyStep {
    fn validate(&self, check: &StepCheck<'_>, p: &mut Problems) {
        check.host(&self.from, p);
        check.host(&self.to, p);
        if self.from.value == self.to.value {
            p.push(
                Problem::new(
                    self.to.span,
                    format!(
                        "{} copies images from `{}` to itself",
                        check.owner, self.to.value
                    ),
                    "same host",
                )
                .help("`from` and `to` must be two hosts"),
            );
        }
        for i in &self.images {
            check.command("images", i, p);
        }
        if let Some(a) = &self.address {
            check.command("address", a, p);
        }
    }
}
