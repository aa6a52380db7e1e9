//! Where connections may reach: an operator's decision, `PRISM_CONNECTION_HOSTS`,
//! a comma-separated list of host names (`db.internal`), wildcard domains
//! (`*.amazonaws.com`), addresses and networks (`10.0.0.0/8`, `::1`). Gateways
//! check a connection's host when it is saved; executors check it again, and
//! every address the name resolves to, before they connect, so neither a stale
//! record nor a DNS answer can take a job elsewhere. Link-local addresses (cloud
//! metadata services live there: 169.254.169.254, fd00:ec2::254) are refused
//! unless an entry names them as addresses or networks; a host name or wildcard
//! never admits them.
use std::net::IpAddr;

/// The parsed allow-list. Empty: connections may reach nothing but local files.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
enum Entry {
    Name(String),
    Suffix(String),
    Network(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReachError {
    #[error("host {0:?} is not in the hosts connections may reach (PRISM_CONNECTION_HOSTS)")]
    NotAllowed(String),
    #[error(
        "host {0:?} is a link-local or cloud metadata address, which no connection may reach unless PRISM_CONNECTION_HOSTS lists it"
    )]
    LinkLocal(String),
    #[error(
        "PRISM_CONNECTION_HOSTS: {0:?} is neither a host, a *.domain, an address nor a network"
    )]
    BadEntry(String),
}

impl Reach {
    pub fn parse(list: &str) -> Result<Reach, ReachError> {
        let mut entries = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            entries.push(parse_entry(raw).ok_or_else(|| ReachError::BadEntry(raw.to_string()))?);
        }
        Ok(Reach { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a connection may name `host` (as written in the connection).
    pub fn check_host(&self, host: &str) -> Result<(), ReachError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.check_ip(host, ip);
        }
        let lower = host.to_ascii_lowercase();
        let named = self.entries.iter().any(|entry| match entry {
            Entry::Name(name) => *name == lower,
            Entry::Suffix(suffix) => lower.ends_with(suffix.as_str()) && lower.len() > suffix.len(),
            Entry::Network(..) => false,
        });
        if named {
            Ok(())
        } else {
            Err(ReachError::NotAllowed(host.to_string()))
        }
    }

    /// Whether an address `host` resolved to may be reached: a listed name admits
    /// its addresses, except link-local ones, which only an address entry admits.
    pub fn check_resolved(&self, host: &str, ip: IpAddr) -> Result<(), ReachError> {
        if host.parse::<IpAddr>().is_ok() {
            return self.check_ip(host, ip);
        }
        if is_link_local(ip) && !self.lists_ip(ip) {
            return Err(ReachError::LinkLocal(format!("{host} ({ip})")));
        }
        self.check_host(host)
    }

    fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), ReachError> {
        if self.lists_ip(ip) {
            return Ok(());
        }
        if is_link_local(ip) {
            return Err(ReachError::LinkLocal(host.to_string()));
        }
        Err(ReachError::NotAllowed(host.to_string()))
    }

    fn lists_ip(&self, ip: IpAddr) -> bool {
        self.entries.iter().any(|entry| match entry {
            Entry::Network(network, bits) => contains(*network, *bits, ip),
            _ => false,
        })
    }
}

fn parse_entry(raw: &str) -> Option<Entry> {
    if let Some((address, bits)) = raw.split_once('/') {
        let address: IpAddr = address.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        return (bits <= max).then_some(Entry::Network(address, bits));
    }
    if let Ok(address) = raw
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        let bits = if address.is_ipv4() { 32 } else { 128 };
        return Some(Entry::Network(address, bits));
    }
    let lower = raw.to_ascii_lowercase();
    let valid = |name: &str| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    match lower.strip_prefix("*.") {
        Some(domain) if valid(domain) => Some(Entry::Suffix(format!(".{domain}"))),
        Some(_) => None,
        None if valid(&lower) => Some(Entry::Name(lower)),
        None => None,
    }
}

fn contains(network: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Link-local and cloud metadata addresses, IPv4-mapped forms included.
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.octets() == [100, 100, 100, 200],
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_link_local(IpAddr::V4(v4));
            }
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    == "fd00:ec2::254"
                        .parse::<std::net::Ipv6Addr>()
                        .expect("literal")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_wildcards_and_networks() {
        let reach = Reach::parse("db.internal, *.amazonaws.com, 10.0.0.0/8, ::1").unwrap();
        assert!(reach.check_host("db.internal").is_ok());
        assert!(reach.check_host("DB.internal").is_ok());
        assert!(reach.check_host("s3.eu-west-1.amazonaws.com").is_ok());
        assert!(reach.check_host("amazonaws.com").is_err());
        assert!(reach.check_host("evilamazonaws.com").is_err());
        assert!(reach.check_host("10.1.2.3").is_ok());
        assert!(reach.check_host("11.1.2.3").is_err());
        assert!(reach.check_host("[::1]").is_ok());
        assert!(reach.check_host("other.internal").is_err());
    }

    #[test]
    fn metadata_addresses_need_an_address_entry() {
        let reach = Reach::parse("*.internal, 0.0.0.0/0").unwrap();
        // 0.0.0.0/0 names every address, so it admits them: the operator said so.
        assert!(reach.check_host("169.254.169.254").is_ok());
        let reach = Reach::parse("*.internal, 10.0.0.0/8").unwrap();
        assert_eq!(
            reach.check_host("169.254.169.254"),
            Err(ReachError::LinkLocal("169.254.169.254".into()))
        );
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        assert!(matches!(
            reach.check_resolved("meta.internal", metadata),
            Err(ReachError::LinkLocal(_))
        ));
        let mapped: IpAddr = "::ffff:169.254.169.254".parse().unwrap();
        assert!(reach.check_resolved("meta.internal", mapped).is_err());
        assert!(reach.check_host("fd00:ec2::254").is_err());
        let listed = Reach::parse("169.254.169.254").unwrap();
        assert!(listed.check_host("169.254.169.254").is_ok());
    }

    #[test]
    fn bad_entries_are_named() {
        assert_eq!(
            Reach::parse("ok.host, bad host").unwrap_err(),
            ReachError::BadEntry("bad host".into())
        );
        assert!(Reach::parse("10.0.0.0/33").is_err());
        assert!(Reach::parse("").unwrap().is_empty());
    }
}
