//! Shared oracle for the fuzz targets: runs configuration sources through the same pipeline
//! as the generator (parse and merge, validate, render) and panics when a property breaks:
//!
//! - nothing panics (libFuzzer reports a panic as a crash);
//! - an invalid outcome always carries at least one error, and every diagnostic points inside
//!   the file it names and fits on one line (the errors file and the kernel log are line based);
//! - every rendered file is free of control characters (apart from the line ends) and relative;
//! - every `Environment=` line holds exactly one assignment, which systemd reads back as the
//!   configured value (ETCD_NAME, ETCD_DATA_DIR, the TLS paths, ...), and the list values
//!   (FLEET_METADATA, FLEET_ETCD_SERVERS, ETCD_INITIAL_CLUSTER) split, as fleet and etcd split
//!   them, into exactly the configured items;
//! - the 0600 environment files read back as the configured URLs and NO_PROXY list;
//! - `Exec*=` arguments built from values (the data dir, the interface) read back exactly.
//!
//! The readers follow systemd's documented rules and share no code with the renderer.

use std::collections::BTreeMap;

use fleetnode::config::{validate, Address, Bootstrap, Config, Role};
use fleetnode::diag::Diagnostic;
use fleetnode::render::{no_proxy_list, render, render_invalid, Content, OutFile};
use fleetnode::source::{parse_and_merge, SourceFile, Sources, Table, Val};

pub const OUT: &str = "/run/systemd/generator";

/// Names for up to this many files: the main file, then drop-ins in lexical order.
pub const MAX_FILES: usize = 6;

pub fn sources(texts: &[&str]) -> Sources {
    Sources {
        files: texts
            .iter()
            .enumerate()
            .map(|(i, t)| SourceFile {
                name: if i == 0 {
                    "/etc/fleetnode.toml".to_string()
                } else {
                    format!("/etc/fleetnode.d/{:02}-part.toml", i * 10)
                },
                text: t.to_string(),
            })
            .collect(),
    }
}

/// The whole pipeline with every check. Returns the merged tree when the sources parse.
pub fn check(src: &Sources) -> Option<Table> {
    let tree = match parse_and_merge(src) {
        Ok(t) => t,
        Err(diags) => {
            assert!(!diags.is_empty(), "parse failed without a diagnostic");
            check_diags(&diags, src);
            check_invalid(&diags);
            return None;
        }
    };
    if tree.is_empty() {
        return Some(tree);
    }
    let v = validate(&tree, src, Some("infra0.corp.example"));
    check_diags(&v.diagnostics, src);
    match &v.config {
        Some(cfg) => {
            assert!(
                !v.diagnostics.iter().any(Diagnostic::is_error),
                "a config together with errors"
            );
            let files = render(cfg, OUT);
            check_rendered(cfg, &files);
        }
        None => {
            assert!(
                v.diagnostics.iter().any(Diagnostic::is_error),
                "rejected without an error: {:?}",
                v.diagnostics
            );
            check_invalid(&v.diagnostics);
        }
    }
    Some(tree)
}

fn check_diags(diags: &[Diagnostic], src: &Sources) {
    for d in diags {
        let one = d.one_line();
        assert!(
            !one.chars().any(char::is_control),
            "diagnostic with a control character: {one:?}"
        );
        let _ = d.to_string();
        if d.file.is_empty() {
            continue;
        }
        let Some(f) = src.files.iter().find(|f| f.name == d.file) else {
            panic!("diagnostic names an unknown file: {one}");
        };
        if d.line > 0 {
            let lines: Vec<&str> = f.text.split('\n').collect();
            assert!(d.line <= lines.len(), "line out of range: {one}");
            let width = lines[d.line - 1].chars().count();
            assert!(
                d.column >= 1 && d.column <= width + 1,
                "column out of range ({width} chars on the line): {one}"
            );
        }
    }
}

/// fleetnode-config.errors: one line per diagnostic; the unit itself clean.
fn check_invalid(diags: &[Diagnostic]) {
    let files = render_invalid(diags, OUT);
    for f in &files {
        if let Content::File { text, .. } = &f.content {
            if f.path == "fleetnode-config.errors" {
                assert_eq!(text.lines().count(), diags.len(), "errors file: {text:?}");
            }
            check_clean(f, text);
        }
    }
}

fn check_clean(f: &OutFile, text: &str) {
    assert!(
        std::path::Path::new(&f.path)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_))),
        "path {:?}",
        f.path
    );
    assert!(
        text.ends_with('\n'),
        "{} does not end with a newline",
        f.path
    );
    for line in text.lines() {
        assert!(
            !line.chars().any(char::is_control),
            "{}: control character in {line:?}",
            f.path
        );
    }
}

