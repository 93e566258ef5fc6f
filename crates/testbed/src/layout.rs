//! Where a lab lives on the network and what its namespaces are called, computed from its slot
//! number and host names alone (no I/O), so a later process can find and clean up the leftovers
//! of a lab whose owner was killed.

use crate::error::LabError;
use std::net::Ipv4Addr;

/// The slot of the canonical demo lab (`cutover-lab up`): namespaces `old`, `new`.
pub const CANONICAL_SLOT: u8 = 0;
/// The highest slot; tests use slots 1 to this one.
pub const LAST_SLOT: u8 = 15;
/// Every lab is one /27: the controller, up to 11 hosts, and room to spare.
pub const PREFIX_LEN: u8 = 27;

/// Address offsets inside the /27, in host order: the first three end in 0 (old .10, new .20,
/// a third host .30) because a /27 has no .40; further hosts take .2 to .9.
const HOST_OFFSETS: [u8; 11] = [10, 20, 30, 2, 3, 4, 5, 6, 7, 8, 9];
/// The controller's (root namespace) offset.
const CONTROLLER_OFFSET: u8 = 1;
/// Longest host name: `v-NAME` must fit the 15-byte interface name limit with room to spare,
/// and `co15-NAME` stays readable.
const MAX_NAME_LEN: usize = 10;

/// The names and addresses of one lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) slot: u8,
    pub(crate) hosts: Vec<HostLayout>,
}

/// One host's network identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostLayout {
    pub(crate) name: String,
    pub(crate) netns: String,
    pub(crate) address: Ipv4Addr,
    /// The host's veth end on the switch's bridge (inside the switch namespace).
    pub(crate) switch_port: String,
}

impl Layout {
    /// Lays out `names` in `slot`, rejecting names that cannot make valid interface names.
    pub(crate) fn new(slot: u8, names: &[String]) -> Result<Layout, LabError> {
        if slot > LAST_SLOT {
            return Err(LabError::Invalid(format!(
                "slot {slot} is past the last slot {LAST_SLOT}"
            )));
        }
        if names.is_empty() || names.len() > HOST_OFFSETS.len() {
            let n = names.len();
            return Err(LabError::Invalid(format!(
                "a lab has 1 to {} hosts, not {n}",
                HOST_OFFSETS.len()
            )));
        }
        let base = subnet_base(slot);
        let mut hosts = Vec::with_capacity(names.len());
        for (name, offset) in names.iter().zip(HOST_OFFSETS) {
            check_name(name)?;
            if hosts.iter().any(|h: &HostLayout| &h.name == name) {
                return Err(LabError::Invalid(format!("host `{name}` is listed twice")));
            }
            hosts.push(HostLayout {
                name: name.clone(),
                netns: netns_name(slot, name),
                address: offset_address(base, offset),
                switch_port: format!("v-{name}"),
            });
        }
        Ok(Layout { slot, hosts })
    }

    /// The controller's address (root namespace end of the lab's link).
    pub(crate) fn controller(&self) -> Ipv4Addr {
        offset_address(subnet_base(self.slot), CONTROLLER_OFFSET)
    }

    /// The namespace holding the bridge that joins hosts and controller.
    pub(crate) fn switch_netns(&self) -> String {
        if self.slot == CANONICAL_SLOT {
            "cutover-sw".to_string()
        } else {
            format!("co{}-sw", self.slot)
        }
    }

    /// The veth end left in the root namespace, carrying the controller address.
    pub(crate) fn root_veth(&self) -> String {
        format!("co{}-host", self.slot)
    }

    /// Every namespace of the lab, hosts first, switch last.
    pub(crate) fn namespaces(&self) -> Vec<String> {
        let mut all: Vec<String> = self.hosts.iter().map(|h| h.netns.clone()).collect();
        all.push(self.switch_netns());
        all
    }
}

/// The namespace prefix owned by a test slot (`co3-`), for sweeping up any host names a killed
/// holder used; the canonical slot has none (its names are plain).
pub(crate) fn slot_netns_prefix(slot: u8) -> Option<String> {
    (slot != CANONICAL_SLOT).then(|| format!("co{slot}-"))
}

/// First address of the slot's /27: slots 0-7 in 198.51.100.0/24, 8-15 in 203.0.113.0/24
/// (TEST-NET-2 and -3: documentation ranges never routed on the internet).
pub(crate) fn subnet_base(slot: u8) -> Ipv4Addr {
    if slot < 8 {
        Ipv4Addr::new(198, 51, 100, slot * 32)
    } else {
        Ipv4Addr::new(203, 0, 113, (slot - 8) * 32)
    }
}

/// How many spare addresses a host can add next to its own ([`spare_address`]).
pub const SPARE_ADDRESSES: u8 = 8;

