//! Small, strict parsers for the value types in the configuration: names, addresses, URLs,
//! paths, durations. Strict on purpose: anything accepted here ends up in a unit file.

use std::fmt;
use std::net::IpAddr;

/// An etcd member name: it appears in `name=url,...` lists, so ',' and '=' are excluded.
pub fn is_member_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// An RFC 1123 host name (labels of letters, digits and '-', dot-separated, a final dot allowed).
pub fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        // All-numeric names like 10.0.0.300 are typos of an IP, not host names.
        && !s.split('.').all(|l| l.chars().all(|c| c.is_ascii_digit()))
}

/// A host's own address: an IP a peer can reach (not 0.0.0.0, ::, or multicast), or a name.
pub fn is_ip_or_host(s: &str) -> bool {
    match s.parse::<IpAddr>() {
        Ok(ip) => {
            !ip.is_unspecified() && !ip.is_multicast() && ip != IpAddr::from([255, 255, 255, 255])
        }
        Err(_) => is_host_name(s),
    }
}

/// Directories that must never become etcd's data dir (it is chowned to etcd, mode 0700).
pub fn is_system_dir(p: &str) -> bool {
    const SYSTEM: &[&str] = &[
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/tmp",
        "/var/cache",
        "/var/spool",
        "/usr/local",
        "/usr/lib",
        "/usr/bin",
        "/usr/sbin",
        "/usr/share",
    ];
    SYSTEM.contains(&p)
        || [
            "/proc/",
            "/sys/",
            "/dev/",
            "/run/systemd/",
            "/etc/systemd/",
            "/usr/lib/systemd/",
        ]
        .iter()
        .any(|d| p.starts_with(d))
}

/// The canonical text of an IP (so "fd00::0010" and "fd00::10" compare equal); host names as is.
pub fn normalize_ip(s: &str) -> String {
    match s.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => s.to_ascii_lowercase(),
    }
}

/// The host part of a URL: IPv6 addresses in brackets.
pub fn url_host(addr: &str) -> String {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => addr.to_string(),
    }
}

/// A Linux interface name (IFNAMSIZ - 1 bytes, no '/', ':' or whitespace, not "." or "..").
pub fn is_interface_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// An absolute, normalised path: no "..", ".", "//" components, no trailing '/'.
pub fn is_clean_abs_path(s: &str) -> bool {
    s.starts_with('/')
        && s.len() <= 4096
        && (s == "/" || !s.ends_with('/'))
        && s[1..]
            .split('/')
            .all(|c| s == "/" || (!c.is_empty() && c != "." && c != ".."))
        && !s.chars().any(|c| c.is_control())
}

/// A NO_PROXY entry: host, domain (optionally with a leading '.'), IP, CIDR, or "*".
pub fn is_no_proxy_entry(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    if let Some((ip, bits)) = s.split_once('/') {
        return match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => bits.parse::<u8>().is_ok_and(|b| b <= 32),
            Ok(IpAddr::V6(_)) => bits.parse::<u8>().is_ok_and(|b| b <= 128),
            Err(_) => false,
        };
    }
    let host = s.strip_prefix('.').unwrap_or(s);
    let host = match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.parse::<u16>().is_ok() => h,
        _ => host,
    };
    host.parse::<IpAddr>().is_ok() || is_host_name(host)
}

/// A fleet metadata key or value. fleet splits FLEET_METADATA on ',' then '=' and trims
/// spaces, silently dropping what does not fit; '"' would end the quoted unit value.
pub fn is_metadata_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, ',' | '=' | '"'))
}

/// A portable user name (useradd's default rules).
pub fn is_user_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Checks the shape of an OpenSSH public key line: `type base64 [comment]`, no options.
pub fn check_ssh_public_key(s: &str) -> Result<(), String> {
    let mut parts = s.split_whitespace();
    let kind = parts.next().unwrap_or("");
    if !KEY_TYPES.contains(&kind) {
        return Err(format!(
            "expected an SSH public key starting with a key type ({}), found {}",
            KEY_TYPES[..3].join(", "),
            crate::config::show(kind)
        ));
    }
    let blob = parts.next().unwrap_or("");
    let b64 = blob.len() >= 16
        && blob
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='));
    if !b64 {
        return Err("the key data after the key type is missing or not base64".into());
    }
    Ok(())
}

