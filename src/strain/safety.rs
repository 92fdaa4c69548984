//! Which targets a strain run may hit. Load is only for systems you own: loopback and private
//! addresses are allowed, anything else only when its host is listed in
//! `strain.allowed_hosts`. The check runs on the resolved addresses, and the engine connects to
//! exactly those addresses, so a DNS answer cannot change between the check and the load.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Loopback, or a private range (RFC 1918, IPv6 unique local).
pub fn is_local_or_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_local(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_local(v4);
            }
            v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00 || v6 == Ipv6Addr::LOCALHOST
        }
    }
}

fn v4_local(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_private()
}

/// Why a run may not load its target.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetRefused {
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error(
        "refusing to load {host} ({ip}): it is neither loopback nor a private address; list the host in strain.allowed_hosts if you own it"
    )]
    NotOwned { host: String, ip: IpAddr },
}

/// Ok when the host is allow-listed or every address it resolves to is loopback or private.
pub fn check_target(
    host: &str,
    resolved: &[IpAddr],
    allowed_hosts: &[String],
) -> Result<(), TargetRefused> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(bare)) {
        return Ok(());
    }
    if resolved.is_empty() {
        return Err(TargetRefused::NoAddress { host: bare.into() });
    }
    if let Some(ip) = resolved.iter().find(|ip| !is_local_or_private(**ip)) {
        return Err(TargetRefused::NotOwned {
            host: bare.into(),
            ip: *ip,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_and_private_ranges_pass_public_is_refused() {
        for ok in [
            "127.0.0.1",
            "127.8.9.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_local_or_private(ip(ok)), "{ok}");
        }
        for bad in [
            "8.8.8.8",
            "172.32.0.1",
            "169.254.169.254",
            "2001:4860::1",
            "::ffff:8.8.8.8",
            "0.0.0.0",
        ] {
            assert!(!is_local_or_private(ip(bad)), "{bad}");
        }
    }

    #[test]
    fn allow_list_admits_a_named_host_only() {
        let allowed = vec!["staging.example.com".to_string()];
        assert!(check_target("staging.example.com", &[ip("93.184.216.34")], &allowed).is_ok());
        let e = check_target("example.com", &[ip("93.184.216.34")], &allowed).unwrap_err();
        assert!(matches!(e, TargetRefused::NotOwned { .. }), "{e:?}");
        assert!(e.to_string().contains("allowed_hosts"), "{e}");
        // One public address among private ones is enough to refuse.
        assert!(check_target("mixed", &[ip("10.0.0.1"), ip("1.1.1.1")], &[]).is_err());
        assert!(check_target("localhost", &[ip("127.0.0.1"), ip("::1")], &[]).is_ok());
    }
}
