//! Property tests: for arbitrary strings in every string field, the configuration is either
//! rejected with a diagnostic naming that key, or rendered so that reading the unit file back
//! the way systemd does yields exactly the input value, and no extra key or line.
//!
//! The readers below follow systemd's documented rules (specifier expansion, then word
//! splitting with quotes and C escapes for `Environment=`; double-quoted values with
//! backslash escapes for `EnvironmentFile=`); they share no code with the renderer.

use std::collections::BTreeMap;

use fleetnode::config::validate;
use fleetnode::render::{render, Content, OutFile};
use fleetnode::source::{parse_and_merge, SourceFile, Sources};
use proptest::prelude::*;

const OUT: &str = "/run/systemd/generator";

/// A TOML basic string holding exactly `s`.
fn toml_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => o.push_str(&format!("\\u{:04X}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Systemd's reading of one `Environment=` right-hand side: specifiers, then words.
fn systemd_environment_words(rvalue: &str) -> Result<Vec<String>, String> {
    let mut expanded = String::new();
    let mut chars = rvalue.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('%') => expanded.push('%'),
                other => return Err(format!("unexpected specifier %{other:?}")),
            }
        } else {
            expanded.push(c);
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
                    Some('\\') => word.push('\\'),
                    Some('"') => word.push('"'),
                    Some('\'') => word.push('\''),
                    Some('n') => word.push('\n'),
                    Some('t') => word.push('\t'),
                    other => return Err(format!("unsupported escape \\{other:?}")),
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

/// Every variable a unit or drop-in sets with `Environment=`, and how many such lines.
fn unit_environment(text: &str) -> Result<(BTreeMap<String, String>, usize), String> {
    let mut vars = BTreeMap::new();
    let mut lines = 0;
    for line in text.lines() {
        if line.ends_with('\\') {
            return Err(format!("line continuation: {line}"));
        }
        let Some(rv) = line.strip_prefix("Environment=") else {
            continue;
        };
        lines += 1;
        for w in systemd_environment_words(rv)? {
            let (k, v) = w.split_once('=').ok_or(format!("no '=' in {w:?}"))?;
            vars.insert(k.to_string(), v.to_string());
        }
    }
    Ok((vars, lines))
}

/// Systemd's reading of an `EnvironmentFile=` with double-quoted values.
fn env_file(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (k, rest) = line.split_once('=').ok_or("no '='")?;
        let inner = rest
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .ok_or("not quoted")?;
        let mut v = String::new();
        let mut it = inner.chars();
        while let Some(c) = it.next() {
            match c {
                '\\' => v.push(it.next().ok_or("trailing backslash")?),
                '"' => return Err("unescaped quote".into()),
                c => v.push(c),
            }
        }
        vars.insert(k.to_string(), v);
    }
    Ok(vars)
}

fn files_of(config: &str) -> Result<Vec<OutFile>, Vec<String>> {
    let sources = Sources {
        files: vec![SourceFile {
            name: "/etc/fleetnode.toml".into(),
            text: config.into(),
        }],
    };
    let tree = parse_and_merge(&sources)
        .map_err(|d| d.iter().map(|d| d.one_line()).collect::<Vec<_>>())?;
    let v = validate(&tree, &sources, Some("host"));
    match v.config {
        Some(c) => Ok(render(&c, OUT)),
        None => Err(v
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.one_line())
            .collect()),
    }
}

fn text_of<'a>(files: &'a [OutFile], path: &str) -> &'a str {
    match &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not rendered"))
        .content
    {
        Content::File { text, .. } => text,
        Content::Symlink { .. } => panic!("{path} is a symlink"),
    }
}

