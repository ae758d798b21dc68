#!/usr/bin/env python3
"""Reads a rendered configuration tree the way fleetnode merges it and compares values.

    tomlcheck.py ROOT EXPECT_JSON [ABSENT_JSON]

ROOT holds etc/fleetnode.toml and etc/fleetnode.d/*.toml (read in lexical order; tables merge
key by key, other values are replaced). EXPECT_JSON maps dotted keys to exact values
("etcd.cluster_token": "..."); ABSENT_JSON lists dotted keys that must not be set. Every file
must parse as TOML (tomllib, TOML 1.0). Prints one line per mismatch; exit 1 on any.
"""
import json
import pathlib
import sys
import tomllib


def merge(base, over):
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value


def lookup(tree, dotted):
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def main():
    root = pathlib.Path(sys.argv[1])
    expect = json.loads(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else {}
    absent = json.loads(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else []
    files = [root / "etc/fleetnode.toml"]
    dropins = root / "etc/fleetnode.d"
    if dropins.is_dir():
        files += sorted(p for p in dropins.iterdir() if p.suffix == ".toml" and not p.name.startswith("."))
    tree, bad = {}, 0
    for path in files:
        try:
            with open(path, "rb") as f:
                merge(tree, tomllib.load(f))
        except (OSError, tomllib.TOMLDecodeError) as e:
            print(f"{path}: {e}")
            bad += 1
    for key, want in expect.items():
        found, got = lookup(tree, key)
        if not found:
            print(f"{key}: missing (expected {want!r})")
            bad += 1
        elif got != want:
            print(f"{key}: got {got!r}, expected {want!r}")
            bad += 1
    for key in absent:
        found, got = lookup(tree, key)
        if found:
            print(f"{key}: should not be set, got {got!r}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
