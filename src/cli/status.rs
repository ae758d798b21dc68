//! `fleetnode status [--json]`: one screen on this node and the cluster as seen from here:
//! the health checks, etcd members with the leader and each follower's latency and fail
//! counts, fleet machines, and fleet units with the machine they run on.

use std::path::Path;

use serde_json::{json, Value};

use super::etcd::Etcd;
use super::{check, fleet, health, OK};

pub fn run(root: &Path, as_json: bool) -> u8 {
    let cfg = match super::valid_config(root) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let checks: Vec<Value> = health::checks(root, false)
        .iter()
        .map(|c| json!({ "name": c.name, "status": c.status.as_str(), "detail": c.detail }))
        .collect();
    let members = etcd_members(&cfg);
    let (machines, units) = if cfg.fleet_enabled {
        fleet_view()
    } else {
        (json!([]), json!([]))
    };
    let v = json!({ "node": check::summary(&cfg), "checks": checks, "members": members, "machines": machines, "units": units });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_human(&v);
    }
    OK
}

fn etcd_members(cfg: &fleetnode::config::Config) -> Value {
    let Ok(etcd) = Etcd::for_config(cfg) else {
        return json!([]);
    };
    let Ok(members) = etcd.members() else {
        return json!([]);
    };
    // The leader, from any member's view, then its per-follower statistics.
    let leader_id = members
        .iter()
        .flat_map(|m| m.client_urls.iter())
        .find_map(|u| {
            etcd.self_stats(u)
                .ok()
                .map(|s| s.leader_info.leader)
                .filter(|l| !l.is_empty())
        });
    let leader_stats = leader_id.as_ref().and_then(|id| {
        let l = members.iter().find(|m| &m.id == id)?;
        l.client_urls.iter().find_map(|u| etcd.leader_stats(u).ok())
    });
    members
        .iter()
        .map(|m| {
            let healthy = m
                .client_urls
                .iter()
                .any(|u| etcd.health_of(u).unwrap_or(false));
            let is_leader = leader_id.as_deref() == Some(m.id.as_str());
            let f = leader_stats.as_ref().and_then(|s| s.followers.get(&m.id));
            json!({
                "name": m.name, "id": m.id, "peer_urls": m.peer_urls, "client_urls": m.client_urls,
                "healthy": healthy, "leader": is_leader,
                "latency_ms": f.map(|f| f.latency.current * 1000.0),
                "latency_avg_ms": f.map(|f| f.latency.average * 1000.0),
                "fails": f.map(|f| f.counts.fail),
                "successes": f.map(|f| f.counts.success),
            })
        })
        .collect()
}

fn fleet_view() -> (Value, Value) {
    let machines = fleet::machines(fleet::SOCKET).unwrap_or_default();
    let ip_of = |id: &str| {
        machines
            .iter()
            .find(|m| m.id == id)
            .map_or(String::new(), |m| m.primary_ip.clone())
    };
    let units: Vec<Value> = fleet::states(fleet::SOCKET)
        .unwrap_or_default()
        .iter()
        .map(|u| json!({ "name": u.name, "machine": u.machine_id, "ip": ip_of(&u.machine_id), "active": u.active, "sub": u.sub }))
        .collect();
    let machines: Vec<Value> = machines
        .iter()
        .map(|m| json!({ "id": m.id, "ip": m.primary_ip, "metadata": m.metadata }))
        .collect();
    (json!(machines), json!(units))
}

fn print_human(v: &Value) {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    println!("{}\n", s(&v["node"]));
    for c in v["checks"].as_array().into_iter().flatten() {
        println!(
            "{:<4} {:<16} {}",
            s(&c["status"]),
            s(&c["name"]),
            s(&c["detail"])
        );
    }
    if let Some(ms) = v["members"].as_array().filter(|a| !a.is_empty()) {
        println!(
            "\netcd members:\n  {:<14} {:<26} {:<26} {:<8} {:>10} {:>6}",
            "NAME", "PEER URLS", "CLIENT URLS", "STATE", "LATENCY", "FAILS"
        );
        for m in ms {
            let join = |a: &Value| {
                a.as_array()
                    .map(|x| x.iter().map(s).collect::<Vec<_>>().join(","))
                    .unwrap_or_default()
            };
            let state = if m["leader"] == json!(true) {
                "leader"
            } else if m["healthy"] == json!(true) {
                "follower"
            } else {
                "DOWN"
            };
            let lat = m["latency_ms"]
                .as_f64()
                .map_or("-".into(), |l| format!("{l:.2} ms"));
            let fails = m["fails"].as_u64().map_or("-".into(), |f| f.to_string());
            println!(
                "  {:<14} {:<26} {:<26} {:<8} {:>10} {:>6}",
                s(&m["name"]),
                join(&m["peer_urls"]),
                join(&m["client_urls"]),
                state,
                lat,
                fails
            );
        }
    }
    if let Some(ms) = v["machines"].as_array().filter(|a| !a.is_empty()) {
        println!(
            "\nfleet machines:\n  {:<10} {:<18} METADATA",
            "MACHINE", "IP"
        );
        for m in ms {
            let md = m["metadata"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| format!("{k}={}", s(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let id = s(&m["id"]);
            println!("  {:<10} {:<18} {md}", &id[..8.min(id.len())], s(&m["ip"]));
        }
    }
    if let Some(us) = v["units"].as_array().filter(|a| !a.is_empty()) {
        println!(
            "\nfleet units:\n  {:<30} {:<10} {:<18} STATE",
            "UNIT", "MACHINE", "IP"
        );
        for u in us {
            let id = s(&u["machine"]);
            println!(
                "  {:<30} {:<10} {:<18} {}/{}",
                s(&u["name"]),
                &id[..8.min(id.len())],
                s(&u["ip"]),
                s(&u["active"]),
                s(&u["sub"])
            );
        }
    }
}