/// Parses a systemd-style time span ("30s", "5min", "1h 30min", "2m30s", "45") into seconds.
pub fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty".into());
    }
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "expected a number at {}",
                crate::config::show(rest)
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| "number too large".to_string())?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let mult: u64 = match unit {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86400,
            "" => return Err("missing unit after a number (s, min, h, d)".into()),
            other => {
                return Err(format!(
                    "unknown unit {}; use s, min, h or d",
                    crate::config::show(other)
                ))
            }
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or("duration too large")?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// An http(s) URL, parsed strictly enough to render it safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Exactly as configured: rendering must not alter a value.
    pub raw: String,
    pub scheme: String,
    pub userinfo: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// Path, query and fragment, as written (may be empty).
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, String> {
        if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("contains {:?}", c));
        }
        let (scheme, rest) = s
            .split_once("://")
            .ok_or("missing scheme (http:// or https://)")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "the scheme must be http or https, not {}",
                crate::config::show(&scheme)
            ));
        }
        let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(auth_end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("unclosed '[' in the host")?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err("invalid IPv6 address in brackets".into());
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or("junk after ']'")?),
            };
            (format!("[{h}]"), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err("missing host".into());
        }
        if !host.starts_with('[') && !is_ip_or_host(&host) {
            return Err("the host is not a valid host name or IP address".into());
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err("the port must be a number from 1 to 65535".into()),
            },
        };
        Ok(Url {
            raw: s.to_string(),
            scheme,
            userinfo,
            host,
            port,
            path: path.to_string(),
        })
    }

    /// The URL with any password replaced, for messages and logs.
    pub fn redacted(&self) -> String {
        let mut s = format!("{}://", self.scheme);
        if let Some(ui) = &self.userinfo {
            let user = ui.split(':').next().unwrap_or("");
            s.push_str(&format!("{user}:****@"));
        }
        s.push_str(&self.host);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s.push_str(&self.path);
        s
    }

    /// The host (without brackets) for NO_PROXY.
    pub fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://user:p%40ss@proxy.corp:3128").unwrap();
        assert_eq!(u.userinfo.as_deref(), Some("user:p%40ss"));
        assert_eq!(u.port, Some(3128));
        assert_eq!(u.redacted(), "http://user:****@proxy.corp:3128");
        assert_eq!(
            Url::parse("https://[fd00::1]:2379/x").unwrap().host,
            "[fd00::1]"
        );
        for bad in [
            "ftp://x",
            "http://",
            "http://a b",
            "http://x:99999",
            "x",
            "http://10.0.0.300",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_addresses() {
        assert!(is_member_name("infra0"));
        assert!(!is_member_name("in=fra"));
        assert!(!is_member_name("a,b"));
        assert!(
            is_ip_or_host("10.0.0.1")
                && is_ip_or_host("fd00::1")
                && is_ip_or_host("node1.example.com")
        );
        assert!(!is_ip_or_host("10.0.0.300") && !is_ip_or_host("a_b") && !is_ip_or_host(""));
        assert_eq!(normalize_ip("fd00:0::0010"), "fd00::10");
        assert_eq!(url_host("fd00::1"), "[fd00::1]");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("30s"), Ok(30));
        assert_eq!(parse_duration_secs("1h 30min"), Ok(5400));
        assert_eq!(parse_duration_secs("2m30s"), Ok(150));
        assert_eq!(parse_duration_secs("45"), Ok(45));
        assert!(parse_duration_secs("5 parsecs").is_err());
        assert!(parse_duration_secs("s").is_err());
        assert!(parse_duration_secs("99999999999999999999d").is_err());
    }

    #[test]
    fn paths_and_tokens() {
        assert!(is_clean_abs_path("/var/lib/etcd"));
        for bad in ["var/lib", "/var/../etc", "/var//lib", "/var/lib/", "/a/./b"] {
            assert!(!is_clean_abs_path(bad), "{bad}");
        }
        assert!(is_metadata_token("eu-central-1a"));
        for bad in ["a,b", "a=b", "a b", "", "a\"b"] {
            assert!(!is_metadata_token(bad), "{bad}");
        }
        assert!(is_no_proxy_entry(".corp.example") && is_no_proxy_entry("10.0.0.0/8"));
        assert!(!is_no_proxy_entry("a,b") && !is_no_proxy_entry("10.0.0.0/33"));
    }
}
