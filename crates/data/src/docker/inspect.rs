//! Reading what `docker inspect` says about containers and images into typed values. Only
//! the fields cutover uses are read; the rest of Docker's JSON is ignored, so newer engines
//! that add fields still parse.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A container, as cutover needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Its name (without Docker's leading `/`).
    pub name: String,
    /// Its compose service, if compose made it.
    pub service: Option<String>,
    /// The image as the configuration names it (`shop/web:1.4`, or an id when pinned).
    pub image: String,
    /// The image's id (`sha256:...`): what actually runs.
    pub image_id: String,
    /// `running`, `exited`, `created`...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `None` without a healthcheck.
    pub health: Option<String>,
    /// The exit code of a stopped container.
    pub exit_code: i64,
    /// Published ports: (`8080/tcp`, host port).
    pub ports: Vec<(String, u16)>,
}

impl Container {
    /// True when it runs and, with a healthcheck, is healthy.
    pub fn ready(&self) -> bool {
        self.state == "running" && self.health.as_deref().is_none_or(|h| h == "healthy")
    }

    /// Its condition in words: `running (healthy)`, `exited (1)`...
    pub fn condition(&self) -> String {
        match (&self.health, self.state.as_str()) {
            (_, "exited") => format!("exited ({})", self.exit_code),
            (Some(h), s) => format!("{s} ({h})"),
            (None, s) => s.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainer {
    name: String,
    image: String,
    config: RawConfig,
    state: RawState,
    #[serde(default)]
    network_settings: Option<RawNetwork>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    image: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    status: String,
    #[serde(default)]
    exit_code: i64,
    #[serde(default)]
    health: Option<RawHealth>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawHealth {
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetwork {
    #[serde(default)]
    ports: Option<BTreeMap<String, Option<Vec<RawBinding>>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawBinding {
    host_port: String,
}

/// Parses `docker inspect` output for containers (empty output: none).
pub fn containers(json: &str) -> Result<Vec<Container>, String> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<RawContainer> = serde_json::from_str(json)
        .map_err(|e| format!("unexpected `docker inspect` output: {e}"))?;
    let mut out: Vec<Container> = raw
        .into_iter()
        .map(|r| {
            let service = r
                .config
                .labels
                .as_ref()
                .and_then(|l| l.get("com.docker.compose.service").cloned());
            let mut ports = Vec::new();
            if let Some(map) = r.network_settings.and_then(|n| n.ports) {
                for (inner, bindings) in map {
                    for b in bindings.unwrap_or_default() {
                        if let Ok(p) = b.host_port.parse::<u16>() {
                            if !ports.contains(&(inner.clone(), p)) {
                                ports.push((inner.clone(), p));
                            }
                        }
                    }
                }
            }
            Container {
                name: r.name.trim_start_matches('/').to_string(),
                service,
                image: r.config.image,
                image_id: r.image,
                state: r.state.status,
                health: r.state.health.map(|h| h.status),
                exit_code: r.state.exit_code,
                ports,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// An image, as cutover needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Its id (`sha256:...`: the digest of its configuration, which names every layer).
    pub id: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its layers' digests (uncompressed, the "diff ids"), bottom first.
    pub layers: Vec<String>,
    /// Its size in bytes.
    pub size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawImage {
    id: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "RootFS")]
    root_fs: RawRootFs,
    #[serde(default)]
    size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRootFs {
    #[serde(default)]
    layers: Option<Vec<String>>,
}

/// Parses `docker image inspect` output.
pub fn images(json: &str) -> Result<Vec<Image>, String> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<RawImage> = serde_json::from_str(json)
        .map_err(|e| format!("unexpected `docker image inspect` output: {e}"))?;
    Ok(raw
        .into_iter()
        .map(|r| Image {
            id: r.id,
            tags: r.repo_tags.unwrap_or_default(),
            layers: r.root_fs.layers.unwrap_or_default(),
            size: r.size,
        })
        .collect())
}

/// `sha256:3d3124bd27bd`: an id shortened for people (full ids stay in the journal).
pub fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_containers_of_a_project() {
        let json = r#"[{"Id":"8c70","Name":"/shop-web-1","Image":"sha256:3d31","Config":{"Image":"app:1","Labels":{"com.docker.compose.service":"web"}},"State":{"Status":"running","ExitCode":0,"Health":{"Status":"healthy","FailingStreak":0}},"NetworkSettings":{"Ports":{"8080/tcp":[{"HostIp":"0.0.0.0","HostPort":"18080"},{"HostIp":"::","HostPort":"18080"}]}}},
            {"Id":"77b2","Name":"/shop-worker-1","Image":"sha256:3d31","Config":{"Image":"app:1","Labels":null},"State":{"Status":"exited","ExitCode":2},"NetworkSettings":{"Ports":{}}}]"#;
        let c = containers(json).unwrap();
        assert_eq!(c[0].name, "shop-web-1");
        assert_eq!(c[0].service.as_deref(), Some("web"));
        assert_eq!(c[0].ports, [("8080/tcp".to_string(), 18080)]);
        assert!(c[0].ready());
        assert_eq!(c[1].condition(), "exited (2)");
        assert!(!c[1].ready());
        assert!(containers("\n").unwrap().is_empty());
        assert!(containers("not json")
            .unwrap_err()
            .starts_with("unexpected `docker inspect` output"));
    }

    #[test]
    fn reads_images() {
        let json = r#"[{"Id":"sha256:b68a","RepoTags":["big:1"],"RootFS":{"Type":"layers","Layers":["sha256:aa","sha256:bb"]},"Size":526}]"#;
        let i = images(json).unwrap();
        assert_eq!(i[0].layers, ["sha256:aa", "sha256:bb"]);
        assert_eq!(i[0].tags, ["big:1"]);
        assert_eq!(
            short_id("sha256:3d3124bd27bdda18d731"),
            "sha256:3d3124bd27bd"
        );
    }
}
