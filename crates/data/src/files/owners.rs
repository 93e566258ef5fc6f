//! User and group names of the host, read from `/etc/passwd` and `/etc/group` once (the
//! accounts a migrated tree is owned by are local ones; NSS sources such as LDAP are not
//! consulted, and their ids then compare by number).

use std::collections::HashMap;

/// The host's id-to-name and name-to-id maps.
#[derive(Debug, Default, Clone)]
pub struct Owners {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Owners {
    /// Reads the host's account files (missing files give empty maps).
    pub fn load() -> Self {
        Owners {
            users: read("/etc/passwd"),
            groups: read("/etc/group"),
        }
    }

    /// The name of user `uid`.
    pub fn user(&self, uid: u32) -> Option<String> {
        self.users.get(&uid).cloned()
    }

    /// The name of group `gid`.
    pub fn group(&self, gid: u32) -> Option<String> {
        self.groups.get(&gid).cloned()
    }

    /// The id of user `name`.
    pub fn uid(&self, name: &str) -> Option<u32> {
        self.users
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| *id)
    }

    /// The id of group `name`.
    pub fn gid(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| *id)
    }
}

fn read(file: &str) -> HashMap<u32, String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut map = HashMap::new();
    for line in text.lines() {
        let mut parts = line.split(':');
        if let (Some(name), Some(_), Some(id)) = (parts.next(), parts.next(), parts.next()) {
            if let Ok(id) = id.parse() {
                // The first line for an id wins, as getpwuid does.
                map.entry(id).or_insert_with(|| name.to_string());
            }
        }
    }
    map
}
