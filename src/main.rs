//! fleetnode: validate, preview and apply the node's configuration; set up the core user;
//! check health. Exit status: 0 success, 1 a failed check, 2 a usage error.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "fleetnode",
    version,
    about = "Run this host as an etcd + fleet cluster node, configured by /etc/fleetnode.toml"
)]
struct Cli {
    /// Read the configuration below this root instead of / (for fixture trees and images).
    #[arg(
        long,
        global = true,
        env = "FLEETNODE_ROOT",
        default_value = "/",
        hide_env_values = true
    )]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Validate /etc/fleetnode.toml and /etc/fleetnode.d/*.toml (exit 1 on errors).
    Check {
        /// Check this file instead of /etc/fleetnode.toml (the drop-ins are still read).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Show or write every file the generator would write (byte-identical to its output).
    Render {
        /// Render this file instead of /etc/fleetnode.toml (the drop-ins are still read).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Write the files into this (new or empty) directory instead of printing them.
        #[arg(long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
    /// Resolve the node's address from a network interface and write an environment file
    /// (run by the generated units' ExecStartPre= when node.interface is set).
    Address {
        /// The interface to read the address from.
        #[arg(long)]
        interface: String,
        /// The environment file to write.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
        /// How long to wait for the interface to get an address.
        #[arg(long, default_value = "30s")]
        timeout: String,
        /// NAME=VALUE lines to write, with {ip} and {urlhost} (IPv6 in brackets) replaced.
        #[arg(value_name = "NAME=TEMPLATE", required = true)]
        templates: Vec<String>,
    },
    /// Check, reload systemd, and restart only the units whose generated files changed.
    Apply {
        /// Show what would change and be restarted, without doing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create or update the core user and its SSH keys, and exchange keys through etcd.
    Core {
        /// Only the key exchange through etcd and known_hosts (the user must exist).
        #[arg(long)]
        sync: bool,
    },
    /// Run the health checks (exit 1 if one fails).
    ///
    /// The checks, in order: config (the configuration is valid); units (etcd.service,
    /// fleet.socket, fleet.service active); etcd-health (the local member's or the endpoints'
    /// /health); etcd-discovery (only when etcd is down during a discovery bootstrap, before
    /// etcd has data: the discovery service or the proxy unreachable, the token's cluster
    /// full, this node's bootstrap interrupted, or waiting for the other members);
    /// etcd-members; etcd-quorum (warns while a member is down and quorum holds, fails
    /// without quorum); etcd-leader; fleet-machines; core-keys (with --sync-keys). Each is ok,
    /// warn, fail or skip; the exit status is 1 when one fails, 0 otherwise.
    Health {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Also retry the key exchange of `fleetnode core --sync` (the health timer does).
        #[arg(long)]
        sync_keys: bool,
    },
    /// Show this node's configuration, units, etcd members and fleet machines.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Discovery service helpers.
    Discovery {
        #[command(subcommand)]
        command: DiscoveryCommand,
    },
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (fleetnode.1 and one per command) into a directory.
    #[command(hide = true)]
    Man {
        #[arg(long, value_name = "DIR")]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum DiscoveryCommand {
    /// Create a new discovery token URL for a cluster of SIZE members.
    New {
        #[arg(long, default_value_t = 3)]
        size: u32,
        /// The discovery service (e.g. a private etcd-discovery).
        #[arg(
            long,
            visible_alias = "server",
            default_value = "https://discovery.etcd.io"
        )]
        endpoint: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::logging::init();
    let code = match cli.command {
        Command::Check { config, format } => cli::check::run(&cli.root, config.as_deref(), format),
        Command::Render { config, output } => {
            cli::render::run(&cli.root, config.as_deref(), output.as_deref())
        }
        Command::Address {
            interface,
            output,
            timeout,
            templates,
        } => cli::address::run(&interface, &output, &timeout, &templates),
        Command::Apply { dry_run } => cli::apply::run(&cli.root, dry_run),
        Command::Core { sync } => cli::core::run(&cli.root, sync),
        Command::Health { json, sync_keys } => cli::health::run(&cli.root, json, sync_keys),
        Command::Status { json } => cli::status::run(&cli.root, json),
        Command::Discovery {
            command: DiscoveryCommand::New { size, endpoint },
        } => cli::discovery::new(&cli.root, &endpoint, size),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "fleetnode",
                &mut std::io::stdout(),
            );
            cli::OK
        }
        Command::Man { output } => cli::man::write(Cli::command(), &output),
    };
    ExitCode::from(code)
}
