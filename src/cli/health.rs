//! `fleetnode health`: named checks, each with a status, a detail and its duration.
//! Exit 0 when nothing failed (warnings allowed), 1 otherwise.

use std::time::Instant;

use fleetnode::config::{Address, Bootstrap, Config, Role};
use fleetnode::{load, Outcome};
use serde_json::json;

use super::etcd::{wal_exists, Etcd, Member};
use super::systemd::Systemd;
use super::{core, discovery, fleet, FAILED, OK};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub millis: f64,
}

type Outcome2 = (Status, String);

fn timed(name: &'static str, f: impl FnOnce() -> Outcome2) -> Check {
    let t = Instant::now();
    let (status, detail) = f();
    Check {
        name,
        status,
        detail,
        millis: t.elapsed().as_secs_f64() * 1000.0,
    }
}

pub fn run(root: &std::path::Path, json_out: bool, sync_keys: bool) -> u8 {
    let checks = checks(root, sync_keys);
    for c in &checks {
        let (name, status, detail, ms) = (c.name, c.status.as_str(), c.detail.as_str(), c.millis);
        match c.status {
            Status::Fail => tracing::error!(
                check = name,
                status,
                detail,
                duration_ms = ms,
                "health check {name}: {status}"
            ),
            Status::Warn => tracing::warn!(
                check = name,
                status,
                detail,
                duration_ms = ms,
                "health check {name}: {status}"
            ),
            _ => tracing::info!(
                check = name,
                status,
                detail,
                duration_ms = ms,
                "health check {name}: {status}"
            ),
        }
    }
    if json_out {
        let v: Vec<_> = checks
            .iter()
            .map(|c| json!({ "name": c.name, "status": c.status.as_str(), "detail": c.detail, "duration_ms": (c.millis * 1000.0).round() / 1000.0 }))
            .collect();
        let healthy = !checks.iter().any(|c| c.status == Status::Fail);
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "healthy": healthy, "checks": v }))
                .unwrap_or_default()
        );
    } else {
        for c in &checks {
            println!(
                "{:<4} {:<16} {} ({:.1} ms)",
                c.status.as_str(),
                c.name,
                c.detail,
                c.millis
            );
        }
    }
    if checks.iter().any(|c| c.status == Status::Fail) {
        FAILED
    } else {
        OK
    }
}

