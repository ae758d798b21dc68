//! `fleetnode check`: the generator's validation, shown rustc-style or as JSON.

use std::path::Path;

use fleetnode::config::{Bootstrap, Config};
use fleetnode::diag::{Diagnostic, Severity};
use fleetnode::{load_with, Outcome};
use serde_json::json;

use super::{FAILED, OK};
use crate::Format;

pub fn run(root: &Path, config: Option<&Path>, format: Format) -> u8 {
    let outcome = load_with(root, config);
    match format {
        Format::Human => print_human(&outcome),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&outcome)).unwrap_or_default()
        ),
    }
    match outcome {
        Outcome::Invalid(_) => FAILED,
        _ => OK,
    }
}

fn print_human(outcome: &Outcome) {
    match outcome {
        Outcome::Unconfigured => {
            println!("not configured: /etc/fleetnode.toml and /etc/fleetnode.d/*.toml set nothing, so no units are generated")
        }
        Outcome::Valid { config, warnings } => {
            for w in warnings {
                eprint!("{w}");
            }
            println!("ok: {}", summary(config));
        }
        Outcome::Invalid(diags) => {
            for d in diags {
                eprintln!("{d}");
            }
            let n = diags.iter().filter(|d| d.is_error()).count();
            eprintln!(
                "{n} error{}: no etcd or fleet units would be generated",
                if n == 1 { "" } else { "s" }
            );
        }
    }
}

/// One line on what the configuration makes of this node.
pub fn summary(c: &Config) -> String {
    let boot = match &c.bootstrap {
        Bootstrap::Static(p) => format!("static cluster of {} peers", p.len()),
        Bootstrap::Discovery(u) => format!("discovery via {}://{}", u.scheme, u.host),
        Bootstrap::DiscoverySrv(d) => format!("DNS SRV discovery in {d}"),
        Bootstrap::None => format!("etcd client of {}", c.endpoints.join(", ")),
    };
    let fleet = if c.fleet_enabled {
        "fleet enabled"
    } else {
        "fleet disabled"
    };
    format!("node {}: {boot}; {fleet}", c.name)
}

fn diag_json(d: &Diagnostic) -> serde_json::Value {
    json!({
        "severity": if d.severity == Severity::Error { "error" } else { "warning" },
        "file": d.file,
        "line": d.line,
        "column": d.column,
        "key": d.key,
        "message": d.message,
        "hint": d.hint,
    })
}

fn to_json(outcome: &Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Unconfigured => json!({ "valid": true, "configured": false, "diagnostics": [] }),
        Outcome::Valid { config, warnings } => json!({
            "valid": true,
            "configured": true,
            "summary": summary(config),
            "diagnostics": warnings.iter().map(diag_json).collect::<Vec<_>>(),
        }),
        Outcome::Invalid(d) => json!({
            "valid": false,
            "configured": true,
            "diagnostics": d.iter().map(diag_json).collect::<Vec<_>>(),
        }),
    }
}
