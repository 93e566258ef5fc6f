//! Plain `docker` commands on a host's engine (not tied to a Compose project): images,
//! volumes, the daemon's storage. Command values; the caller runs them.

use cutover_exec::quote::quote;
use cutover_exec::Command;

/// `docker image inspect REFS...` (JSON).
pub fn image_inspect(host: &str, refs: &[String]) -> Command {
    let mut argv = vec!["docker".into(), "image".into(), "inspect".into()];
    argv.extend(refs.iter().cloned());
    Command::new(host, argv)
}

/// `docker image inspect` of every image on the host (JSON; empty output when none).
pub fn all_images(host: &str) -> Command {
    Command::shell(
        host,
        "ids=$(docker image ls -aq --no-trunc) || exit; [ -z \"$ids\" ] || exec docker image inspect $ids",
    )
}

/// The daemon's storage driver, data root and driver status (one JSON object).
pub fn storage(host: &str) -> Command {
    Command::new(
        host,
        vec![
            "docker".into(),
            "info".into(),
            "--format".into(),
            "{\"driver\":{{json .Driver}},\"root\":{{json .DockerRootDir}},\"status\":{{json .DriverStatus}}}".into(),
        ],
    )
}

/// The mount point of volume `name` (one line), failing with Docker's "no such volume".
pub fn volume_mountpoint(host: &str, name: &str) -> Command {
    Command::new(
        host,
        vec![
            "docker".into(),
            "volume".into(),
            "inspect".into(),
            "--format".into(),
            "{{.Mountpoint}}".into(),
            name.into(),
        ],
    )
}

/// Creates volume `name` unless it exists, then prints its mount point.
pub fn volume_ensure(host: &str, name: &str) -> Command {
    Command::shell(
        host,
        format!(
            "docker volume inspect {n} >/dev/null 2>&1 || docker volume create {n} >/dev/null || exit; exec docker volume inspect --format '{{{{.Mountpoint}}}}' {n}",
            n = quote(name)
        ),
    )
}

/// True for a volume name Docker accepts (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
pub fn valid_volume(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// True for a Compose project name (`[a-z0-9][a-z0-9_-]*`).
pub fn valid_project(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_created_only_when_missing() {
        assert_eq!(
            volume_ensure("new", "shop_media").display_command(),
            "docker volume inspect shop_media >/dev/null 2>&1 || docker volume create shop_media >/dev/null || exit; exec docker volume inspect --format '{{.Mountpoint}}' shop_media"
        );
        assert!(valid_volume("shop_media.v2"));
        assert!(!valid_volume("../etc"));
        assert!(valid_project("shop-green"));
        assert!(!valid_project("Shop"));
    }
}
