//! `fleetnode address`: at unit start, read the node's address from an interface and write an
//! environment file for the unit (the generator runs before the network exists).

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use fleetnode::escape::env_file_line;
use fleetnode::net::{is_interface_name, parse_duration_secs};

use super::{FAILED, OK, USAGE};

pub fn run(interface: &str, output: &Path, timeout: &str, templates: &[String]) -> u8 {
    if !is_interface_name(interface) {
        eprintln!("error: {interface:?} is not a network interface name");
        return USAGE;
    }
    let timeout = match parse_duration_secs(timeout) {
        Ok(s) => Duration::from_secs(s),
        Err(e) => {
            eprintln!("error: --timeout: {e}");
            return USAGE;
        }
    };
    let mut vars = Vec::new();
    for t in templates {
        match t.split_once('=') {
            Some((k, v))
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') =>
            {
                vars.push((k, v))
            }
            _ => {
                eprintln!("error: {t:?} is not NAME=TEMPLATE (NAME in upper case)");
                return USAGE;
            }
        }
    }
    let ip = match wait_for_address(interface, timeout) {
        Some(ip) => ip,
        None => {
            eprintln!(
                "error: interface {interface} has no usable address (IPv4, or global IPv6) after {}s; check `ip address show {interface}` and node.interface in /etc/fleetnode.toml",
                timeout.as_secs()
            );
            return FAILED;
        }
    };
    let urlhost = match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    let mut text = format!("# Written by `fleetnode address` from interface {interface}\n");
    for (k, v) in vars {
        text.push_str(&env_file_line(
            k,
            &v.replace("{ip}", &ip.to_string())
                .replace("{urlhost}", &urlhost),
        ));
    }
    match write_atomic(output, &text) {
        Ok(()) => {
            println!("{interface}: {ip} -> {}", output.display());
            OK
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", output.display());
            FAILED
        }
    }
}

/// The interface's first IPv4 address, else its first global IPv6 address, polling until the
/// timeout (the link may come up a moment after network-online.target).
fn wait_for_address(interface: &str, timeout: Duration) -> Option<IpAddr> {
    let start = Instant::now();
    loop {
        if let Some(ip) = address_of(interface) {
            return Some(ip);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn address_of(interface: &str) -> Option<IpAddr> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    let mut v6 = None;
    for a in addrs.filter(|a| a.interface_name == interface) {
        let Some(sa) = a.address else { continue };
        if let Some(v4) = sa.as_sockaddr_in() {
            return Some(IpAddr::V4(v4.ip()));
        }
        if let Some(s6) = sa.as_sockaddr_in6() {
            let ip = s6.ip();
            let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
            if v6.is_none() && !link_local && !ip.is_loopback() {
                v6 = Some(IpAddr::V6(ip));
            }
        }
    }
    v6
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    drop(f);
    fs::rename(&tmp, path)
}
