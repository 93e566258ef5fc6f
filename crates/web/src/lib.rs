//! A run seen in a browser: `cutover report --format html` (one self-contained file: inline
//! CSS, SVG charts drawn here, no script, no network) and the pieces the live dashboard
//! shares with it. Every value comes from the journal and is escaped by the templates
//! (maud) and shown with hidden characters made visible.

#![deny(missing_docs)]

pub mod dashboard;
pub mod report;
pub mod svg;

/// Text from the journal for a page: control and bidirectional characters as visible
/// escapes (HTML escaping is the templates' job).
pub fn shown(text: &str) -> String {
    cutover_engine::text::printable(text).into_owned()
}