pub fn checks(root: &std::path::Path, sync_keys: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let mut cfg: Option<Box<Config>> = None;
    out.push(timed("config", || match load(root) {
        Outcome::Valid { config, warnings } => {
            let d = if warnings.is_empty() {
                "valid".to_string()
            } else {
                format!("valid, {} warnings", warnings.len())
            };
            cfg = Some(config);
            (Status::Ok, d)
        }
        Outcome::Unconfigured => (
            Status::Skip,
            "not configured: no etcd or fleet on this node".into(),
        ),
        Outcome::Invalid(d) => (
            Status::Fail,
            d.first().map(|d| d.one_line()).unwrap_or_default(),
        ),
    }));
    let Some(cfg) = cfg else { return out };

    out.push(timed("units", || units(&cfg)));
    let etcd = Etcd::for_config(&cfg);
    let etcd = match etcd {
        Ok(e) => e,
        Err(e) => {
            out.push(Check {
                name: "etcd",
                status: Status::Fail,
                detail: e,
                millis: 0.0,
            });
            return out;
        }
    };
    out.push(timed("etcd-health", || {
        match etcd
            .endpoints
            .iter()
            .map(|e| (e, etcd.health_of(e)))
            .find(|(_, r)| r.is_ok())
        {
            Some((e, Ok(true))) => (Status::Ok, format!("{e}/health: true")),
            Some((e, _)) => (
                Status::Fail,
                format!("{e}/health: false (no leader or no quorum)"),
            ),
            None => (
                Status::Fail,
                format!("no etcd endpoint answers: {}", etcd.endpoints.join(", ")),
            ),
        }
    }));
    // A discovery bootstrap that goes nowhere: say whether the service, the proxy or a full
    // cluster is the reason.
    let etcd_down = out.last().is_some_and(|c| c.status == Status::Fail);
    // Only while etcd has no data: afterwards it never looks at the token again.
    if let (true, Bootstrap::Discovery(url)) = (etcd_down, &cfg.bootstrap) {
        let data_dir = std::path::Path::new(&cfg.data_dir);
        if !wal_exists(data_dir) {
            // Unless the data dir is readable (health runs as root), an absent WAL proves
            // nothing, and neither does a stopped etcd.
            let readable = !data_dir.exists() || std::fs::read_dir(data_dir).is_ok();
            let waiting = Systemd::connect()
                .and_then(|sd| sd.state("etcd.service"))
                .ok()
                .filter(|_| readable)
                .map(|s| s.active == "activating" && s.sub == "start");
            out.push(timed("etcd-discovery", || {
                discovery::inspect(&cfg, url, waiting)
            }));
        }
    }
    let mut members: Option<Vec<Member>> = None;
    out.push(timed("etcd-members", || match etcd.members() {
        Ok(m) => {
            let r = evaluate_members(&cfg, &m);
            members = Some(m);
            r
        }
        Err(e) => (Status::Fail, e),
    }));
    if let Some(m) = &members {
        out.push(timed("etcd-quorum", || {
            let healthy: Vec<bool> = m
                .iter()
                .map(|mem| {
                    mem.client_urls
                        .iter()
                        .any(|u| etcd.health_of(u).unwrap_or(false))
                })
                .collect();
            evaluate_quorum(&cfg, m, &healthy)
        }));
    }
    if cfg.role == Role::Member {
        // /v2/stats/self keeps naming the last leader after quorum is lost; /health does not.
        let serving = etcd.health_of(&etcd.endpoints[0]).unwrap_or(false);
        out.push(timed("etcd-leader", || {
            match etcd.self_stats(&etcd.endpoints[0]) {
                Ok(_) if !serving => (
                    Status::Fail,
                    "no leader: this member has no quorum (etcd /health is false)".into(),
                ),
                Ok(s) if !s.leader_info.leader.is_empty() => {
                    let leader = members
                        .as_ref()
                        .and_then(|m| m.iter().find(|x| x.id == s.leader_info.leader))
                        .map_or(s.leader_info.leader.clone(), |x| x.name.clone());
                    (
                        Status::Ok,
                        format!(
                            "leader {leader}; this member is {}",
                            s.state.trim_start_matches("State").to_lowercase()
                        ),
                    )
                }
                Ok(_) => (Status::Fail, "no leader".into()),
                Err(e) => (Status::Fail, e),
            }
        }));
    }
    if cfg.fleet_enabled {
        out.push(timed("fleet-machines", || {
            match (fleet::machines(fleet::SOCKET), core::machine_id()) {
                (Ok(m), Ok(id)) => {
                    evaluate_fleet(&cfg, &id, core::node_address(&cfg).as_deref(), &m)
                }
                (Err(e), _) | (_, Err(e)) => (Status::Fail, e),
            }
        }));
    }
    if sync_keys {
        out.push(timed("core-keys", || {
            let mut r = core::Report::default();
            match core::setup(&cfg, true, &mut r) {
                Ok(()) if r.warnings.is_empty() => (
                    Status::Ok,
                    if r.changes.is_empty() {
                        "in sync".into()
                    } else {
                        r.changes.join("; ")
                    },
                ),
                Ok(()) => (Status::Warn, r.warnings.join("; ")),
                Err(e) => (Status::Warn, e),
            }
        }));
    }
    out
}

fn units(cfg: &Config) -> Outcome2 {
    let sd = match Systemd::connect() {
        Ok(s) => s,
        Err(e) => return (Status::Fail, e),
    };
    let mut names = Vec::new();
    if cfg.runs_etcd() {
        names.push("etcd.service");
    }
    if cfg.fleet_enabled {
        names.extend(["fleet.socket", "fleet.service"]);
    }
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for n in names {
        match sd.state(n) {
            Ok(s) if s.load == "loaded" && s.active == "active" => good.push(format!("{n} active")),
            Ok(s) => bad.push(format!("{n} {}/{} ({})", s.active, s.sub, s.load)),
            Err(e) => bad.push(e),
        }
    }
    if bad.is_empty() {
        (Status::Ok, good.join(", "))
    } else {
        (Status::Fail, bad.join(", "))
    }
}