/// systemd's reading of a unit setting's value: `%` specifiers (only `%%` may appear), then
/// words with quotes and C escapes. `dollar`: Exec lines, where `$$` is a literal `$`.
pub fn systemd_words(rvalue: &str, dollar: bool) -> Result<Vec<String>, String> {
    let mut expanded = String::new();
    let mut chars = rvalue.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '%' => match chars.next() {
                Some('%') => expanded.push('%'),
                other => return Err(format!("specifier %{other:?} would be expanded")),
            },
            '$' if dollar => match chars.next() {
                Some('$') => expanded.push('$'),
                other => return Err(format!("${other:?} would be substituted")),
            },
            c => expanded.push(c),
        }
    }
    let mut words = Vec::new();
    let mut it = expanded.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| *c == ' ') {
            it.next();
        }
        if it.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = it.next() {
            match (quote, c) {
                (None, ' ') => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (Some('\''), c) => word.push(c),
                (_, '\\') => match it.next() {
                    Some(e @ ('\\' | '"' | '\'')) => word.push(e),
                    other => return Err(format!("escape \\{other:?}")),
                },
                (_, c) => word.push(c),
            }
        }
        if quote.is_some() {
            return Err("unterminated quote".into());
        }
        words.push(word);
    }
}

/// systemd's reading of an EnvironmentFile= line `NAME="value"`.
fn env_file_assignment(line: &str) -> Result<(String, String), String> {
    let (name, rest) = line.split_once('=').ok_or("no '='")?;
    let inner = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or("value not double-quoted")?;
    let mut value = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some(e @ ('"' | '\\' | '`' | '$')) => value.push(e),
                Some(o) => {
                    value.push('\\');
                    value.push(o);
                }
                None => return Err("trailing backslash".into()),
            },
            '"' => return Err("unescaped quote inside the value".into()),
            c => value.push(c),
        }
    }
    Ok((name.to_string(), value))
}

fn is_env_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !n.starts_with(|c: char| c.is_ascii_digit())
}

fn url_list(v: &str) -> Vec<String> {
    v.split(',').map(str::to_string).collect()
}

