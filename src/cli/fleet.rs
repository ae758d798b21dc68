//! fleet's HTTP API on its unix socket (/var/run/fleet.sock), the way fleetctl reaches it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde::Deserialize;

pub const SOCKET: &str = "/var/run/fleet.sock";

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Machine {
    pub id: String,
    #[serde(rename = "primaryIP", default)]
    pub primary_ip: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    machines: Vec<Machine>,
    #[serde(rename = "nextPageToken", default)]
    next_page_token: Option<String>,
}

/// The state of one unit on one machine (/fleet/v1/state).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct UnitState {
    pub name: String,
    #[serde(rename = "machineID", default)]
    pub machine_id: String,
    #[serde(rename = "systemdActiveState", default)]
    pub active: String,
    #[serde(rename = "systemdSubState", default)]
    pub sub: String,
}

#[derive(Debug, Deserialize)]
struct StatePage {
    #[serde(default)]
    states: Vec<UnitState>,
    #[serde(rename = "nextPageToken", default)]
    next_page_token: Option<String>,
}

trait Paged {
    type Item;
    fn split(self) -> (Vec<Self::Item>, Option<String>);
}
impl Paged for Page {
    type Item = Machine;
    fn split(self) -> (Vec<Machine>, Option<String>) {
        (self.machines, self.next_page_token)
    }
}
impl Paged for StatePage {
    type Item = UnitState;
    fn split(self) -> (Vec<UnitState>, Option<String>) {
        (self.states, self.next_page_token)
    }
}

/// Every machine fleet knows.
pub fn machines(socket: &str) -> Result<Vec<Machine>, String> {
    collect::<Page>(socket, "/fleet/v1/machines")
}

/// Every unit's state and the machine it runs on.
pub fn states(socket: &str) -> Result<Vec<UnitState>, String> {
    collect::<StatePage>(socket, "/fleet/v1/state")
}

/// All pages of a listing (bounded).
fn collect<P: Paged + for<'de> Deserialize<'de>>(
    socket: &str,
    base: &str,
) -> Result<Vec<P::Item>, String> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let path = match &token {
            Some(t) => format!("{base}?nextPageToken={t}"),
            None => base.to_string(),
        };
        let body = get(socket, &path)?;
        let page: P = serde_json::from_str(&body)
            .map_err(|e| format!("fleet API {path}: unexpected reply: {e}"))?;
        let (items, next) = page.split();
        all.extend(items);
        match next {
            Some(t)
                if !t.is_empty()
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_=".contains(c)) =>
            {
                token = Some(t)
            }
            _ => return Ok(all),
        }
    }
    Ok(all)
}

/// A plain HTTP/1.0 GET over the unix socket; returns the body of a 200 reply.
fn get(socket: &str, path: &str) -> Result<String, String> {
    let mut s =
        UnixStream::connect(socket).map_err(|e| format!("cannot connect to {socket}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok();
    s.set_write_timeout(Some(Duration::from_secs(3))).ok();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: fleet\r\nAccept: application/json\r\n\r\n"
    )
    .map_err(|e| format!("{socket}: {e}"))?;
    let mut buf = Vec::new();
    s.take(16 * 1024 * 1024)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{socket}: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{socket}: malformed HTTP reply"))?;
    let status = head.lines().next().unwrap_or("");
    if !status.split_whitespace().nth(1).is_some_and(|c| c == "200") {
        return Err(format!("fleet API {path}: {status}"));
    }
    Ok(body.to_string())
}