/// This node is a member with its expected peer URL; the member count matches the peers.
pub fn evaluate_members(cfg: &Config, members: &[Member]) -> Outcome2 {
    let names: Vec<&str> = members
        .iter()
        .map(|m| {
            if m.name.is_empty() {
                "(unstarted)"
            } else {
                m.name.as_str()
            }
        })
        .collect();
    if cfg.role == Role::Member {
        let me = members.iter().find(|m| m.name == cfg.name);
        let Some(me) = me else {
            return (
                Status::Fail,
                format!(
                    "this node ({}) is not a member; members: {}",
                    cfg.name,
                    names.join(", ")
                ),
            );
        };
        if let Address::Fixed(a) = &cfg.address {
            let want = format!(
                "{}://{}:{}",
                cfg.peer_scheme(),
                fleetnode::net::url_host(a),
                cfg.peer_port
            );
            if !me.peer_urls.iter().any(|u| u.trim_end_matches('/') == want) {
                return (
                    Status::Fail,
                    format!(
                        "member {} has peer URLs {:?}, expected {want}",
                        cfg.name, me.peer_urls
                    ),
                );
            }
        }
    }
    if let Bootstrap::Static(peers) = &cfg.bootstrap {
        if members.len() != peers.len() {
            return (
                Status::Warn,
                format!(
                    "{} members ({}), but etcd.peers lists {}",
                    members.len(),
                    names.join(", "),
                    peers.len()
                ),
            );
        }
    }
    (
        Status::Ok,
        format!("{} members: {}", members.len(), names.join(", ")),
    )
}

/// Missing members are a warning while a quorum is healthy, a failure once it is lost.
pub fn evaluate_quorum(cfg: &Config, members: &[Member], healthy: &[bool]) -> Outcome2 {
    let mut expected: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    if let Bootstrap::Static(peers) = &cfg.bootstrap {
        for (n, _) in peers {
            if !expected.contains(n) {
                expected.push(n.clone());
            }
        }
    }
    let total = expected.len();
    let up: Vec<&str> = members
        .iter()
        .zip(healthy)
        .filter(|(_, h)| **h)
        .map(|(m, _)| m.name.as_str())
        .collect();
    let down: Vec<&str> = expected
        .iter()
        .map(String::as_str)
        .filter(|n| !up.contains(n))
        .collect();
    let quorum = total / 2 + 1;
    if up.len() < quorum {
        (
            Status::Fail,
            format!(
                "quorum lost: {} of {total} members healthy (need {quorum}); unhealthy or unreachable: {}",
                up.len(),
                down.join(", ")
            ),
        )
    } else if !down.is_empty() {
        (
            Status::Warn,
            format!(
                "{} of {total} members healthy, quorum holds; missing: {}",
                up.len(),
                down.join(", ")
            ),
        )
    } else {
        (
            Status::Ok,
            format!("{} of {total} members healthy", up.len()),
        )
    }
}

