//! `fleetnode discovery new`: ask a discovery service for a new cluster token URL.

use std::path::Path;
use std::time::Duration;

use fleetnode::{load, Outcome};

use super::etcd::short;
use super::{FAILED, OK, USAGE};

pub fn new(root: &Path, server: &str, size: u32) -> u8 {
    if !(1..=99).contains(&size) {
        eprintln!("error: --size must be from 1 to 99");
        return USAGE;
    }
    let base = match fleetnode::net::Url::parse(server) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: --server: {e}");
            return USAGE;
        }
    };
    let mut b = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10));
    // Use the node's configured proxy, as etcd's discovery does.
    if let Outcome::Valid { config, .. } = load(root) {
        if let Some(p) = &config.proxy {
            let proxy = if base.scheme == "https" {
                p.https.as_ref().or(p.http.as_ref())
            } else {
                p.http.as_ref().or(p.https.as_ref())
            };
            if let Some(p) = proxy {
                match reqwest::Proxy::all(p.to_string()) {
                    Ok(px) => b = b.proxy(px),
                    Err(e) => {
                        eprintln!("error: proxy {}: {e}", p.redacted());
                        return FAILED;
                    }
                }
            }
        }
    }
    let url = format!("{}/new?size={size}", base.to_string().trim_end_matches('/'));
    let result = b.build().map_err(|e| short(&e)).and_then(|c| {
        let r = c.get(&url).send().map_err(|e| short(&e))?;
        let status = r.status();
        let text = r.text().map_err(|e| short(&e))?;
        if status.is_success() {
            Ok(text.trim().to_string())
        } else {
            Err(format!("HTTP {status}: {}", text.trim()))
        }
    });
    match result.and_then(|t| {
        fleetnode::net::Url::parse(&t)
            .map(|_| t)
            .map_err(|e| format!("the service answered something that is not a URL ({e})"))
    }) {
        Ok(token) => {
            println!("{token}");
            eprintln!("put it in /etc/fleetnode.toml on every member (keep it secret: it lets anyone join):\n  [etcd]\n  discovery = \"{token}\"");
            OK
        }
        Err(e) => {
            eprintln!("error: {url}: {e}");
            FAILED
        }
    }
}
