//! The web views of a run: the HTML report of a synthesised large run (size, escaping, the
//! JSON report's figures) and, in a real headless Chromium, a lab run's report and the live
//! dashboard.

mod chromium;
mod synth;
mod web {
    pub mod report;
}
