//! The configuration model and its validation.
//!
//! The merged TOML tree (see `source`) is walked by hand rather than through serde derive, so
//! that every problem can be reported with the file, line and column of the offending value,
//! the dotted key path, what was expected, and a hint, and so that all problems are reported at
//! once rather than the first one only.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::diag::{closest, Diagnostic, Loc};
use crate::net::{self, Url};
use crate::source::{Node, Sources, Table, Val};

/// A value and where it was written (None for defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    pub v: T,
    pub loc: Option<Loc>,
}

impl<T> At<T> {
    fn default(v: T) -> Self {
        At { v, loc: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Member,
    Client,
}

/// Where the node's own address comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// Known when the units are generated: an IP or a host name.
    Fixed(String),
    /// Read from this interface when the units start (the generator runs before the network).
    Interface(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Static peers, sorted by name: (name, address).
    Static(Vec<(String, String)>),
    Discovery(Url),
    DiscoverySrv(String),
    /// role = "client": no etcd runs here.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub peer_ca: Option<String>,
    pub peer_cert: Option<String>,
    pub peer_key: Option<String>,
    pub client_cert_auth: bool,
    pub peer_client_cert_auth: bool,
}

impl Tls {
    pub fn client_tls(&self) -> bool {
        self.cert.is_some()
    }
    pub fn peer_tls(&self) -> bool {
        self.peer_cert.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub http: Option<Url>,
    pub https: Option<Url>,
    pub no_proxy: Vec<String>,
}

impl Proxy {
    /// The proxy for a URL of this scheme: the matching one, else the other.
    pub fn for_scheme(&self, scheme: &str) -> Option<&Url> {
        if scheme == "https" {
            self.https.as_ref().or(self.http.as_ref())
        } else {
            self.http.as_ref().or(self.https.as_ref())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub name: String,
    pub address: Address,
    pub role: Role,
    pub bootstrap: Bootstrap,
    pub cluster_token: String,
    pub data_dir: String,
    pub client_port: u16,
    pub peer_port: u16,
    /// Client URLs for role = "client" (explicit, or derived from the static peers).
    pub endpoints: Vec<String>,
    pub tls: Tls,
    pub proxy: Option<Proxy>,
    pub fleet_enabled: bool,
    /// Sorted by key, so FLEET_METADATA is deterministic.
    pub metadata: BTreeMap<String, String>,
    pub core: Core,
    /// Seconds between health checks.
    pub health_interval_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Core {
    pub user: String,
    pub authorized_keys: Vec<String>,
    pub authorized_keys_dir: String,
    pub private_key: Option<String>,
    /// Publish and accept core and host keys through etcd (see SECURITY.md).
    pub exchange_keys: bool,
}

impl Config {
    pub fn client_scheme(&self) -> &'static str {
        if self.tls.client_tls() {
            "https"
        } else {
            "http"
        }
    }
    pub fn peer_scheme(&self) -> &'static str {
        if self.tls.peer_tls() {
            "https"
        } else {
            "http"
        }
    }
    pub fn runs_etcd(&self) -> bool {
        self.role == Role::Member
    }
}

pub const DEFAULT_DATA_DIR: &str = "/var/lib/etcd";
pub const DEFAULT_TOKEN: &str = "fleetnode";

/// The outcome of validation: a config (when there is no error) plus every diagnostic.
pub struct Validated {
    pub config: Option<Config>,
    pub diagnostics: Vec<Diagnostic>,
}

const TOP_KEYS: &[&str] = &["node", "etcd", "proxy", "fleet", "core", "health"];
const NODE_KEYS: &[&str] = &["name", "address", "interface"];
const ETCD_KEYS: &[&str] = &[
    "role",
    "peers",
    "discovery",
    "discovery_srv",
    "cluster_token",
    "data_dir",
    "client_port",
    "peer_port",
    "endpoints",
    "tls",
];
const TLS_KEYS: &[&str] = &[
    "ca",
    "cert",
    "key",
    "peer_ca",
    "peer_cert",
    "peer_key",
    "client_cert_auth",
    "peer_client_cert_auth",
];
const PROXY_KEYS: &[&str] = &["http", "https", "no_proxy"];
const FLEET_KEYS: &[&str] = &["enabled", "metadata"];
const CORE_KEYS: &[&str] = &[
    "user",
    "authorized_keys",
    "authorized_keys_dir",
    "private_key",
    "exchange_keys",
];
const HEALTH_KEYS: &[&str] = &["interval"];

/// Validates the merged tree. `hostname` is the static host name, the default node name.
pub fn validate(tree: &Table, sources: &Sources, hostname: Option<&str>) -> Validated {
    let mut r = Reader {
        src: sources,
        diags: Vec::new(),
        suppressed: 0,
    };
    let config = r.config(tree, hostname);
    sort_diagnostics(&mut r.diags, sources);
    if r.suppressed > 0 {
        let n = r.suppressed;
        r.diags.push(
            Diagnostic::new(
                sources
                    .files
                    .first()
                    .map_or(crate::source::MAIN_CONFIG, |f| f.name.as_str()),
                "",
                format!("and {n} more problems, not shown"),
            )
            .with_hint("fix the ones above, then check again"),
        );
    }
    let has_error = r.diags.iter().any(Diagnostic::is_error);
    Validated {
        config: if has_error { None } else { config },
        diagnostics: r.diags,
    }
}

/// File order (as read), then line and column; problems without a position come last.
pub fn sort_diagnostics(diags: &mut [Diagnostic], sources: &Sources) {
    let file_index = |name: &str| {
        sources
            .files
            .iter()
            .position(|f| f.name == name)
            .unwrap_or(usize::MAX)
    };
    diags.sort_by_key(|d| (d.line == 0, file_index(&d.file), d.line, d.column));
}

struct Reader<'a> {
    src: &'a Sources,
    diags: Vec<Diagnostic>,
    /// Problems beyond MAX_DIAGNOSTICS, counted but not described.
    suppressed: usize,
}

/// A hostile or broken file can hold many thousands of errors; describing each costs time
/// at boot and floods the kernel log. The first ones are what an operator fixes anyway.
pub const MAX_DIAGNOSTICS: usize = 100;

/// Records `name` for `key` unless the key is taken; returns the name that took it first.
fn first_with<'a>(
    seen: &mut BTreeMap<String, &'a str>,
    key: String,
    name: &'a str,
) -> Option<&'a str> {
    match seen.entry(key) {
        std::collections::btree_map::Entry::Occupied(e) => Some(*e.get()),
        std::collections::btree_map::Entry::Vacant(v) => {
            v.insert(name);
            None
        }
    }
}

/// A dotted key path; keys that are not plain words are quoted, so a key can never carry a
/// newline or an escape sequence into a diagnostic (and from there into logs or a terminal).
fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if plain {
        key.to_string()
    } else {
        quote_key(key)
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

fn quote_key(k: &str) -> String {
    let mut s = String::from("\"");
    for c in k.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if c.is_control() => s.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Shows a user value in a message: quoted, control characters escaped, long values cut.
pub fn show(v: &str) -> String {
    let mut s = quote_key(v);
    if s.chars().count() > 80 {
        s = s.chars().take(77).collect::<String>() + "...\"";
    }
    s
}

impl Reader<'_> {
    fn err(
        &mut self,
        loc: Option<Loc>,
        key: &str,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        if self.diags.len() >= MAX_DIAGNOSTICS {
            self.suppressed += 1;
            return;
        }
        let hint = hint.into();
        let mut d = self.src.diag_at(loc, key, msg);
        if !hint.is_empty() {
            d = d.with_hint(hint);
        }
        self.diags.push(d);
    }

    fn warn(
        &mut self,
        loc: Option<Loc>,
        key: &str,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let d = self.src.diag_at(loc, key, msg).with_hint(hint).warning();
        self.diags.push(d);
    }

    /// Reports keys of `t` that are not in `allowed`, with a did-you-mean hint.
    fn check_keys(&mut self, t: &Table, path: &str, allowed: &[&str]) {
        for (k, n) in t {
            if allowed.contains(&k.as_str()) {
                continue;
            }
            let hint = match closest(k, allowed) {
                Some(c) => format!("did you mean \"{c}\"?"),
                None => format!("known keys here: {}", allowed.join(", ")),
            };
            let what = if path.is_empty() {
                "unknown section".to_string()
            } else {
                format!("unknown key in [{path}]")
            };
            self.err(n.key_loc.or(Some(n.loc)), &join(path, k), what, hint);
        }
    }

    fn table<'t>(
        &mut self,
        t: &'t Table,
        path: &str,
        key: &str,
        allowed: &[&str],
    ) -> Option<&'t Table> {
        let n = t.get(key)?;
        let p = join(path, key);
        match &n.val {
            Val::Table(inner) => {
                self.check_keys(inner, &p, allowed);
                Some(inner)
            }
            other => {
                self.type_err(n, &p, "a table", other);
                None
            }
        }
    }

