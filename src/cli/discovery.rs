//! The discovery service: `fleetnode discovery new`, and the bootstrap check `fleetnode
//! health` runs while etcd is not up yet on a node bootstrapped by discovery.

use std::path::Path;
use std::time::Duration;

use fleetnode::config::Config;
use fleetnode::net::Url;
use fleetnode::{load, Outcome};
use serde::Deserialize;

use super::etcd::short;
use super::health::Status;
use super::{FAILED, OK, USAGE};

/// An HTTP client for `target` through the node's [proxy] (as etcd's discovery uses it),
/// and the proxy used, redacted for messages.
fn client(
    cfg: Option<&Config>,
    target: &Url,
) -> Result<(reqwest::blocking::Client, Option<String>), String> {
    let mut b = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3));
    let proxy = cfg
        .and_then(|c| c.proxy.as_ref())
        .and_then(|p| p.for_scheme(&target.scheme));
    if let Some(p) = proxy {
        let px = reqwest::Proxy::all(p.to_string())
            .map_err(|e| format!("proxy {}: {e}", p.redacted()))?;
        b = b.proxy(px);
    }
    let c = b.build().map_err(|e| short(&e))?;
    Ok((c, proxy.map(Url::redacted)))
}

fn via(proxy: &Option<String>) -> String {
    proxy
        .as_ref()
        .map_or(String::new(), |p| format!(" through proxy {p}"))
}

pub fn new(root: &Path, endpoint: &str, size: u32) -> u8 {
    if !(1..=99).contains(&size) {
        eprintln!("error: --size must be from 1 to 99");
        return USAGE;
    }
    let base = match Url::parse(endpoint) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: --endpoint: {e}");
            return USAGE;
        }
    };
    let cfg = match load(root) {
        Outcome::Valid { config, .. } => Some(config),
        _ => None,
    };
    let (http, proxy) = match client(cfg.as_deref(), &base) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return FAILED;
        }
    };
    let url = format!("{}/new?size={size}", base.to_string().trim_end_matches('/'));
    let result = http.get(&url).send().map_err(|e| short(&e)).and_then(|r| {
        let status = r.status();
        let text = r.text().map_err(|e| short(&e))?;
        if status.is_success() {
            Ok(text.trim().to_string())
        } else {
            Err(format!("HTTP {status}: {}", text.trim()))
        }
    });
    let checked = result.and_then(|t| {
        Url::parse(&t)
            .map(|_| t)
            .map_err(|e| format!("the service answered something that is not a URL ({e})"))
    });
    match checked {
        Ok(token) => {
            println!("{token}");
            eprintln!("put it in /etc/fleetnode.toml on every member (keep it secret: it lets anyone join):\n  [etcd]\n  discovery = \"{token}\"");
            OK
        }
        Err(e) => {
            eprintln!("error: {url}{}: {e}", via(&proxy));
            FAILED
        }
    }
}

#[derive(Deserialize, Default)]
struct Reply {
    #[serde(default)]
    node: Node,
}

#[derive(Deserialize, Default)]
struct Node {
    /// The registry path; its last component is the member ID (the rest holds the token).
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    nodes: Vec<Node>,
}

/// Why a discovery bootstrap is not getting anywhere: the service (or the proxy) cannot be
/// reached, the cluster behind the token is already full without this node, or this node
/// registered and then stopped waiting (`etcd_waiting`: etcd.service is activating/start).
pub fn inspect(cfg: &Config, url: &Url, etcd_waiting: Option<bool>) -> (Status, String) {
    let host = match url.port {
        Some(p) => format!("{}://{}:{p}", url.scheme, url.host),
        None => format!("{}://{}", url.scheme, url.host),
    };
    let (http, proxy) = match client(Some(cfg), url) {
        Ok(c) => c,
        Err(e) => return (Status::Fail, e),
    };
    // Errors without the URL: it holds the token, and health output lands in the journal.
    let get = |u: String| -> Result<Reply, String> {
        let r = http.get(&u).send().map_err(|e| short(&e.without_url()))?;
        if !r.status().is_success() {
            return Err(format!("HTTP {}", r.status()));
        }
        r.json::<Reply>()
            .map_err(|e| format!("unexpected reply: {}", short(&e.without_url())))
    };
    let base = url.to_string().trim_end_matches('/').to_string();
    let members = match get(base.clone()) {
        Ok(r) => r.node.nodes,
        Err(e) => {
            let what = if proxy.is_some() {
                "the discovery service or the proxy"
            } else {
                "the discovery service"
            };
            return (Status::Fail, format!("cannot reach {what}: {host}{}: {e}; check [proxy] and that the proxy allows {host}", via(&proxy)));
        }
    };
    let size: Option<usize> = get(format!("{base}/_config/size"))
        .ok()
        .and_then(|r| r.node.value?.parse().ok());
    let registered: Vec<String> = members.iter().filter_map(|n| n.value.clone()).collect();
    let mine = members.iter().find(|n| {
        n.value
            .as_deref()
            .is_some_and(|v| v.split('=').next() == Some(cfg.name.as_str()))
    });
    let me = mine.is_some();
    if let (Some(n), Some(false)) = (mine, etcd_waiting) {
        let id = n
            .key
            .as_deref()
            .and_then(|k| k.rsplit('/').next())
            .unwrap_or("?");
        return (
            Status::Fail,
            format!(
                "this node ({}) is registered at {host}{} (member {id}) but etcd.service is not waiting for the others: an earlier bootstrap with this token was interrupted (etcd stopped after it registered), and etcd will not register again (\"member has been registered with discovery service\"). Delete the entry (curl -X DELETE <discovery URL>/{id}) and restart etcd, or bootstrap every member with a new token (`fleetnode discovery new`)",
                cfg.name,
                via(&proxy)
            ),
        );
    }
    match size {
        Some(s) if registered.len() >= s && !me => (
            Status::Fail,
            format!(
                "the discovery cluster is full: {} of {s} members registered and this node ({}) is not one of them; it cannot join with this token, which bootstraps one cluster once. For a new cluster, create a new token (`fleetnode discovery new`) and give it to every member; fleetnode does not add a member to a running cluster (that is etcd's runtime reconfiguration: `etcdctl member add`)",
                registered.len(),
                cfg.name
            ),
        ),
        Some(s) => (Status::Warn, format!("{} of {s} members registered at {host}{}; waiting for the others", registered.len(), via(&proxy))),
        None => (Status::Warn, format!("{} members registered at {host}{}; the token has no size", registered.len(), via(&proxy))),
    }
}
