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

/// Every machine fleet knows, following pagination (bounded).
pub fn machines(socket: &str) -> Result<Vec<Machine>, String> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let path = match &token {
            Some(t) => format!("/fleet/v1/machines?nextPageToken={t}"),
            None => "/fleet/v1/machines".to_string(),
        };
        let body = get(socket, &path)?;
        let page: Page = serde_json::from_str(&body)
            .map_err(|e| format!("fleet API {path}: unexpected reply: {e}"))?;
        all.extend(page.machines);
        match page.next_page_token {
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
