//! A WebDriver session on the testbed's headless Chromium.

use cutover_testbed::browser::Chromedriver;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

/// A runtime for the async WebDriver client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Browser `n` of `driver`.
pub async fn session(driver: &Chromedriver, n: usize) -> Client {
    ClientBuilder::new(HttpConnector::new())
        .capabilities(driver.capabilities(n))
        .connect(&driver.url())
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"))
}

/// Rendering time of the page now open: milliseconds from the start of navigation until its
/// layout is done (the script forces layout, then reads the clock), and how many
/// subresources it loaded.
pub async fn rendered_ms(c: &Client) -> (f64, u64) {
    let v = c
        .execute(
            "document.body.getBoundingClientRect(); return [performance.now(), performance.getEntriesByType('resource').length];",
            vec![],
        )
        .await
        .unwrap();
    (v[0].as_f64().unwrap(), v[1].as_u64().unwrap())
}