fn check_rendered(cfg: &Config, files: &[OutFile]) {
    let mut env: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut env_files: BTreeMap<String, String> = BTreeMap::new();
    for f in files {
        let Content::File { text, mode } = &f.content else {
            continue;
        };
        check_clean(f, text);
        if f.path.ends_with(".env") {
            assert_eq!(*mode, 0o600, "{} must be 0600", f.path);
            for line in text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
            {
                let (k, v) = env_file_assignment(line)
                    .unwrap_or_else(|e| panic!("{}: {e}: {line:?}", f.path));
                assert!(is_env_name(&k), "{}: bad name in {line:?}", f.path);
                assert!(
                    env_files.insert(k.clone(), v).is_none(),
                    "{}: {k} twice",
                    f.path
                );
            }
            continue;
        }
        for line in text.lines() {
            if let Some(rv) = line.strip_prefix("Environment=") {
                let words = systemd_words(rv, false)
                    .unwrap_or_else(|e| panic!("{}: {e}: {line:?}", f.path));
                assert_eq!(words.len(), 1, "{}: not one assignment: {line:?}", f.path);
                let (k, v) = words[0]
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{}: no '=' in {line:?}", f.path));
                assert!(is_env_name(k), "{}: bad name in {line:?}", f.path);
                env.entry(k.to_string()).or_default().push(v.to_string());
            } else if let Some(rv) = line.strip_prefix("ExecStartPre=") {
                let rv = rv.trim_start_matches(['+', '-', '!', '@', ':']);
                let words =
                    systemd_words(rv, true).unwrap_or_else(|e| panic!("{}: {e}: {line:?}", f.path));
                if words.first().is_some_and(|w| w == "/usr/bin/install") {
                    assert_eq!(words.last(), Some(&cfg.data_dir), "{line:?}");
                }
                if let Some(i) = words.iter().position(|w| w == "--interface") {
                    let Address::Interface(ifname) = &cfg.address else {
                        panic!("--interface without node.interface")
                    };
                    assert_eq!(words.get(i + 1), Some(ifname), "{line:?}");
                }
            }
        }
    }
    let one = |k: &str| -> Option<String> {
        let v = env.get(k)?;
        // The same variable in two drop-ins of the same unit would be a rendering bug, but
        // etcd's and fleet's TLS files legitimately share the names' values; names are
        // per unit, so a repeated name only happens across units with identical values.
        assert!(v.windows(2).all(|w| w[0] == w[1]), "{k} differs: {v:?}");
        v.first().cloned()
    };
    if cfg.runs_etcd() {
        assert_eq!(one("ETCD_NAME").as_ref(), Some(&cfg.name));
        assert_eq!(one("ETCD_DATA_DIR").as_ref(), Some(&cfg.data_dir));
        match &cfg.bootstrap {
            Bootstrap::Static(peers) => {
                assert_eq!(
                    one("ETCD_INITIAL_CLUSTER_TOKEN").as_ref(),
                    Some(&cfg.cluster_token)
                );
                let list = url_list(&one("ETCD_INITIAL_CLUSTER").expect("ETCD_INITIAL_CLUSTER"));
                assert_eq!(list.len(), peers.len(), "ETCD_INITIAL_CLUSTER {list:?}");
                for (item, (name, _)) in list.iter().zip(peers) {
                    assert_eq!(item.split_once('=').map(|p| p.0), Some(name.as_str()));
                }
            }
            Bootstrap::DiscoverySrv(d) => {
                assert_eq!(one("ETCD_DISCOVERY_SRV").as_ref(), Some(d));
                assert_eq!(
                    one("ETCD_INITIAL_CLUSTER_TOKEN").as_ref(),
                    Some(&cfg.cluster_token)
                );
            }
            Bootstrap::Discovery(u) => {
                assert_eq!(env_files.get("ETCD_DISCOVERY"), Some(&u.raw));
                assert!(
                    one("ETCD_DISCOVERY").is_none(),
                    "discovery URL in Environment="
                );
            }
            Bootstrap::None => panic!("a member without a bootstrap method"),
        }
        let t = &cfg.tls;
        for (k, v) in [
            ("ETCD_TRUSTED_CA_FILE", &t.ca),
            ("ETCD_CERT_FILE", &t.cert),
            ("ETCD_KEY_FILE", &t.key),
            ("ETCD_PEER_TRUSTED_CA_FILE", &t.peer_ca),
            ("ETCD_PEER_CERT_FILE", &t.peer_cert),
            ("ETCD_PEER_KEY_FILE", &t.peer_key),
        ] {
            assert_eq!(one(k).as_ref(), v.as_ref(), "{k}");
        }
    }
    if cfg.fleet_enabled {
        if let Address::Fixed(a) = &cfg.address {
            assert_eq!(one("FLEET_PUBLIC_IP").as_ref(), Some(a));
        }
        let servers = url_list(&one("FLEET_ETCD_SERVERS").expect("FLEET_ETCD_SERVERS"));
        if cfg.role == Role::Client {
            assert_eq!(servers, cfg.endpoints, "fleet would use other etcd servers");
        }
        for s in &servers {
            assert!(
                fleetnode::net::Url::parse(s).is_ok(),
                "FLEET_ETCD_SERVERS item {s:?} is not a URL"
            );
        }
        // fleet: split on ',', then on '=' into exactly two parts, trimmed.
        let md: BTreeMap<String, String> = one("FLEET_METADATA")
            .map(|m| {
                m.split(',')
                    .filter_map(|p| {
                        let kv: Vec<&str> = p.split('=').collect();
                        (kv.len() == 2)
                            .then(|| (kv[0].trim().to_string(), kv[1].trim().to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(md, cfg.metadata, "fleet would see other metadata");
    }
    if let Some(p) = &cfg.proxy {
        assert_eq!(env_files.get("HTTP_PROXY"), p.http.as_ref().map(|u| &u.raw));
        assert_eq!(
            env_files.get("HTTPS_PROXY"),
            p.https.as_ref().map(|u| &u.raw)
        );
        let np = env_files.get("NO_PROXY").expect("NO_PROXY");
        assert_eq!(
            np.split(',').map(str::to_string).collect::<Vec<_>>(),
            no_proxy_list(cfg),
            "NO_PROXY"
        );
    }
    for k in env.keys() {
        assert!(
            !k.contains("PROXY") && k != "ETCD_DISCOVERY",
            "secret {k} in Environment="
        );
    }
}

/// Merge property: every non-table value written in the last file wins in the merged tree.
pub fn check_last_file_wins(src: &Sources, merged: &Table) {
    let Some(last) = src.files.last() else { return };
    let Ok(doc) = parse_and_merge(&Sources {
        files: vec![last.clone()],
    }) else {
        return;
    };
    let last_index = src.files.len() - 1;
    fn walk(own: &Table, merged: &Table, last: usize, path: &str) {
        for (k, n) in own {
            let m = merged
                .get(k)
                .unwrap_or_else(|| panic!("{path}.{k} lost in the merge"));
            match (&n.val, &m.val) {
                (Val::Table(a), Val::Table(b)) => walk(a, b, last, &format!("{path}.{k}")),
                (Val::Table(_), _) => panic!("{path}.{k}: the last file's table was replaced"),
                (_, _) => {
                    assert_eq!(m.loc.file, last, "{path}.{k} not from the last file");
                    assert!(same(n, m), "{path}.{k}: {n:?} became {m:?}");
                }
            }
        }
    }
    walk(&doc, merged, last_index, "");
}

/// Equal values at equal offsets, whatever the file index.
fn same(a: &fleetnode::source::Node, b: &fleetnode::source::Node) -> bool {
    if (a.loc.start, a.loc.end) != (b.loc.start, b.loc.end) {
        return false;
    }
    match (&a.val, &b.val) {
        (Val::Float(x), Val::Float(y)) => x.to_bits() == y.to_bits(),
        (Val::Array(x), Val::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Val::Table(x), Val::Table(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, p), (k2, q))| k1 == k2 && same(p, q))
        }
        (x, y) => x == y,
    }
}
