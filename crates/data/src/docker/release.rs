//! A release: what a Compose project runs, by image id per service, and the digest of the
//! compose files it was started from. Journaled by the Compose steps, so the report names
//! the release that went live and the one a rollback went back to, and so a rollback can
//! pin the previous images by id whatever their tags point at since.

use super::inspect::{short_id, Container};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a project runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The compose project.
    pub project: String,
    /// Per service: the image as configured and its id.
    pub services: BTreeMap<String, ServiceImage>,
    /// SHA-256 of the compose files (their bytes, in order), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose_digest: Option<String>,
}

/// One service's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceImage {
    /// The image as the compose file names it (`shop/web:1.4`).
    pub image: String,
    /// Its id (`sha256:...`).
    pub id: String,
}

impl Release {
    /// The release of `project` from its containers (running or not); `None` when it has
    /// none.
    pub fn of(project: &str, containers: &[Container]) -> Option<Release> {
        let mut services = BTreeMap::new();
        for c in containers {
            let Some(service) = &c.service else { continue };
            services
                .entry(service.clone())
                .or_insert_with(|| ServiceImage {
                    image: c.image.clone(),
                    id: c.image_id.clone(),
                });
        }
        (!services.is_empty()).then(|| Release {
            project: project.to_string(),
            services,
            compose_digest: None,
        })
    }

    /// `shop-green: web shop/web:1.5 (sha256:3d3124bd27bd), worker ...`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .services
            .iter()
            .map(|(s, i)| {
                if i.image == i.id {
                    format!("{s} {}", short_id(&i.id))
                } else {
                    format!("{s} {} ({})", i.image, short_id(&i.id))
                }
            })
            .collect();
        format!("{}: {}", self.project, parts.join(", "))
    }

    /// A compose override file pinning every service of the release to its image id: the
    /// previous release comes back exactly, even if its tags were moved since.
    pub fn pin_override(&self) -> String {
        let mut out = String::from(
            "# Written by cutover: the release rolled back to, pinned by image id.\nservices:\n",
        );
        for (service, image) in &self.services {
            out.push_str(&format!(
                "  {}:\n    image: {}\n",
                yaml_key(service),
                yaml_key(&image.id)
            ));
        }
        out
    }
}

/// A YAML scalar for a service name or image id: quoted with JSON's rules, which YAML reads.
fn yaml_key(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// SHA-256 of `files` (name and bytes), hex: the compose digest of a release.
pub fn digest(files: &[(String, Vec<u8>)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, bytes) in files {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    format!("sha256:{}", crate::files::entry::hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(service: &str, image: &str, id: &str) -> Container {
        Container {
            name: format!("shop-{service}-1"),
            service: Some(service.into()),
            image: image.into(),
            image_id: id.into(),
            state: "running".into(),
            health: None,
            exit_code: 0,
            ports: vec![],
        }
    }

    #[test]
    fn a_release_names_images_by_id_and_pins_them() {
        let r = Release::of(
            "shop",
            &[
                container("web", "shop/web:1.4", "sha256:3d3124bd27bdda18d731"),
                container("worker", "shop/web:1.4", "sha256:3d3124bd27bdda18d731"),
            ],
        )
        .unwrap();
        assert_eq!(
            r.describe(),
            "shop: web shop/web:1.4 (sha256:3d3124bd27bd), worker shop/web:1.4 (sha256:3d3124bd27bd)"
        );
        assert_eq!(
            r.pin_override(),
            "# Written by cutover: the release rolled back to, pinned by image id.\nservices:\n  \"web\":\n    image: \"sha256:3d3124bd27bdda18d731\"\n  \"worker\":\n    image: \"sha256:3d3124bd27bdda18d731\"\n"
        );
        assert_eq!(Release::of("shop", &[]), None);
    }
}