/// The `index`th spare address of the host at `host` (1 to [`SPARE_ADDRESSES`]): the host's
/// address + `index`. Only the hosts at offsets .10 and .20 of their /27 (the first two
/// hosts, `old` and `new` in most labs) have spares, because offsets 11-18 and 21-28 belong
/// to no host; a third host's .30 is followed by the broadcast address.
pub(crate) fn spare_address(host: Ipv4Addr, index: u8) -> Result<Ipv4Addr, LabError> {
    let offset = host.octets()[3] % (1 << (32 - PREFIX_LEN));
    if !(1..=SPARE_ADDRESSES).contains(&index) {
        return Err(LabError::Invalid(format!(
            "spare address {index}: a host has spare addresses 1 to {SPARE_ADDRESSES}"
        )));
    }
    if offset != HOST_OFFSETS[0] && offset != HOST_OFFSETS[1] {
        return Err(LabError::Invalid(format!(
            "{host} has no spare addresses: only the lab's first two hosts have some"
        )));
    }
    let [a, b, c, d] = host.octets();
    Ok(Ipv4Addr::new(a, b, c, d + index))
}

fn offset_address(base: Ipv4Addr, offset: u8) -> Ipv4Addr {
    let [a, b, c, d] = base.octets();
    Ipv4Addr::new(a, b, c, d + offset)
}

fn netns_name(slot: u8, host: &str) -> String {
    if slot == CANONICAL_SLOT {
        host.to_string()
    } else {
        format!("co{slot}-{host}")
    }
}

fn check_name(name: &str) -> Result<(), LabError> {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !starts_with_letter || !rest_ok || name.len() > MAX_NAME_LEN {
        return Err(LabError::Invalid(format!(
            "host name `{name}` must be 1-{MAX_NAME_LEN} lowercase letters or digits, starting with a letter"
        )));
    }
    if name == "root" || name == "sw" {
        return Err(LabError::Invalid(format!(
            "host name `{name}` is reserved for the lab's switch"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn canonical_slot_matches_the_lab_notes_recipe() {
        let l = Layout::new(0, &names(&["old", "new"])).expect("valid");
        assert_eq!(l.controller(), Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(l.hosts[0].address, Ipv4Addr::new(198, 51, 100, 10));
        assert_eq!(l.hosts[1].address, Ipv4Addr::new(198, 51, 100, 20));
        assert_eq!(l.namespaces(), ["old", "new", "cutover-sw"]);
        assert_eq!(l.root_veth(), "co0-host");
    }

    #[test]
    fn test_slots_get_disjoint_subnets_and_prefixed_names() {
        let l = Layout::new(3, &names(&["old", "new", "dns", "extra"])).expect("valid");
        assert_eq!(l.controller(), Ipv4Addr::new(198, 51, 100, 97));
        let addrs: Vec<_> = l.hosts.iter().map(|h| h.address.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "198.51.100.106",
                "198.51.100.116",
                "198.51.100.126",
                "198.51.100.98"
            ]
        );
        assert_eq!(
            l.namespaces(),
            ["co3-old", "co3-new", "co3-dns", "co3-extra", "co3-sw"]
        );
        let l = Layout::new(15, &names(&["old"])).expect("valid");
        assert_eq!(l.controller(), Ipv4Addr::new(203, 0, 113, 225));
        assert_eq!(l.hosts[0].address, Ipv4Addr::new(203, 0, 113, 234));
        assert_eq!(slot_netns_prefix(15).as_deref(), Some("co15-"));
        assert_eq!(slot_netns_prefix(0), None);
    }

    #[test]
    fn spare_addresses_follow_the_first_two_hosts_and_no_other() {
        let l = Layout::new(3, &names(&["old", "new", "lb", "extra"])).expect("valid");
        let (old, new) = (l.hosts[0].address, l.hosts[1].address);
        assert_eq!(
            spare_address(old, 1).unwrap(),
            Ipv4Addr::new(198, 51, 100, 107)
        );
        assert_eq!(
            spare_address(new, 8).unwrap(),
            Ipv4Addr::new(198, 51, 100, 124)
        );
        let taken: Vec<Ipv4Addr> = l.hosts.iter().map(|h| h.address).collect();
        for host in [old, new] {
            for i in 1..=SPARE_ADDRESSES {
                let spare = spare_address(host, i).unwrap();
                assert!(
                    !taken.contains(&spare) && spare != l.controller(),
                    "{spare}"
                );
            }
        }
        assert!(spare_address(new, 0).is_err());
        assert!(spare_address(new, 9).is_err());
        assert!(
            spare_address(l.hosts[2].address, 1).is_err(),
            ".30 + 1 is broadcast"
        );
        assert!(
            spare_address(l.hosts[3].address, 1).is_err(),
            ".2 + 1 is a host"
        );
    }

    #[test]
    fn bad_names_and_slots_are_refused() {
        for bad in ["", "Old", "1st", "a-b", "abcdefghijk", "root", "sw"] {
            assert!(Layout::new(1, &names(&[bad])).is_err(), "{bad:?} accepted");
        }
        assert!(Layout::new(1, &names(&["old", "old"])).is_err());
        assert!(Layout::new(16, &names(&["old"])).is_err());
        assert!(Layout::new(1, &names(&["a"; 12])).is_err());
    }
}
