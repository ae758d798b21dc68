//! Table-driven validation tests: a configuration and the first diagnostic it must produce
//! (`file:line:column: error: key: message`, compared by prefix and substring).

use fleetnode::config::{validate, Address, Bootstrap, Role};
use fleetnode::source::{parse_and_merge, SourceFile, Sources};

const NODE: &str = "[node]\nname = \"infra0\"\naddress = \"10.0.0.10\"\n";

fn diagnostics(files: &[(&str, &str)]) -> Vec<String> {
    let sources = Sources {
        files: files
            .iter()
            .map(|(n, t)| SourceFile {
                name: n.to_string(),
                text: t.to_string(),
            })
            .collect(),
    };
    match parse_and_merge(&sources) {
        Err(d) => d.iter().map(|d| d.one_line()).collect(),
        Ok(tree) => validate(&tree, &sources, Some("infra0.corp.example"))
            .diagnostics
            .iter()
            .map(|d| d.one_line())
            .collect(),
    }
}

#[test]
fn first_diagnostic_of_each_bad_config() {
    let static1 = "[etcd]\npeers = { infra0 = \"10.0.0.10\" }\n";
    let cases: &[(&str, String, &str, &str)] = &[
        ("unknown section", format!("{NODE}{static1}[flet]\nenabled = true\n"), "/etc/fleetnode.toml:6:2: error: flet: unknown section", "did you mean \"fleet\"?"),
        ("unknown key", format!("{NODE}[etcd]\npeer = {{ infra0 = \"10.0.0.10\" }}\n"), "/etc/fleetnode.toml:5:1: error: etcd.peer: unknown key in [etcd]", "did you mean \"peers\"?"),
        ("wrong type", format!("[node]\nname = 5\naddress = \"10.0.0.10\"\n{static1}"), "/etc/fleetnode.toml:2:8: error: node.name: expected a string, found an integer", "double quotes"),
        ("section as value", format!("node = \"x\"\n{static1}"), "/etc/fleetnode.toml:1:8: error: node: expected a table, found a string", ""),
        ("no bootstrap", NODE.to_string(), "/etc/fleetnode.toml: error: etcd.peers: no bootstrap method", "role = \"client\""),
        ("discovery and srv", format!("{NODE}[etcd]\ndiscovery = \"https://d.example/abc\"\ndiscovery_srv = \"example.com\"\n"), "/etc/fleetnode.toml:6:1: error: etcd.discovery_srv: discovery and discovery_srv are set", "exactly one"),
        ("discovery without token", format!("{NODE}[etcd]\ndiscovery = \"https://discovery.etcd.io/\"\n"), "/etc/fleetnode.toml:5:13: error: etcd.discovery: the discovery URL has no token path", ""),
        ("discovery not http", format!("{NODE}[etcd]\ndiscovery = \"etcd://x/abc\"\n"), "/etc/fleetnode.toml:5:13: error: etcd.discovery: expected an http(s) discovery URL", ""),
        ("srv is an IP", format!("{NODE}[etcd]\ndiscovery_srv = \"10.0.0.1\"\n"), "/etc/fleetnode.toml:5:17: error: etcd.discovery_srv: expected a DNS domain", ""),
        ("own address differs", format!("{NODE}[etcd]\npeers = {{ infra0 = \"10.0.0.99\" }}\n"), "/etc/fleetnode.toml:5:20: error: etcd.peers.infra0: this node's peer address \"10.0.0.99\" differs from node.address", ""),
        ("duplicate address", format!("{NODE}[etcd]\npeers = {{ infra0 = \"10.0.0.10\", infra1 = \"10.0.0.10\" }}\n"), "/etc/fleetnode.toml:5:42: error: etcd.peers.infra1: the same address as peer \"infra0\"", ""),
        ("names differing in case", format!("{NODE}[etcd]\npeers = {{ infra0 = \"10.0.0.10\", INFRA0 = \"10.0.0.11\" }}\n"), "etcd.peers.infra0: peer name differs only in case", ""),
        ("bad peer name", format!("{NODE}[etcd]\npeers = {{ infra0 = \"10.0.0.10\", \"a=b\" = \"10.0.0.11\" }}\n"), "/etc/fleetnode.toml:5:33: error: etcd.peers.\"a=b\": expected an etcd member name", ""),
        ("empty peers", format!("{NODE}[etcd]\npeers = {{}}\n"), "/etc/fleetnode.toml:5:1: error: etcd.peers: the peer table is empty", ""),
        ("port range", format!("{NODE}{static1}client_port = 70000\n"), "/etc/fleetnode.toml:6:15: error: etcd.client_port: expected a port number from 1 to 65535, found 70000", ""),
        ("address and interface", format!("{NODE}interface = \"eth0\"\n{static1}"), "/etc/fleetnode.toml:4:13: error: node.interface: both node.address and node.interface are set", ""),
        ("bad interface", format!("[node]\nname = \"infra0\"\ninterface = \"eth0/1\"\n{static1}"), "/etc/fleetnode.toml:3:13: error: node.interface: expected a network interface name", ""),
        ("bad role", format!("{NODE}[etcd]\nrole = \"memeber\"\n"), "/etc/fleetnode.toml:5:8: error: etcd.role: expected \"member\" or \"client\", found \"memeber\"", "did you mean \"member\"?"),
        ("client with discovery", format!("{NODE}[etcd]\nrole = \"client\"\ndiscovery = \"https://d.example/x\"\n"), "/etc/fleetnode.toml:6:1: error: etcd.discovery: a node with role = \"client\" runs no etcd", ""),
        ("client without endpoints", format!("{NODE}[etcd]\nrole = \"client\"\n"), "/etc/fleetnode.toml: error: etcd.endpoints: a node with role = \"client\" needs etcd.endpoints or etcd.peers", ""),
        ("client with fleet off", format!("{NODE}[etcd]\nrole = \"client\"\nendpoints = [\"http://10.0.0.10:2379\"]\n[fleet]\nenabled = false\n"), "/etc/fleetnode.toml:8:11: error: fleet.enabled: a node with role = \"client\" and fleet disabled would run nothing", ""),
        ("endpoint credentials", format!("{NODE}[etcd]\nrole = \"client\"\nendpoints = [\"http://u:p@10.0.0.10:2379\"]\n"), "/etc/fleetnode.toml:6:14: error: etcd.endpoints[0]: credentials in an endpoint URL are not supported", ""),
        ("tls relative", format!("{NODE}{static1}[etcd.tls]\nca = \"ca.crt\"\n"), "/etc/fleetnode.toml:7:6: error: etcd.tls.ca: expected an absolute path", ""),
        ("tls cert without key", format!("{NODE}{static1}[etcd.tls]\ncert = \"/a.crt\"\n"), "/etc/fleetnode.toml:7:1: error: etcd.tls.cert: cert is set without key", ""),
        ("client auth without ca", format!("{NODE}{static1}[etcd.tls]\ncert = \"/a.crt\"\nkey = \"/a.key\"\nclient_cert_auth = true\n"), "/etc/fleetnode.toml:9:1: error: etcd.tls.client_cert_auth: client_cert_auth needs ca", ""),
        ("proxy without urls", format!("{NODE}{static1}[proxy]\nno_proxy = [\"x.example\"]\n"), "/etc/fleetnode.toml: error: proxy: the [proxy] section sets neither http nor https", ""),
        ("no_proxy with comma", format!("{NODE}{static1}[proxy]\nhttp = \"http://p:3128\"\nno_proxy = [\"a,b\"]\n"), "/etc/fleetnode.toml:8:13: error: proxy.no_proxy[0]: expected a host, domain, IP address or CIDR", ""),
        ("metadata not a string", format!("{NODE}{static1}[fleet.metadata]\nrack = 12\n"), "/etc/fleetnode.toml:7:8: error: fleet.metadata.rack: expected a string, found an integer", ""),
        ("core user", format!("{NODE}{static1}[core]\nuser = \"Core User\"\n"), "/etc/fleetnode.toml:7:8: error: core.user: expected a user name", ""),
        ("core key", format!("{NODE}{static1}[core]\nauthorized_keys = [\"not a key\"]\n"), "/etc/fleetnode.toml:7:20: error: core.authorized_keys[0]: expected an SSH public key", ""),
        ("health zero", format!("{NODE}{static1}[health]\ninterval = \"0s\"\n"), "/etc/fleetnode.toml:7:12: error: health.interval: the interval must be at least 1 second", ""),
        ("tab in a value", format!("{NODE}{static1}cluster_token = \"a\\tb\"\n"), "/etc/fleetnode.toml:6:17: error: etcd.cluster_token: contains the control character U+0009", ""),
        ("NUL in a value", format!("{NODE}{static1}cluster_token = \"a\\u0000b\"\n"), "/etc/fleetnode.toml:6:17: error: etcd.cluster_token: contains the control character U+0000", ""),
        ("duplicate key is a syntax error", format!("{NODE}name = \"x\"\n{static1}"), "/etc/fleetnode.toml:4:1: error: TOML syntax:", ""),
    ];
    let mut failures = Vec::new();
    for (what, text, want, hint) in cases {
        let d = diagnostics(&[("/etc/fleetnode.toml", text)]);
        let first = d.first().cloned().unwrap_or_default();
        if !first.contains(want) || !first.contains(hint) {
            failures.push(format!(
                "{what}:\n  want: {want} ... {hint}\n  got:  {first}\n  all:  {d:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_later_file_is_named_in_the_diagnostic() {
    let d = diagnostics(&[
        (
            "/etc/fleetnode.toml",
            &format!("{NODE}[etcd]\npeers = {{ infra0 = \"10.0.0.10\" }}\n"),
        ),
        (
            "/etc/fleetnode.d/50-x.toml",
            "[fleet.metadata]\nzone = \"a b\"\n",
        ),
    ]);
    assert!(
        d[0].starts_with("/etc/fleetnode.d/50-x.toml:2:8: error: fleet.metadata.zone"),
        "{d:?}"
    );
}

#[test]
fn defaults_and_host_name() {
    let text = "[node]\naddress = \"10.0.0.10\"\n[etcd]\npeers = { infra0 = \"10.0.0.10\" }\n";
    let sources = Sources {
        files: vec![SourceFile {
            name: "/etc/fleetnode.toml".into(),
            text: text.into(),
        }],
    };
    let v = validate(
        &parse_and_merge(&sources).unwrap(),
        &sources,
        Some("infra0.corp.example"),
    );
    let c = v.config.expect("valid");
    assert_eq!(
        c.name, "infra0",
        "the short static host name is the default name"
    );
    assert_eq!(c.address, Address::Fixed("10.0.0.10".into()));
    assert_eq!(c.role, Role::Member);
    assert_eq!(
        c.bootstrap,
        Bootstrap::Static(vec![("infra0".into(), "10.0.0.10".into())])
    );
    assert_eq!(
        (c.client_port, c.peer_port, c.data_dir.as_str()),
        (2379, 2380, "/var/lib/etcd")
    );
    assert_eq!(
        (
            c.core.user.as_str(),
            c.health_interval_secs,
            c.fleet_enabled
        ),
        ("core", 30, true)
    );
}

#[test]
fn warnings_do_not_block() {
    let d = diagnostics(&[(
        "/etc/fleetnode.toml",
        &format!("{NODE}[etcd]\npeers = {{ infra0 = \"10.0.0.10\" }}\nendpoints = [\"http://10.0.0.11:2379\"]\n"),
    )]);
    assert_eq!(d.len(), 1);
    assert!(
        d[0].contains("warning: etcd.endpoints: ignored for a member"),
        "{d:?}"
    );
}

#[test]
fn thousands_of_errors_are_capped() {
    let mut text = format!("{NODE}[etcd.peers]\n");
    for i in 0..20_000 {
        text.push_str(&format!("p{i} = \"10.0.0.10\"\n"));
    }
    let t = std::time::Instant::now();
    let d = diagnostics(&[("/etc/fleetnode.toml", &text)]);
    assert_eq!(
        d.len(),
        fleetnode::config::MAX_DIAGNOSTICS + 1,
        "{:?}",
        &d[..3]
    );
    assert!(
        d.last().unwrap().contains("more problems, not shown"),
        "{:?}",
        d.last()
    );
    // Not a timing test: a generous bound that only a quadratic blow-up would cross.
    assert!(t.elapsed().as_secs() < 20);
}

#[test]
fn system_directories_are_not_data_dirs() {
    for dir in ["/", "/etc", "/var/lib", "/usr", "/proc/1"] {
        let text =
            format!("{NODE}[etcd]\npeers = {{ infra0 = \"10.0.0.10\" }}\ndata_dir = \"{dir}\"\n");
        let d = diagnostics(&[("/etc/fleetnode.toml", &text)]);
        assert!(
            d[0].contains("expected a dedicated directory for etcd's data"),
            "{dir}: {d:?}"
        );
    }
}

#[test]
fn unusable_addresses_and_ports() {
    for addr in ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255"] {
        let text = format!("[node]\nname = \"infra0\"\naddress = \"{addr}\"\n[etcd]\npeers = {{ infra0 = \"10.0.0.10\" }}\n");
        let d = diagnostics(&[("/etc/fleetnode.toml", &text)]);
        assert!(
            d[0].contains("node.address: expected an IP address or a host name"),
            "{addr}: {d:?}"
        );
    }
    let d = diagnostics(&[(
        "/etc/fleetnode.toml",
        &format!("{NODE}[etcd]\npeers = {{ infra0 = \"10.0.0.10\" }}\nclient_port = 80\n"),
    )]);
    assert!(d[0].contains("port 80 is privileged"), "{d:?}");
    let d = diagnostics(&[("/etc/fleetnode.toml", &format!("{NODE}[etcd]\npeers = {{ infra0 = \"10.0.0.10\" }}\n[health]\ninterval = \"300000000d\"\n"))]);
    assert!(d[0].contains("at most 30 days"), "{d:?}");
}
