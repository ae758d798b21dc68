//! `fleetnode core`: the `core` user that fleetctl logs in as, its SSH keys, and the
//! cluster-wide exchange of keys through etcd.
//!
//! Runs at boot (fleetnode-core.service, before fleet.service) and, with `--sync`, from the
//! health timer: etcd may have no quorum yet at boot, so publishing keys and writing
//! known_hosts are retried until they succeed, and repeated as peers appear.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fleetnode::config::{Address, Config};
use nix::unistd::{Gid, Group, Uid, User};
use serde_json::json;

use super::etcd::Etcd;
use super::safefs::SafeDir;
use super::{FAILED, OK};

pub const BEGIN: &str = "# BEGIN fleetnode managed keys: rewritten by `fleetnode core`; add your own keys outside this block";
pub const END: &str = "# END fleetnode managed keys";
const CORE_KEYS: &str = "/fleetnode/core-keys";
const HOST_KEYS: &str = "/fleetnode/host-keys";
/// fleetctl v1.0.0 uses an old golang.org/x/crypto/ssh: ECDSA is the newest type it knows.
const KEY_NAME: &str = "id_ecdsa";

struct CoreUser {
    name: String,
    uid: Uid,
    gid: Gid,
    home: PathBuf,
}

/// What one run did, so a second run can say it changed nothing.
#[derive(Default)]
pub struct Report {
    pub changes: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn run(root: &Path, sync_only: bool) -> u8 {
    let cfg = match super::valid_config(root) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut report = Report::default();
    match setup(&cfg, sync_only, &mut report) {
        Ok(()) => {
            for c in &report.changes {
                println!("{c}");
            }
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            if report.changes.is_empty() {
                println!("core user {}: up to date, nothing changed", cfg.core.user);
            }
            OK
        }
        Err(e) => {
            for c in &report.changes {
                println!("{c}");
            }
            eprintln!("error: {e}");
            FAILED
        }
    }
}

/// Creates or updates the user and keys, then (best effort) syncs keys with etcd.
pub fn setup(cfg: &Config, sync_only: bool, report: &mut Report) -> Result<(), String> {
    let user = if sync_only {
        existing_user(&cfg.core.user)?
    } else {
        ensure_user(&cfg.core.user, report)?
    };
    let home = SafeDir::open(&user.home).map_err(|e| e.to_string())?;
    let ssh = private_dir(&home, ".ssh", &user, report)?;
    let own_pub = if sync_only {
        read_own_public_key(&ssh)
    } else {
        Some(ensure_private_key(cfg, &user, &ssh, report)?)
    };

    // Everything from etcd is best effort: it may have no quorum yet at boot.
    let mut published: Vec<String> = Vec::new();
    let mut hosts: Vec<(String, String)> = Vec::new();
    let exchange = if cfg.core.exchange_keys {
        Etcd::for_config(cfg).and_then(|etcd| sync_with_etcd(&etcd, cfg, own_pub.as_deref()))
    } else {
        Ok((Vec::new(), Vec::new()))
    };
    let etcd_answered = exchange.is_ok();
    match exchange {
        Ok((p, h)) => {
            // Keys in etcd become logins as core (and core may be in the docker group): say
            // so when etcd does not authenticate its clients. See SECURITY.md.
            if !sync_only && !p.is_empty() && !cfg.tls.client_cert_auth {
                report.warnings.push(format!(
                    "authorized {} core keys published in etcd, which does not require client certificates: anyone who can write to etcd can log in as {}; set [etcd.tls] client_cert_auth = true",
                    p.len(),
                    cfg.core.user
                ));
            }
            published = p;
            hosts = h;
        }
        Err(e) => report.warnings.push(format!(
            "key exchange through etcd failed, retried by fleetnode-health.timer: {e}"
        )),
    }

    let mut keys: Vec<String> = cfg.core.authorized_keys.clone();
    keys.extend(keys_from_dir(
        Path::new(&cfg.core.authorized_keys_dir),
        report,
    ));
    keys.extend(published);
    let existing = ssh.read("authorized_keys").map_err(|e| e.to_string())?;
    let existing = String::from_utf8_lossy(existing.as_deref().unwrap_or_default()).into_owned();
    // Without etcd, keep the cluster keys already in the block rather than dropping them.
    let keep_old = cfg.core.exchange_keys && !etcd_answered;
    let new = managed_block(&existing, &keys, keep_old);
    if ssh
        .write("authorized_keys", new.as_bytes(), 0o600, user.uid, user.gid)
        .map_err(|e| e.to_string())?
    {
        report.changes.push(format!(
            "{}/authorized_keys: managed block updated ({} keys)",
            ssh.path.display(),
            count_keys(&new)
        ));
    }

    if !hosts.is_empty() {
        let fc = private_dir(&home, ".fleetctl", &user, report)?;
        let text = known_hosts(&hosts);
        if fc
            .write("known_hosts", text.as_bytes(), 0o644, user.uid, user.gid)
            .map_err(|e| e.to_string())?
        {
            report.changes.push(format!(
                "{}/known_hosts: {} hosts",
                fc.path.display(),
                hosts.len()
            ));
        }
    }
    Ok(())
}

/// A 0700 directory of the user's, created or fixed, the change reported.
fn private_dir(
    home: &SafeDir,
    name: &str,
    user: &CoreUser,
    report: &mut Report,
) -> Result<SafeDir, String> {
    let (dir, changed) = home
        .subdir(name, 0o700, user.uid, user.gid)
        .map_err(|e| e.to_string())?;
    if changed {
        report
            .changes
            .push(format!("{}: created or fixed (0700)", dir.path.display()));
    }
    Ok(dir)
}

fn existing_user(name: &str) -> Result<CoreUser, String> {
    let u = User::from_name(name)
        .map_err(|e| format!("looking up user {name}: {e}"))?
        .ok_or_else(|| format!("user {name} does not exist yet: `fleetnode core` (fleetnode-core.service) creates it"))?;
    Ok(CoreUser {
        name: u.name,
        uid: u.uid,
        gid: u.gid,
        home: u.dir,
    })
}

/// Creates the user if missing (home /home/NAME, /bin/bash, locked password) and adds it to
/// the systemd-journal and docker groups where those exist, so `fleetctl journal` works.
fn ensure_user(name: &str, report: &mut Report) -> Result<CoreUser, String> {
    let groups: Vec<&str> = ["systemd-journal", "docker"]
        .into_iter()
        .filter(|g| Group::from_name(g).ok().flatten().is_some())
        .collect();
    if User::from_name(name)
        .map_err(|e| format!("looking up user {name}: {e}"))?
        .is_none()
    {
        let mut cmd = Command::new("useradd");
        cmd.args([
            "--create-home",
            "--home-dir",
            &format!("/home/{name}"),
            "--shell",
            "/bin/bash",
            "--user-group",
        ]);
        cmd.args(["--comment", "fleet user (fleetnode)"]);
        if !groups.is_empty() {
            cmd.args(["--groups", &groups.join(",")]);
        }
        run_cmd(cmd.arg(name))?;
        // useradd leaves the password locked ('!'); make that explicit.
        run_cmd(Command::new("usermod").args(["--lock", name]))?;
        report.changes.push(format!(
            "user {name}: created (home /home/{name}, groups {})",
            groups.join(",")
        ));
    }
    let user = existing_user(name)?;
    for g in groups {
        let members = Group::from_name(g)
            .ok()
            .flatten()
            .map(|g| g.mem)
            .unwrap_or_default();
        if !members.iter().any(|m| m == name) {
            run_cmd(Command::new("usermod").args(["--append", "--groups", g, name]))?;
            report
                .changes
                .push(format!("user {name}: added to group {g}"));
        }
    }
    Ok(user)
}

fn run_cmd(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} failed: {}",
            cmd,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn read_own_public_key(ssh: &SafeDir) -> Option<String> {
    let bytes = ssh.read(&format!("{KEY_NAME}.pub")).ok().flatten()?;
    Some(String::from_utf8_lossy(&bytes).trim().to_string())
}

/// Installs the configured private key, or generates one on first run (never overwriting an
/// existing key). Returns the public key line.
fn ensure_private_key(
    cfg: &Config,
    user: &CoreUser,
    ssh: &SafeDir,
    report: &mut Report,
) -> Result<String, String> {
    if let Some(src) = &cfg.core.private_key {
        let meta = fs::metadata(src).map_err(|e| format!("core.private_key {src}: {e}"))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "core.private_key {src} is readable by group or others (mode {:04o}); run `chmod 600 {src}`: a private key must not be shared",
                meta.permissions().mode() & 0o7777
            ));
        }
        let key = fs::read(src).map_err(|e| format!("core.private_key {src}: {e}"))?;
        let pub_line = public_key_of(Path::new(src))?;
        if ssh
            .write(KEY_NAME, &key, 0o600, user.uid, user.gid)
            .map_err(|e| e.to_string())?
        {
            report.changes.push(format!(
                "{}/{KEY_NAME}: installed from {src}",
                ssh.path.display()
            ));
        }
        let pub_text = format!("{pub_line}\n");
        if ssh
            .write(
                &format!("{KEY_NAME}.pub"),
                pub_text.as_bytes(),
                0o644,
                user.uid,
                user.gid,
            )
            .map_err(|e| e.to_string())?
        {
            report
                .changes
                .push(format!("{}/{KEY_NAME}.pub: installed", ssh.path.display()));
        }
        return Ok(pub_line);
    }
    if let Some(existing) = read_own_public_key(ssh) {
        if ssh.read(KEY_NAME).map_err(|e| e.to_string())?.is_some() {
            return Ok(existing);
        }
    }
    // Generate in a private directory of root's, then install through the safe path.
    let tmp = std::env::temp_dir().join(format!("fleetnode-keygen-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp)
        .and_then(|_| fs::set_permissions(&tmp, fs::Permissions::from_mode(0o700)))
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let comment = format!("{}@{} (fleetnode)", user.name, host.trim());
    let keyfile = tmp.join("key");
    let result = run_cmd(
        Command::new("ssh-keygen")
            .args([
                "-q", "-t", "ecdsa", "-b", "256", "-N", "", "-C", &comment, "-f",
            ])
            .arg(&keyfile),
    )
    .and_then(|_| {
        let key = fs::read(&keyfile).map_err(|e| e.to_string())?;
        let pubk = fs::read_to_string(tmp.join("key.pub")).map_err(|e| e.to_string())?;
        ssh.write(KEY_NAME, &key, 0o600, user.uid, user.gid)
            .map_err(|e| e.to_string())?;
        ssh.write(
            &format!("{KEY_NAME}.pub"),
            pubk.as_bytes(),
            0o644,
            user.uid,
            user.gid,
        )
        .map_err(|e| e.to_string())?;
        Ok(pubk.trim().to_string())
    });
    let _ = fs::remove_dir_all(&tmp);
    let pubk = result?;
    report.changes.push(format!(
        "{}/{KEY_NAME}: generated an ECDSA key pair for {}",
        ssh.path.display(),
        user.name
    ));
    Ok(pubk)
}

fn public_key_of(private: &Path) -> Result<String, String> {
    let pub_path = PathBuf::from(format!("{}.pub", private.display()));
    if let Ok(p) = fs::read_to_string(&pub_path) {
        return Ok(p.trim().to_string());
    }
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(private)
        .output()
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot derive the public key of {}: {}",
            private.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Key lines from every regular file in the directory (comments and blank lines skipped).
fn keys_from_dir(dir: &Path, report: &mut Report) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let mut keys = Vec::new();
    for p in names {
        match fs::read_to_string(&p) {
            Ok(text) => {
                for line in text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                {
                    match fleetnode::net::check_ssh_public_key(line) {
                        Ok(()) => keys.push(line.to_string()),
                        Err(e) => report
                            .warnings
                            .push(format!("{}: skipped a line: {e}", p.display())),
                    }
                }
            }
            Err(e) => report.warnings.push(format!("{}: {e}", p.display())),
        }
    }
    keys
}

/// (address, host key) of every node.
type HostKeys = Vec<(String, String)>;

/// Publishes this node's core public key and SSH host key, and reads everyone's.
/// Returns (every published core key, every (address, host key)).
fn sync_with_etcd(
    etcd: &Etcd,
    cfg: &Config,
    own_pub: Option<&str>,
) -> Result<(Vec<String>, HostKeys), String> {
    let id = machine_id()?;
    if let Some(k) = own_pub {
        etcd.put(&format!("{CORE_KEYS}/{id}"), k, None)?;
    }
    if let (Some(addr), Some(hk)) = (node_address(cfg), host_key()) {
        let v = json!({ "address": addr, "key": hk, "name": cfg.name }).to_string();
        etcd.put(&format!("{HOST_KEYS}/{id}"), &v, None)?;
    }
    let core_keys: Vec<String> = etcd
        .list(CORE_KEYS)?
        .into_iter()
        .map(|(_, v)| v)
        .filter(|k| fleetnode::net::check_ssh_public_key(k).is_ok() && !k.contains('\n'))
        .collect();
    let mut hosts = Vec::new();
    for (_, v) in etcd.list(HOST_KEYS)? {
        let Ok(j) = serde_json::from_str::<serde_json::Value>(&v) else {
            continue;
        };
        let (Some(a), Some(k)) = (j["address"].as_str(), j["key"].as_str()) else {
            continue;
        };
        if a.parse::<std::net::IpAddr>().is_ok()
            && fleetnode::net::check_ssh_public_key(k).is_ok()
            && !k.contains('\n')
        {
            hosts.push((a.to_string(), k.to_string()));
        }
    }
    hosts.sort();
    hosts.dedup();
    Ok((core_keys, hosts))
}

pub fn machine_id() -> Result<String, String> {
    let id = fs::read_to_string("/etc/machine-id").map_err(|e| format!("/etc/machine-id: {e}"))?;
    let id = id.trim();
    if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(id.to_string())
    } else {
        Err("/etc/machine-id is not a 32-digit hex id".into())
    }
}

