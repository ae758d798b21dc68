//! `fleetnode status`: what this node is, and what the cluster looks like from here.

use std::path::Path;

use fleetnode::{load, Outcome};

use super::etcd::Etcd;
use super::{check, fleet, health, FAILED, OK};

pub fn run(root: &Path) -> u8 {
    let cfg = match load(root) {
        Outcome::Valid { config, .. } => config,
        Outcome::Unconfigured => {
            println!("not configured: this host runs no etcd or fleet (edit /etc/fleetnode.toml)");
            return OK;
        }
        Outcome::Invalid(d) => {
            for d in &d {
                eprintln!("{d}");
            }
            return FAILED;
        }
    };
    println!("{}", check::summary(&cfg));
    println!();
    for c in health::checks(root, false).iter().skip(1) {
        println!(
            "{:<4} {:<16} {}",
            match c.status {
                health::Status::Ok => "ok",
                health::Status::Warn => "warn",
                health::Status::Fail => "fail",
                health::Status::Skip => "skip",
            },
            c.name,
            c.detail
        );
    }
    if let Ok(etcd) = Etcd::for_config(&cfg) {
        if let Ok(members) = etcd.members() {
            println!("\netcd members:");
            println!(
                "  {:<16} {:<28} {:<28} health",
                "NAME", "PEER URLS", "CLIENT URLS"
            );
            for m in members {
                let healthy = m
                    .client_urls
                    .iter()
                    .any(|u| etcd.health_of(u).unwrap_or(false));
                println!(
                    "  {:<16} {:<28} {:<28} {}",
                    m.name,
                    m.peer_urls.join(","),
                    m.client_urls.join(","),
                    if healthy { "healthy" } else { "UNREACHABLE" }
                );
            }
        }
    }
    if cfg.fleet_enabled {
        if let Ok(machines) = fleet::machines(fleet::SOCKET) {
            println!("\nfleet machines:");
            println!("  {:<10} {:<18} METADATA", "MACHINE", "IP");
            for m in machines {
                let md: Vec<String> = m.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "  {:<10} {:<18} {}",
                    &m.id[..8.min(m.id.len())],
                    m.primary_ip,
                    md.join(",")
                );
            }
        }
    }
    OK
}