    fn type_err(&mut self, n: &Node, path: &str, expected: &str, found: &Val) {
        let hint = match expected {
            "a string" => "put the value in double quotes",
            "a table" => "write it as a [section] or an inline table { key = \"value\" }",
            "an array of strings" => "write a list: [\"a\", \"b\"]",
            "a boolean" => "write true or false, without quotes",
            "an integer" => "write a number without quotes",
            _ => "",
        };
        self.err(
            Some(n.loc),
            path,
            format!("expected {expected}, found {}", found.type_name()),
            hint,
        );
    }

    /// A string without control characters (newlines, NUL, ...), which could break a unit file.
    fn text(&mut self, n: &Node, path: &str) -> Option<At<String>> {
        let Val::Str(s) = &n.val else {
            self.type_err(n, path, "a string", &n.val);
            return None;
        };
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            self.err(
                Some(n.loc),
                path,
                format!("contains the control character U+{:04X}", c as u32),
                "newlines, tabs and other control characters are not allowed in any value",
            );
            return None;
        }
        Some(At {
            v: s.clone(),
            loc: Some(n.loc),
        })
    }

    fn opt_text(&mut self, t: Option<&Table>, path: &str, key: &str) -> Option<At<String>> {
        let n = t?.get(key)?;
        self.text(n, &join(path, key))
    }

    fn opt_bool(&mut self, t: Option<&Table>, path: &str, key: &str) -> Option<bool> {
        let n = t?.get(key)?;
        match n.val {
            Val::Bool(b) => Some(b),
            ref other => {
                self.type_err(n, &join(path, key), "a boolean", other);
                None
            }
        }
    }

    fn opt_port(&mut self, t: Option<&Table>, path: &str, key: &str, default: u16) -> At<u16> {
        let Some(n) = t.and_then(|t| t.get(key)) else {
            return At::default(default);
        };
        let p = join(path, key);
        match n.val {
            Val::Int(i) if (1024..=65535).contains(&i) => At {
                v: i as u16,
                loc: Some(n.loc),
            },
            Val::Int(i) if (1..1024).contains(&i) => {
                self.err(
                    Some(n.loc),
                    &p,
                    format!("port {i} is privileged: etcd runs as user etcd and cannot bind it"),
                    "use a port from 1024 to 65535 (the defaults are 2379 and 2380)",
                );
                At::default(default)
            }
            Val::Int(i) => {
                self.err(
                    Some(n.loc),
                    &p,
                    format!("expected a port number from 1 to 65535, found {i}"),
                    "",
                );
                At::default(default)
            }
            ref other => {
                self.type_err(n, &p, "an integer", other);
                At::default(default)
            }
        }
    }

    /// An array of strings with each item's index; None (after reporting) if the value or
    /// any item is bad; empty if absent.
    fn string_array(
        &mut self,
        t: Option<&Table>,
        path: &str,
        key: &str,
    ) -> Option<Vec<(usize, At<String>)>> {
        let Some(n) = t.and_then(|t| t.get(key)) else {
            return Some(Vec::new());
        };
        let p = join(path, key);
        let Val::Array(items) = &n.val else {
            self.type_err(n, &p, "an array of strings", &n.val);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, e) in items.iter().enumerate() {
            match self.text(e, &format!("{p}[{i}]")) {
                Some(v) => out.push((i, v)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A table of strings, e.g. `peers` or `metadata`: (key, key location, value).
    fn string_map(
        &mut self,
        t: Option<&Table>,
        path: &str,
        key: &str,
    ) -> Option<Vec<(At<String>, At<String>)>> {
        let n = t?.get(key)?;
        let p = join(path, key);
        let Val::Table(m) = &n.val else {
            self.type_err(n, &p, "a table", &n.val);
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in m {
            let kp = join(&p, k);
            if let Some(val) = self.text(v, &kp) {
                out.push((
                    At {
                        v: k.clone(),
                        loc: v.key_loc.or(Some(v.loc)),
                    },
                    val,
                ));
            }
        }
        Some(out)
    }

    fn config(&mut self, tree: &Table, hostname: Option<&str>) -> Option<Config> {
        self.check_keys(tree, "", TOP_KEYS);
        let node = self.table(tree, "", "node", NODE_KEYS);
        let etcd = self.table(tree, "", "etcd", ETCD_KEYS);
        let tls_t = etcd.and_then(|e| self.table(e, "etcd", "tls", TLS_KEYS));
        let proxy_t = self.table(tree, "", "proxy", PROXY_KEYS);
        let fleet = self.table(tree, "", "fleet", FLEET_KEYS);
        let core_t = self.table(tree, "", "core", CORE_KEYS);
        let health = self.table(tree, "", "health", HEALTH_KEYS);

        let name = self.node_name(node, hostname);
        let address = self.node_address(node);
        let role = self.role(etcd);
        let client_port = self.opt_port(etcd, "etcd", "client_port", 2379);
        let peer_port = self.opt_port(etcd, "etcd", "peer_port", 2380);
        if client_port.v == peer_port.v {
            self.err(
                peer_port.loc.or(client_port.loc),
                "etcd.peer_port",
                format!("client_port and peer_port are both {}", peer_port.v),
                "etcd needs two different ports (the defaults are 2379 and 2380)",
            );
        }
        let bootstrap = self.bootstrap(etcd, role, name.as_ref(), address.as_ref());
        let cluster_token = match self.opt_text(etcd, "etcd", "cluster_token") {
            Some(t) if t.v.is_empty() || t.v.contains(',') => {
                self.err(
                    t.loc,
                    "etcd.cluster_token",
                    "expected a non-empty token without commas",
                    "e.g. \"fleet-prod\"",
                );
                None
            }
            other => other,
        };
        let data_dir = self.opt_text(etcd, "etcd", "data_dir");
        let data_dir = self.abs_path(data_dir, "etcd.data_dir").and_then(|d| {
            if net::is_system_dir(&d.v) {
                self.err(
                    d.loc,
                    "etcd.data_dir",
                    format!("expected a dedicated directory for etcd's data, found {}", show(&d.v)),
                    "etcd.service makes this directory etcd's own (chown etcd, mode 0700): use e.g. \"/var/lib/etcd\"",
                );
                return None;
            }
            Some(d)
        });
        let tls = self.tls(tls_t);
        let endpoints = self.endpoints(etcd, role, &bootstrap, client_port.v, &tls);
        let proxy = self.proxy(proxy_t);
        let fleet_enabled = self.opt_bool(fleet, "fleet", "enabled").unwrap_or(true);
        let metadata = self.metadata(fleet);
        let core = self.core(core_t);
        let interval = self.duration(health, "health", "interval").unwrap_or(30);
        if role == Role::Client && !fleet_enabled {
            let loc = fleet.and_then(|f| f.get("enabled")).map(|n| n.loc);
            self.err(
                loc,
                "fleet.enabled",
                "a node with role = \"client\" and fleet disabled would run nothing",
                "enable fleet, or make this node an etcd member",
            );
        }

        Some(Config {
            name: name?.v,
            address: address?.v,
            role,
            bootstrap: bootstrap?,
            cluster_token: cluster_token.map_or_else(|| DEFAULT_TOKEN.to_string(), |t| t.v),
            data_dir: data_dir.map_or_else(|| DEFAULT_DATA_DIR.to_string(), |d| d.v),
            client_port: client_port.v,
            peer_port: peer_port.v,
            endpoints: endpoints?,
            tls: tls?,
            proxy: proxy?,
            fleet_enabled,
            metadata: metadata?,
            core: core?,
            health_interval_secs: interval,
        })
    }

    fn node_name(&mut self, node: Option<&Table>, hostname: Option<&str>) -> Option<At<String>> {
        let name = match self.opt_text(node, "node", "name") {
            Some(n) => n,
            None if node.and_then(|t| t.get("name")).is_some() => return None,
            None => match hostname.map(|h| h.split('.').next().unwrap_or(h).to_string()) {
                Some(h) if !h.is_empty() => At::default(h),
                _ => {
                    self.err(
                        None,
                        "node.name",
                        "not set, and the static host name is unknown",
                        "set node.name",
                    );
                    return None;
                }
            },
        };
        if !net::is_member_name(&name.v) {
            let origin = if name.loc.is_none() {
                " (from the host name)"
            } else {
                ""
            };
            self.err(
                name.loc,
                "node.name",
                format!("expected an etcd member name{origin}, found {}", show(&name.v)),
                "use letters, digits, '.', '_' and '-' only, starting with a letter or digit, at most 63 characters",
            );
            return None;
        }
        Some(name)
    }

    fn node_address(&mut self, node: Option<&Table>) -> Option<At<Address>> {
        let address = self.opt_text(node, "node", "address");
        let interface = self.opt_text(node, "node", "interface");
        let bad = node.is_some_and(|t| {
            (t.contains_key("address") && address.is_none())
                || (t.contains_key("interface") && interface.is_none())
        });
        if bad {
            return None;
        }
        match (address, interface) {
            (Some(a), Some(i)) => {
                self.err(
                    i.loc,
                    "node.interface",
                    "both node.address and node.interface are set",
                    "keep one: address for a fixed address, interface to read it when the units start",
                );
                let _ = a;
                None
            }
            (Some(a), None) => {
                if !net::is_ip_or_host(&a.v) {
                    self.err(
                        a.loc,
                        "node.address",
                        format!(
                            "expected an IP address or a host name, found {}",
                            show(&a.v)
                        ),
                        "e.g. \"10.0.0.10\", \"fd00::10\" or \"node1.example.com\"",
                    );
                    return None;
                }
                Some(At {
                    v: Address::Fixed(net::normalize_ip(&a.v)),
                    loc: a.loc,
                })
            }
            (None, Some(i)) => {
                if !net::is_interface_name(&i.v) {
                    self.err(
                        i.loc,
                        "node.interface",
                        format!("expected a network interface name, found {}", show(&i.v)),
                        "e.g. \"eth0\": 1 to 15 characters, no '/', whitespace or ':'",
                    );
                    return None;
                }
                Some(At {
                    v: Address::Interface(i.v),
                    loc: i.loc,
                })
            }
            (None, None) => {
                self.err(
                    None,
                    "node.address",
                    "the node has no address",
                    "set node.address = \"10.0.0.10\" (advertised to peers and used by fleet), or node.interface = \"eth0\"",
                );
                None
            }
        }
    }

    fn role(&mut self, etcd: Option<&Table>) -> Role {
        match self.opt_text(etcd, "etcd", "role") {
            None => Role::Member,
            Some(r) => match r.v.as_str() {
                "member" => Role::Member,
                "client" => Role::Client,
                other => {
                    let hint = match closest(other, &["member", "client"]) {
                        Some(c) => format!("did you mean \"{c}\"?"),
                        None => "\"member\" runs etcd here; \"client\" runs fleet only, using etcd.endpoints".into(),
                    };
                    self.err(
                        r.loc,
                        "etcd.role",
                        format!("expected \"member\" or \"client\", found {}", show(other)),
                        hint,
                    );
                    Role::Member
                }
            },
        }
    }

    fn bootstrap(
        &mut self,
        etcd: Option<&Table>,
        role: Role,
        name: Option<&At<String>>,
        address: Option<&At<Address>>,
    ) -> Option<Bootstrap> {
        let peers_given = etcd.is_some_and(|e| e.contains_key("peers"));
        let peers = self.string_map(etcd, "etcd", "peers");
        let discovery = self.opt_text(etcd, "etcd", "discovery");
        let srv = self.opt_text(etcd, "etcd", "discovery_srv");
        let discovery_given = etcd.is_some_and(|e| e.contains_key("discovery"));
        let srv_given = etcd.is_some_and(|e| e.contains_key("discovery_srv"));

        let loc_of = |k: &str| {
            etcd.and_then(|e| e.get(k))
                .map(|n| n.key_loc.unwrap_or(n.loc))
        };
        let given: Vec<&str> = [
            ("peers", peers_given),
            ("discovery", discovery_given),
            ("discovery_srv", srv_given),
        ]
        .iter()
        .filter(|(_, g)| *g)
        .map(|(k, _)| *k)
        .collect();

        if role == Role::Client {
            for k in ["discovery", "discovery_srv"] {
                if given.contains(&k) {
                    self.err(
                        loc_of(k),
                        &format!("etcd.{k}"),
                        "a node with role = \"client\" runs no etcd and does not bootstrap",
                        "remove it, and list the cluster in etcd.endpoints (or etcd.peers)",
                    );
                }
            }
        } else if given.len() > 1 {
            let second = given[1];
            self.err(
                loc_of(second),
                &format!("etcd.{second}"),
                format!("{} are set, but a member needs exactly one bootstrap method", given.join(" and ")),
                "keep one of peers (static), discovery (discovery URL) or discovery_srv (DNS SRV); a later file in /etc/fleetnode.d may have added one",
            );
            return None;
        } else if given.is_empty() {
            self.err(
                None,
                "etcd.peers",
                "no bootstrap method: a member needs one of etcd.peers, etcd.discovery or etcd.discovery_srv",
                "e.g. peers = { infra0 = \"10.0.0.10\", infra1 = \"10.0.0.11\", infra2 = \"10.0.0.12\" }, or role = \"client\"",
            );
            return None;
        }

        if discovery_given {
            let d = discovery?;
            // The discovery URL is a secret (anyone holding it can join the cluster): never echo it.
            match Url::parse(&d.v) {
                Ok(u) if u.path.trim_matches('/').is_empty() => {
                    self.err(d.loc, "etcd.discovery", "the discovery URL has no token path", "e.g. \"https://discovery.etcd.io/<token>\"; `fleetnode discovery new` creates one");
                    return None;
                }
                Ok(u) => return Some(Bootstrap::Discovery(u)),
                Err(e) => {
                    self.err(
                        d.loc,
                        "etcd.discovery",
                        format!("expected an http(s) discovery URL: {e}"),
                        "e.g. \"https://discovery.etcd.io/<token>\"",
                    );
                    return None;
                }
            }
        }
        if srv_given {
            let s = srv?;
            if !net::is_host_name(&s.v) || s.v.parse::<IpAddr>().is_ok() {
                self.err(
                    s.loc,
                    "etcd.discovery_srv",
                    format!("expected a DNS domain, found {}", show(&s.v)),
                    "e.g. \"example.com\" (etcd looks up _etcd-server._tcp.example.com)",
                );
                return None;
            }
            return Some(Bootstrap::DiscoverySrv(
                s.v.trim_end_matches('.').to_string(),
            ));
        }
        if !peers_given {
            return Some(Bootstrap::None);
        }
        let peers = peers?;
        let mut ok = true;
        let mut seen_lower: BTreeMap<String, &At<String>> = BTreeMap::new();
        // address -> the first peer that has it
        let mut seen_addr: BTreeMap<String, &str> = BTreeMap::new();
        for (pname, paddr) in &peers {
            let path = join("etcd.peers", &pname.v);
            if !net::is_member_name(&pname.v) {
                self.err(
                    pname.loc,
                    &path,
                    format!(
                        "expected an etcd member name as the peer's key, found {}",
                        show(&pname.v)
                    ),
                    "use letters, digits, '.', '_' and '-' only, at most 63 characters",
                );
                ok = false;
            } else if let Some(prev) = seen_lower.insert(pname.v.to_ascii_lowercase(), pname) {
                self.err(
                    pname.loc,
                    &path,
                    format!("peer name differs only in case from {}", show(&prev.v)),
                    "peer names must be unique; remove one",
                );
                ok = false;
            }
            if !net::is_ip_or_host(&paddr.v) {
                self.err(
                    paddr.loc,
                    &path,
                    format!(
                        "expected the peer's IP address or host name, found {}",
                        show(&paddr.v)
                    ),
                    "e.g. infra1 = \"10.0.0.11\"; the port comes from etcd.peer_port",
                );
                ok = false;
            } else if let Some(other) =
                first_with(&mut seen_addr, net::normalize_ip(&paddr.v), &pname.v)
            {
                self.err(
                    paddr.loc,
                    &path,
                    format!("the same address as peer {}", show(other)),
                    "each peer is a different host; fix the address",
                );
                ok = false;
            }
        }
        if peers.is_empty() {
            self.err(
                loc_of("peers"),
                "etcd.peers",
                "the peer table is empty",
                "list every member: { infra0 = \"10.0.0.10\", ... }",
            );
            return None;
        }
        if role == Role::Member {
            if let Some(name) = name {
                match peers.iter().find(|(n, _)| n.v == name.v) {
                    None => {
                        let names: Vec<&str> = peers.iter().map(|(n, _)| n.v.as_str()).collect();
                        let hint = match closest(&name.v, &names) {
                            Some(c) => format!("did you mean node.name = \"{c}\"? Otherwise add {} = \"<its address>\" to etcd.peers", name.v),
                            None => format!("add {} = \"<its address>\" to etcd.peers, or set node.name to one of: {}", name.v, names.join(", ")),
                        };
                        let origin = if name.loc.is_none() {
                            " (from the host name)"
                        } else {
                            ""
                        };
                        self.err(
                            loc_of("peers"),
                            "etcd.peers",
                            format!(
                                "this node's name {}{origin} is not among the static peers",
                                show(&name.v)
                            ),
                            hint,
                        );
                        ok = false;
                    }
                    Some((_, own)) => {
                        if let Some(At {
                            v: Address::Fixed(a),
                            loc,
                        }) = address
                        {
                            if net::normalize_ip(&own.v) != *a {
                                self.err(
                                    own.loc,
                                    &join("etcd.peers", &name.v),
                                    format!(
                                        "this node's peer address {} differs from node.address {}",
                                        show(&own.v),
                                        show(a)
                                    ),
                                    "they must be the same address; fix one of them",
                                );
                                let _ = loc;
                                ok = false;
                            }
                        }
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        let mut list: Vec<(String, String)> = peers
            .into_iter()
            .map(|(n, a)| (n.v, net::normalize_ip(&a.v)))
            .collect();
        list.sort();
        Some(Bootstrap::Static(list))
    }

    fn endpoints(
        &mut self,
        etcd: Option<&Table>,
        role: Role,
        boot: &Option<Bootstrap>,
        client_port: u16,
        tls: &Option<Tls>,
    ) -> Option<Vec<String>> {
        let given = etcd.is_some_and(|e| e.contains_key("endpoints"));
        let list = self.string_array(etcd, "etcd", "endpoints")?;
        let mut ok = true;
        let mut out = Vec::new();
        for (i, e) in &list {
            // FLEET_ETCD_SERVERS is comma-separated: a comma would smuggle in another server.
            let parsed = if e.v.contains(',') {
                Err("contains ','".to_string())
            } else {
                Url::parse(&e.v)
            };
            match parsed {
                Ok(u) if u.userinfo.is_some() => {
                    self.err(
                        e.loc,
                        &format!("etcd.endpoints[{i}]"),
                        "credentials in an endpoint URL are not supported",
                        "use client certificates ([etcd.tls]) instead",
                    );
                    ok = false;
                }
                Ok(u) => out.push(u.to_string()),
                Err(msg) => {
                    self.err(
                        e.loc,
                        &format!("etcd.endpoints[{i}]"),
                        format!("expected an http(s) URL, found {}: {msg}", show(&e.v)),
                        "e.g. \"http://10.0.0.10:2379\"",
                    );
                    ok = false;
                }
            }
        }
        if role == Role::Member {
            if given {
                let loc = etcd
                    .and_then(|e| e.get("endpoints"))
                    .map(|n| n.key_loc.unwrap_or(n.loc));
                self.warn(
                    loc,
                    "etcd.endpoints",
                    "ignored for a member: fleet talks to the local etcd and the static peers",
                    "remove it, or set role = \"client\"",
                );
            }
            return ok.then_some(Vec::new());
        }
        if !ok {
            return None;
        }
        if given && out.is_empty() {
            let loc = etcd.and_then(|e| e.get("endpoints")).map(|n| n.loc);
            self.err(
                loc,
                "etcd.endpoints",
                "the endpoint list is empty",
                "list at least one etcd client URL",
            );
            return None;
        }
        if out.is_empty() {
            match boot {
                Some(Bootstrap::Static(peers)) => {
                    let scheme = if tls.as_ref().is_some_and(|t| t.client_tls()) {
                        "https"
                    } else {
                        "http"
                    };
                    out = peers
                        .iter()
                        .map(|(_, a)| format!("{scheme}://{}:{client_port}", net::url_host(a)))
                        .collect();
                }
                Some(_) => {
                    self.err(None, "etcd.endpoints", "a node with role = \"client\" needs etcd.endpoints or etcd.peers to talk to", "e.g. endpoints = [\"http://10.0.0.10:2379\"]");
                    return None;
                }
                None => return None,
            }
        }
        Some(out)
    }

    fn abs_path(&mut self, p: Option<At<String>>, path: &str) -> Option<At<String>> {
        let p = p?;
        if !net::is_clean_abs_path(&p.v) {
            self.err(
                p.loc,
                path,
                format!("expected an absolute path, found {}", show(&p.v)),
                "start with '/', and use no '.', '..' or '//' components and no trailing '/'",
            );
            return None;
        }
        Some(p)
    }

    fn tls(&mut self, t: Option<&Table>) -> Option<Tls> {
        let t = match t {
            Some(t) => Some(t),
            None => return Some(Tls::default()),
        };
        let mut ok = true;
        let mut get = |r: &mut Self, k: &str| {
            let present = t.is_some_and(|t| t.contains_key(k));
            let v = r.opt_text(t, "etcd.tls", k);
            let v = r.abs_path(v, &format!("etcd.tls.{k}"));
            if present && v.is_none() {
                ok = false;
            }
            v.map(|a| a.v)
        };
        let tls = Tls {
            ca: get(self, "ca"),
            cert: get(self, "cert"),
            key: get(self, "key"),
            peer_ca: get(self, "peer_ca"),
            peer_cert: get(self, "peer_cert"),
            peer_key: get(self, "peer_key"),
            client_cert_auth: self
                .opt_bool(t, "etcd.tls", "client_cert_auth")
                .unwrap_or(false),
            peer_client_cert_auth: self
                .opt_bool(t, "etcd.tls", "peer_client_cert_auth")
                .unwrap_or(false),
        };
        let loc = |k: &str| t.and_then(|t| t.get(k)).map(|n| n.key_loc.unwrap_or(n.loc));
        for (a, b) in [
            ("cert", "key"),
            ("key", "cert"),
            ("peer_cert", "peer_key"),
            ("peer_key", "peer_cert"),
        ] {
            if t.is_some_and(|t| t.contains_key(a) && !t.contains_key(b)) {
                self.err(
                    loc(a),
                    &format!("etcd.tls.{a}"),
                    format!("{a} is set without {b}"),
                    format!("set both {a} and {b}"),
                );
                ok = false;
            }
        }
        for (flag, ca) in [
            ("client_cert_auth", "ca"),
            ("peer_client_cert_auth", "peer_ca"),
        ] {
            let on = if flag == "client_cert_auth" {
                tls.client_cert_auth
            } else {
                tls.peer_client_cert_auth
            };
            if on && t.is_some_and(|t| !t.contains_key(ca)) {
                self.err(
                    loc(flag),
                    &format!("etcd.tls.{flag}"),
                    format!("{flag} needs {ca}, the CA that signs the client certificates"),
                    format!("set etcd.tls.{ca}"),
                );
                ok = false;
            }
        }
        ok.then_some(tls)
    }

    fn proxy(&mut self, t: Option<&Table>) -> Option<Option<Proxy>> {
        let Some(t) = t else { return Some(None) };
        let mut ok = true;
        let mut url = |r: &mut Self, k: &str| -> Option<Url> {
            let v = r.opt_text(Some(t), "proxy", k);
            if t.contains_key(k) && v.is_none() {
                ok = false;
            }
            let v = v?;
            match Url::parse(&v.v) {
                Ok(u) => Some(u),
                Err(msg) => {
                    r.err(v.loc, &format!("proxy.{k}"), format!("expected an http(s) proxy URL: {msg}"), "e.g. \"http://proxy.corp:3128\" or \"http://user:password@proxy.corp:3128\"");
                    ok = false;
                    None
                }
            }
        };
        let http = url(self, "http");
        let https = url(self, "https");
        let mut no_proxy = Vec::new();
        let entries = self.string_array(Some(t), "proxy", "no_proxy");
        ok &= entries.is_some();
        for (i, e) in entries.unwrap_or_default() {
            if net::is_no_proxy_entry(&e.v) {
                no_proxy.push(e.v);
            } else {
                self.err(e.loc, &format!("proxy.no_proxy[{i}]"), format!("expected a host, domain, IP address or CIDR, found {}", show(&e.v)), "one entry per list item, e.g. [\"corp.example\", \".svc\", \"10.0.0.0/8\"]; no commas or spaces");
                ok = false;
            }
        }
        if ok && http.is_none() && https.is_none() {
            self.err(
                None,
                "proxy",
                "the [proxy] section sets neither http nor https",
                "set proxy.http and/or proxy.https, or remove [proxy]",
            );
            return None;
        }
        ok.then_some(Some(Proxy {
            http,
            https,
            no_proxy,
        }))
    }

    fn metadata(&mut self, fleet: Option<&Table>) -> Option<BTreeMap<String, String>> {
        let pairs = match self.string_map(fleet, "fleet", "metadata") {
            Some(p) => p,
            None if fleet.is_some_and(|f| f.contains_key("metadata")) => return None,
            None => return Some(BTreeMap::new()),
        };
        let mut ok = true;
        let mut out = BTreeMap::new();
        for (k, v) in pairs {
            let path = join("fleet.metadata", &k.v);
            if !net::is_metadata_token(&k.v) {
                self.err(k.loc, &path, format!("the metadata key {} cannot be passed to fleet", show(&k.v)), "fleet splits FLEET_METADATA on ',' and '=' and trims spaces: use a non-empty key without ',', '=', '\"' or whitespace");
                ok = false;
            }
            if !net::is_metadata_token(&v.v) {
                self.err(v.loc, &path, format!("the metadata value {} cannot be passed to fleet", show(&v.v)), "fleet would silently drop it: use a non-empty value without ',', '=', '\"' or whitespace");
                ok = false;
            }
            out.insert(k.v, v.v);
        }
        ok.then_some(out)
    }

    fn core(&mut self, t: Option<&Table>) -> Option<Core> {
        let mut ok = true;
        let user = match self.opt_text(t, "core", "user") {
            Some(u) if !net::is_user_name(&u.v) => {
                self.err(u.loc, "core.user", format!("expected a user name, found {}", show(&u.v)), "lower-case letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters");
                ok = false;
                None
            }
            Some(u) => Some(u.v),
            None => {
                ok &= !t.is_some_and(|t| t.contains_key("user"));
                None
            }
        };
        let keys = self.string_array(t, "core", "authorized_keys");
        ok &= keys.is_some();
        let keys = keys.unwrap_or_default();
        for (i, k) in &keys {
            if let Err(msg) = net::check_ssh_public_key(&k.v) {
                self.err(
                    k.loc,
                    &format!("core.authorized_keys[{i}]"),
                    msg,
                    "one OpenSSH public key per item, e.g. \"ssh-ed25519 AAAAC3Nza... ops@corp\"",
                );
                ok = false;
            }
        }
        let mut path = |r: &mut Self, k: &str| {
            let v = r.opt_text(t, "core", k);
            let present = t.is_some_and(|t| t.contains_key(k));
            let v = r.abs_path(v, &format!("core.{k}"));
            if present && v.is_none() {
                ok = false;
            }
            v.map(|a| a.v)
        };
        let dir = path(self, "authorized_keys_dir");
        let private_key = path(self, "private_key");
        let exchange_keys = self.opt_bool(t, "core", "exchange_keys");
        ok &= exchange_keys.is_some() || !t.is_some_and(|t| t.contains_key("exchange_keys"));
        let exchange_keys = exchange_keys.unwrap_or(true);
        ok.then(|| Core {
            user: user.unwrap_or_else(|| "core".into()),
            authorized_keys: keys.into_iter().map(|(_, k)| k.v).collect(),
            authorized_keys_dir: dir.unwrap_or_else(|| "/etc/fleetnode/authorized_keys.d".into()),
            private_key,
            exchange_keys,
        })
    }

    fn duration(&mut self, t: Option<&Table>, path: &str, key: &str) -> Option<u64> {
        let v = self.opt_text(t, path, key)?;
        match net::parse_duration_secs(&v.v) {
            Ok(s) if s > 30 * 86400 => {
                self.err(
                    v.loc,
                    &join(path, key),
                    "the interval must be at most 30 days",
                    "e.g. \"30s\"",
                );
                None
            }
            Ok(s) if s >= 1 => Some(s),
            Ok(_) => {
                self.err(
                    v.loc,
                    &join(path, key),
                    "the interval must be at least 1 second",
                    "e.g. \"30s\"",
                );
                None
            }
            Err(msg) => {
                self.err(
                    v.loc,
                    &join(path, key),
                    format!("expected a duration, found {}: {msg}", show(&v.v)),
                    "e.g. \"30s\", \"5min\", \"1h 30min\"",
                );
                None
            }
        }
    }
}