/// fleet lists this machine with the configured address and metadata, and no other machine
/// claims this node's id or address (cloned hosts).
pub fn evaluate_fleet(
    cfg: &Config,
    machine_id: &str,
    address: Option<&str>,
    machines: &[fleet::Machine],
) -> Outcome2 {
    let Some(me) = machines.iter().find(|m| m.id == machine_id) else {
        return (
            Status::Fail,
            format!(
                "fleet does not list this machine ({machine_id}); {} machines listed",
                machines.len()
            ),
        );
    };
    if let Some(a) = address {
        if me.primary_ip != a {
            return (
                Status::Fail,
                format!("machine {machine_id} is listed with address {}, not {a}: another host with the same /etc/machine-id (a clone?)", me.primary_ip),
            );
        }
        if let Some(other) = machines
            .iter()
            .find(|m| m.id != machine_id && m.primary_ip == a)
        {
            return (Status::Fail, format!("machine {} also reports this node's address {a} (a clone with a new machine-id, or an address conflict)", other.id));
        }
    }
    if me.metadata != cfg.metadata {
        return (
            Status::Fail,
            format!(
                "fleet has metadata {:?}, the configuration says {:?}",
                me.metadata, cfg.metadata
            ),
        );
    }
    (
        Status::Ok,
        format!(
            "{} machines; this one ({}) at {} with {} metadata pairs",
            machines.len(),
            &machine_id[..8.min(machine_id.len())],
            me.primary_ip,
            me.metadata.len()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetnode::source::{parse_and_merge, SourceFile, Sources};

    fn cfg(extra: &str) -> Config {
        let text = format!("[node]\nname = \"a\"\naddress = \"10.0.0.1\"\n[etcd]\npeers = {{ a = \"10.0.0.1\", b = \"10.0.0.2\", c = \"10.0.0.3\" }}\n{extra}");
        let s = Sources {
            files: vec![SourceFile {
                name: "/etc/fleetnode.toml".into(),
                text,
            }],
        };
        fleetnode::config::validate(&parse_and_merge(&s).unwrap(), &s, None)
            .config
            .unwrap()
    }

    fn member(name: &str, ip: &str) -> Member {
        Member {
            id: name.into(),
            name: name.into(),
            peer_urls: vec![format!("http://{ip}:2380")],
            client_urls: vec![format!("http://{ip}:2379")],
        }
    }

    #[test]
    fn quorum_rules() {
        let c = cfg("");
        let m = vec![
            member("a", "10.0.0.1"),
            member("b", "10.0.0.2"),
            member("c", "10.0.0.3"),
        ];
        assert_eq!(evaluate_quorum(&c, &m, &[true, true, true]).0, Status::Ok);
        let (s, d) = evaluate_quorum(&c, &m, &[true, true, false]);
        assert_eq!(s, Status::Warn);
        assert!(d.contains("missing: c"), "{d}");
        assert_eq!(
            evaluate_quorum(&c, &m, &[true, false, false]).0,
            Status::Fail
        );
        // A member that never joined counts against the quorum too.
        assert_eq!(evaluate_quorum(&c, &m[..2], &[true, true]).0, Status::Warn);
    }

    #[test]
    fn member_checks() {
        let c = cfg("");
        let m = vec![
            member("a", "10.0.0.1"),
            member("b", "10.0.0.2"),
            member("c", "10.0.0.3"),
        ];
        assert_eq!(evaluate_members(&c, &m).0, Status::Ok);
        assert_eq!(
            evaluate_members(&c, &m[1..]).0,
            Status::Fail,
            "this node missing"
        );
        let wrong = vec![
            member("a", "10.0.0.9"),
            member("b", "10.0.0.2"),
            member("c", "10.0.0.3"),
        ];
        assert_eq!(
            evaluate_members(&c, &wrong).0,
            Status::Fail,
            "wrong peer URL"
        );
        assert_eq!(evaluate_members(&c, &m[..2]).0, Status::Warn);
    }

    #[test]
    fn fleet_checks() {
        let c = cfg("[fleet]\nmetadata = { az = \"x\" }\n");
        let md: std::collections::BTreeMap<String, String> =
            [("az".to_string(), "x".to_string())].into();
        let me = fleet::Machine {
            id: "m1".into(),
            primary_ip: "10.0.0.1".into(),
            metadata: md.clone(),
        };
        let other = fleet::Machine {
            id: "m2".into(),
            primary_ip: "10.0.0.2".into(),
            metadata: md.clone(),
        };
        assert_eq!(
            evaluate_fleet(&c, "m1", Some("10.0.0.1"), &[me.clone(), other.clone()]).0,
            Status::Ok
        );
        assert_eq!(
            evaluate_fleet(&c, "m3", Some("10.0.0.1"), std::slice::from_ref(&me)).0,
            Status::Fail
        );
        let clone = fleet::Machine {
            id: "m1".into(),
            primary_ip: "10.0.0.7".into(),
            metadata: md.clone(),
        };
        let (s, d) = evaluate_fleet(&c, "m1", Some("10.0.0.1"), &[clone]);
        assert_eq!(s, Status::Fail);
        assert!(d.contains("same /etc/machine-id"), "{d}");
        let same_ip = fleet::Machine {
            id: "m9".into(),
            primary_ip: "10.0.0.1".into(),
            metadata: md,
        };
        assert_eq!(
            evaluate_fleet(&c, "m1", Some("10.0.0.1"), &[me.clone(), same_ip]).0,
            Status::Fail
        );
        let no_md = fleet::Machine {
            metadata: Default::default(),
            ..me
        };
        assert_eq!(
            evaluate_fleet(&c, "m1", Some("10.0.0.1"), &[no_md]).0,
            Status::Fail
        );
    }
}