/// All Environment= variables of etcd.service and its drop-ins, and the line count.
fn etcd_env(files: &[OutFile]) -> (BTreeMap<String, String>, usize) {
    let mut all = BTreeMap::new();
    let mut n = 0;
    for f in files
        .iter()
        .filter(|f| f.path == "etcd.service" || f.path.starts_with("etcd.service.d/"))
    {
        let (vars, lines) =
            unit_environment(text_of(files, &f.path)).unwrap_or_else(|e| panic!("{}: {e}", f.path));
        n += lines;
        all.extend(vars);
    }
    (all, n)
}

const BASE: &str = r#"
[node]
name = "infra0"
address = "10.0.0.10"
[etcd]
peers = { infra0 = "10.0.0.10", infra1 = "10.0.0.11" }
cluster_token = "t"
data_dir = "/var/lib/etcd"
"#;

fn baseline() -> (BTreeMap<String, String>, usize) {
    etcd_env(&files_of(BASE).unwrap())
}

/// Checks one field: rejected with the key named, or round-tripped exactly.
fn check(
    key: &str,
    config: String,
    var: &str,
    expected: &str,
    files_env: impl Fn(&[OutFile]) -> (BTreeMap<String, String>, usize),
    base: (BTreeMap<String, String>, usize),
) -> Result<(), TestCaseError> {
    match files_of(&config) {
        Err(errors) => {
            prop_assert!(
                errors.iter().any(|e| e.contains(key)),
                "rejected without naming {key}: {errors:?}"
            );
        }
        Ok(files) => {
            let (vars, lines) = files_env(&files);
            prop_assert_eq!(
                vars.get(var).map(String::as_str),
                Some(expected),
                "{} read back differently",
                var
            );
            prop_assert_eq!(lines, base.1, "extra Environment= lines");
            let mut keys: Vec<&String> = vars.keys().collect();
            let mut base_keys: Vec<&String> = base.0.keys().collect();
            keys.sort();
            base_keys.sort();
            prop_assert_eq!(keys, base_keys, "extra or missing variables");
        }
    }
    Ok(())
}

fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9%\"'\\\\$ =,;.:/@\n\t\u{0}\u{7f}é{}\\[\\]#-]{0,24}",
        "[a-zA-Z0-9._-]{1,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn cluster_token_round_trips(s in nasty()) {
        let cfg = BASE.replace("cluster_token = \"t\"", &format!("cluster_token = {}", toml_str(&s)));
        check("etcd.cluster_token", cfg, "ETCD_INITIAL_CLUSTER_TOKEN", &s, etcd_env, baseline())?;
    }

    #[test]
    fn data_dir_round_trips(s in nasty()) {
        let path = format!("/{s}");
        let cfg = BASE.replace("data_dir = \"/var/lib/etcd\"", &format!("data_dir = {}", toml_str(&path)));
        check("etcd.data_dir", cfg.clone(), "ETCD_DATA_DIR", &path, etcd_env, baseline())?;
        // The same value as an argument of ExecStartPre: systemd would also expand $ there.
        if let Ok(files) = files_of(&cfg) {
            let unit = text_of(&files, "etcd.service");
            let line = unit.lines().find(|l| l.starts_with("ExecStartPre=+/usr/bin/install")).unwrap();
            let rv = line.trim_start_matches("ExecStartPre=+");
            let rv = rv.replace("$$", "\u{1}");
            prop_assert!(!rv.contains('$'), "unescaped $ in {line}");
            let words = systemd_environment_words(&rv).map_err(TestCaseError::fail)?;
            prop_assert_eq!(words.last().map(|w| w.replace('\u{1}', "$")), Some(path));
        }
    }

    #[test]
    fn node_name_round_trips(s in nasty()) {
        let cfg = BASE.replace("name = \"infra0\"", &format!("name = {}", toml_str(&s))).replace("infra0 = ", &format!("{} = ", toml_str(&s)));
        check("node.name", cfg, "ETCD_NAME", &s, etcd_env, baseline())?;
    }

    #[test]
    fn metadata_round_trips(k in nasty(), v in nasty()) {
        let cfg = format!("{BASE}\n[fleet.metadata]\n{} = {}\n", toml_str(&k), toml_str(&v));
        let fleet_env = |files: &[OutFile]| unit_environment(text_of(files, "fleet.service.d/20-metadata.conf")).unwrap();
        let base = fleet_env(&files_of(&format!("{BASE}\n[fleet.metadata]\na = \"b\"\n")).unwrap());
        match files_of(&cfg) {
            Err(errors) => prop_assert!(errors.iter().any(|e| e.contains("fleet.metadata")), "{errors:?}"),
            Ok(files) => {
                let (vars, lines) = fleet_env(&files);
                prop_assert_eq!(lines, base.1);
                let md = vars.get("FLEET_METADATA").unwrap();
                // What fleet does with it: split on ',' then '=', trim spaces.
                let pairs: Vec<(String, String)> = md.split(',').map(|p| {
                    let (a, b) = p.split_once('=').unwrap();
                    (a.trim().to_string(), b.trim().to_string())
                }).collect();
                prop_assert_eq!(pairs, vec![(k.clone(), v.clone())]);
            }
        }
    }

    #[test]
    fn proxy_url_round_trips_in_the_secret_file(user in nasty(), pass in nasty()) {
        let url = format!("http://{user}:{pass}@proxy.corp:3128");
        let cfg = format!("{BASE}\n[proxy]\nhttp = {}\n", toml_str(&url));
        match files_of(&cfg) {
            Err(errors) => prop_assert!(errors.iter().any(|e| e.contains("proxy.http")), "{errors:?}"),
            Ok(files) => {
                let vars = env_file(text_of(&files, "fleetnode-proxy.env")).map_err(TestCaseError::fail)?;
                prop_assert_eq!(vars.get("HTTP_PROXY"), Some(&url));
                prop_assert_eq!(vars.len(), 4, "HTTP_PROXY, http_proxy, NO_PROXY, no_proxy: {:?}", vars);
                // The secret is in no unit file.
                for f in &files {
                    if let Content::File { text, mode } = &f.content {
                        if text.contains(&url) { prop_assert_eq!(*mode, 0o600, "{} holds the proxy URL", f.path); }
                    }
                }
            }
        }
    }

    #[test]
    fn discovery_url_round_trips_in_the_secret_file(path in nasty()) {
        let url = format!("https://discovery.example.com/{path}");
        let cfg = BASE.replace("peers = { infra0 = \"10.0.0.10\", infra1 = \"10.0.0.11\" }", &format!("discovery = {}", toml_str(&url)));
        match files_of(&cfg) {
            Err(errors) => prop_assert!(errors.iter().any(|e| e.contains("etcd.discovery")), "{errors:?}"),
            Ok(files) => {
                let vars = env_file(text_of(&files, "fleetnode-etcd.env")).map_err(TestCaseError::fail)?;
                prop_assert_eq!(vars.get("ETCD_DISCOVERY"), Some(&url));
                prop_assert_eq!(vars.len(), 1);
            }
        }
    }

    #[test]
    fn tls_paths_round_trip(s in nasty()) {
        let path = format!("/etc/pki/{s}");
        let cfg = format!("{BASE}\n[etcd.tls]\nca = {}\n", toml_str(&path));
        let mut base = baseline();
        base.0.insert("ETCD_TRUSTED_CA_FILE".into(), String::new());
        base.1 += 1;
        check("etcd.tls.ca", cfg, "ETCD_TRUSTED_CA_FILE", &path, etcd_env, base)?;
    }

    #[test]
    fn any_text_never_panics(text in any::<String>()) {
        let _ = files_of(&text);
    }
}

#[test]
fn readers_reject_what_systemd_would_misread() {
    assert!(systemd_environment_words("\"A=100%\"").is_err());
    assert_eq!(
        systemd_environment_words("\"A=x\\\"y\" B=z").unwrap(),
        vec!["A=x\"y", "B=z"]
    );
    assert!(env_file("A=\"x\"y\"\n").is_err());
}
