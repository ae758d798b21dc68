//! A small client for etcd's v2 API (the API fleet uses): health, members, stats, keys.

use std::path::Path;
use std::time::Duration;

use fleetnode::config::{Config, Role};
use serde::Deserialize;

pub struct Etcd {
    http: reqwest::blocking::Client,
    /// Client URLs to try, in order (the local member first on members).
    pub endpoints: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Member {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Members {
    members: Vec<Member>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct SelfStats {
    #[serde(default)]
    pub state: String,
    #[serde(rename = "leaderInfo", default)]
    pub leader_info: LeaderInfo,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct LeaderInfo {
    #[serde(default)]
    pub leader: String,
}

/// /v2/stats/leader on the leader: each follower's latency and counts.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct LeaderStats {
    #[serde(default)]
    pub followers: std::collections::BTreeMap<String, FollowerStats>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct FollowerStats {
    #[serde(default)]
    pub latency: Latency,
    #[serde(default)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Latency {
    #[serde(default)]
    pub current: f64,
    #[serde(default)]
    pub average: f64,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Counts {
    #[serde(default)]
    pub fail: u64,
    #[serde(default)]
    pub success: u64,
}

#[derive(Debug, Deserialize)]
struct KeyResponse {
    node: Option<KeyNode>,
}

#[derive(Debug, Deserialize, Default)]
pub struct KeyNode {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub nodes: Vec<KeyNode>,
}

pub type Result<T> = std::result::Result<T, String>;

impl Etcd {
    /// A client for this node's view of the cluster, with the TLS settings of [etcd.tls].
    pub fn for_config(cfg: &Config) -> Result<Etcd> {
        let endpoints = match cfg.role {
            Role::Member => vec![format!(
                "{}://127.0.0.1:{}",
                cfg.client_scheme(),
                cfg.client_port
            )],
            Role::Client => cfg.endpoints.clone(),
        };
        let mut b = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(1))
            // etcd is on the cluster network: never through the proxy of [proxy].
            .no_proxy();
        let t = &cfg.tls;
        if let Some(ca) = &t.ca {
            let pem =
                std::fs::read(ca).map_err(|e| format!("cannot read etcd.tls.ca {ca}: {e}"))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("etcd.tls.ca {ca}: {e}"))?;
            b = b.add_root_certificate(cert);
        }
        if let (Some(cert), Some(key)) = (&t.cert, &t.key) {
            let mut pem = std::fs::read(cert)
                .map_err(|e| format!("cannot read etcd.tls.cert {cert}: {e}"))?;
            pem.extend(
                std::fs::read(key).map_err(|e| format!("cannot read etcd.tls.key {key}: {e}"))?,
            );
            let id =
                reqwest::Identity::from_pem(&pem).map_err(|e| format!("etcd.tls.cert/key: {e}"))?;
            b = b.identity(id);
        }
        let http = b.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Etcd { http, endpoints })
    }

    fn get_json<T: for<'de> Deserialize<'de>>(&self, base: &str, path: &str) -> Result<T> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let resp = self
            .http
            .get(&url)
            .send()
            .map_err(|e| format!("{url}: {}", short(&e)))?;
        let status = resp.status();
        if !status.is_success() && status.as_u16() != 503 {
            return Err(format!("{url}: HTTP {status}"));
        }
        resp.json::<T>()
            .map_err(|e| format!("{url}: unexpected reply: {}", short(&e)))
    }

    /// The first endpoint that answers `path`.
    fn any<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T> {
        let mut errors = Vec::new();
        for e in &self.endpoints {
            match self.get_json(e, path) {
                Ok(v) => return Ok(v),
                Err(err) => errors.push(err),
            }
        }
        Err(errors.join("; "))
    }

    /// `/health` of one client URL: Ok(true) healthy, Ok(false) answering but unhealthy.
    pub fn health_of(&self, base: &str) -> Result<bool> {
        #[derive(Deserialize)]
        struct H {
            health: serde_json::Value,
        }
        let h: H = self.get_json(base, "/health")?;
        Ok(h.health == serde_json::json!("true") || h.health == serde_json::json!(true))
    }

    pub fn members(&self) -> Result<Vec<Member>> {
        Ok(self.any::<Members>("/v2/members")?.members)
    }

    pub fn self_stats(&self, base: &str) -> Result<SelfStats> {
        self.get_json(base, "/v2/stats/self")
    }

    pub fn leader_stats(&self, base: &str) -> Result<LeaderStats> {
        self.get_json(base, "/v2/stats/leader")
    }

    /// Sets a key (v2 API); `ttl` in seconds.
    pub fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<()> {
        let mut errors = Vec::new();
        for e in &self.endpoints {
            let url = format!("{}/v2/keys{key}", e.trim_end_matches('/'));
            let mut form = vec![("value", value.to_string())];
            if let Some(t) = ttl {
                form.push(("ttl", t.to_string()));
            }
            match self.http.put(&url).form(&form).send() {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => errors.push(format!("{url}: HTTP {}", r.status())),
                Err(err) => errors.push(format!("{url}: {}", short(&err))),
            }
        }
        Err(errors.join("; "))
    }

    /// The values below a directory key (empty if the directory does not exist).
    pub fn list(&self, dir: &str) -> Result<Vec<(String, String)>> {
        let mut errors = Vec::new();
        for e in &self.endpoints {
            let url = format!("{}/v2/keys{dir}?recursive=false", e.trim_end_matches('/'));
            match self.http.get(&url).send() {
                Ok(r) if r.status().as_u16() == 404 => return Ok(Vec::new()),
                Ok(r) if r.status().is_success() => {
                    let k: KeyResponse = r
                        .json()
                        .map_err(|e| format!("{url}: unexpected reply: {}", short(&e)))?;
                    return Ok(k
                        .node
                        .unwrap_or_default()
                        .nodes
                        .into_iter()
                        .filter_map(|n| Some((n.key.rsplit('/').next()?.to_string(), n.value?)))
                        .collect());
                }
                Ok(r) => errors.push(format!("{url}: HTTP {}", r.status())),
                Err(err) => errors.push(format!("{url}: {}", short(&err))),
            }
        }
        Err(errors.join("; "))
    }
}

/// Whether etcd has data (a member that never looks at bootstrap settings again): as etcd
/// decides it, a `*.wal` file in member/wal. A bootstrap that failed (a full or reused
/// discovery token) leaves member/snap behind but no WAL, and the next start bootstraps again.
pub fn wal_exists(data_dir: &Path) -> bool {
    std::fs::read_dir(data_dir.join("member").join("wal")).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".wal"))
    })
}

/// reqwest's error with its cause chain, on one line.
pub fn short(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn data_is_a_wal_file_not_a_member_dir() {
        let d = std::env::temp_dir().join(format!("fleetnode-wal-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        assert!(!wal_exists(&d), "no data dir");
        // What a failed discovery bootstrap leaves: member/snap/db, no WAL.
        fs::create_dir_all(d.join("member/snap")).unwrap();
        fs::write(d.join("member/snap/db"), b"x").unwrap();
        fs::create_dir_all(d.join("member/wal")).unwrap();
        assert!(
            !wal_exists(&d),
            "member/snap and an empty member/wal are not data"
        );
        fs::write(d.join("member/wal/0.tmp"), b"x").unwrap();
        assert!(
            !wal_exists(&d),
            "a preallocated temporary file is not a WAL"
        );
        fs::write(
            d.join("member/wal/0000000000000000-0000000000000000.wal"),
            b"x",
        )
        .unwrap();
        assert!(wal_exists(&d));
        fs::remove_dir_all(&d).unwrap();
    }
}