/// The node's address: configured, or resolved at unit start (interface mode).
pub fn node_address(cfg: &Config) -> Option<String> {
    match &cfg.address {
        Address::Fixed(a) => Some(a.clone()),
        Address::Interface(_) => {
            let text = fs::read_to_string("/run/fleetnode/fleet-address.env").ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("FLEET_PUBLIC_IP="))
                .map(|v| v.trim_matches('"').to_string())
        }
    }
}

/// This host's SSH host public key, preferring types fleetctl v1.0.0 understands.
fn host_key() -> Option<String> {
    ["ecdsa", "rsa", "ed25519"].iter().find_map(|t| {
        let k = fs::read_to_string(format!("/etc/ssh/ssh_host_{t}_key.pub")).ok()?;
        let mut parts = k.split_whitespace();
        Some(format!("{} {}", parts.next()?, parts.next()?))
    })
}

/// known_hosts in OpenSSH format with the peer's IP as host, as fleetctl reads it.
pub fn known_hosts(hosts: &[(String, String)]) -> String {
    let mut s =
        String::from("# Written by `fleetnode core` from the host keys published in etcd.\n");
    for (addr, key) in hosts {
        let host = if addr.contains(':') {
            format!("[{addr}]")
        } else {
            addr.clone()
        };
        s.push_str(&format!("{host} {key}\n"));
    }
    s
}

/// Replaces the managed block of an authorized_keys file, keeping every other line.
/// With `keep_old`, keys already in the block stay (etcd unreachable: do not drop peers).
pub fn managed_block(existing: &str, keys: &[String], keep_old: bool) -> String {
    let mut outside = Vec::new();
    let mut old = Vec::new();
    let mut inside = false;
    for line in existing.lines() {
        if line.starts_with("# BEGIN fleetnode managed keys") {
            inside = true;
        } else if line == END {
            inside = false;
        } else if inside {
            old.push(line.to_string());
        } else {
            outside.push(line.to_string());
        }
    }
    let mut set: BTreeSet<String> = BTreeSet::new();
    let mut ordered = Vec::new();
    let candidates = keys
        .iter()
        .cloned()
        .chain(if keep_old { old } else { Vec::new() });
    for k in candidates {
        if !k.trim().is_empty() && set.insert(k.clone()) {
            ordered.push(k);
        }
    }
    let mut out = String::new();
    for l in &outside {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(BEGIN);
    out.push('\n');
    for k in ordered {
        out.push_str(&k);
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

fn count_keys(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_block_keeps_hand_added_keys() {
        let existing = format!("ssh-rsa AAAAhand admin@x\n{BEGIN}\nssh-ed25519 AAAAold old@x\n{END}\n# trailing comment\n");
        let new = managed_block(&existing, &["ssh-ed25519 AAAAnew new@x".into()], false);
        assert_eq!(new, format!("ssh-rsa AAAAhand admin@x\n# trailing comment\n{BEGIN}\nssh-ed25519 AAAAnew new@x\n{END}\n"));
        // Idempotent.
        assert_eq!(
            managed_block(&new, &["ssh-ed25519 AAAAnew new@x".into()], false),
            new
        );
        // Without etcd the old cluster keys stay.
        let kept = managed_block(&existing, &[], true);
        assert!(kept.contains("AAAAold"));
    }

    #[test]
    fn known_hosts_format() {
        let k = known_hosts(&[
            ("10.0.0.11".into(), "ecdsa-sha2-nistp256 AAAAE2".into()),
            ("fd00::1".into(), "ssh-rsa AAAAB3".into()),
        ]);
        assert!(k.contains("\n10.0.0.11 ecdsa-sha2-nistp256 AAAAE2\n"));
        assert!(k.contains("\n[fd00::1] ssh-rsa AAAAB3\n"));
    }
}
