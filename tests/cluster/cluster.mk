# Real-boot cluster tests and the demo (systemd-nspawn nodes on a private bridge).
# Included from the top-level Makefile. Root only, Debian 12.
#
#   make test-cluster                        deps, RPMs, every scenario (PASS/FAIL/SKIP lines)
#   make test-cluster CLUSTER_SCENARIOS="01 03"
#   make demo-cluster                        boots the 3-node demo cluster and leaves it running
#   make demo-down                           tears the demo down
#   make clean-cluster                       remove what a crashed run left (fn-* things)
#
# Self-sufficient on a fresh Debian 12 machine: tests/cluster/deps.sh installs the tools,
# tests/cluster/build-rpms.sh builds etcd (from Debian's binaries) and fleetnode RPMs into
# CLUSTER_RPM_OUT/rpms (+ a fleetnode Release 2 RPM into CLUSTER_RPM_OUT/upgrade/rpms), and a
# fleet RPM only with FLEET_TARBALL=... or FLEET_BIN_DIR=... Without fleet the nodes run with
# `[fleet] enabled = false` and every fleet step is SKIP.
# CLUSTER_RPM_DIR=DIR skips the build and installs DIR/*.rpm instead (e.g. dist/rpms).

CLUSTER_SCENARIOS ?=
CLUSTER_RPM_OUT ?= /var/cache/fleetnode-tests/dist
CLUSTER_RPM_DIR ?=

.PHONY: test-cluster demo-cluster demo-down clean-cluster cluster-deps cluster-rpms bench-cluster

cluster-deps:
	tests/cluster/deps.sh

cluster-rpms: cluster-deps
	$(if $(CLUSTER_RPM_DIR),@echo "cluster: using RPMs from $(CLUSTER_RPM_DIR)",tests/cluster/build-rpms.sh $(CLUSTER_RPM_OUT))

CLUSTER_ENV = FN_RPM_DIR=$(if $(CLUSTER_RPM_DIR),$(abspath $(CLUSTER_RPM_DIR)),$(CLUSTER_RPM_OUT)/rpms)

test-cluster: cluster-rpms
	$(CLUSTER_ENV) tests/cluster/run.sh $(CLUSTER_SCENARIOS)

demo-cluster: cluster-rpms
	$(CLUSTER_ENV) tests/cluster/demo.sh

demo-down:
	tests/cluster/demo.sh --down

bench-cluster: cluster-rpms
	$(CLUSTER_ENV) tests/cluster/bench.sh

clean-cluster:
	tests/cluster/run.sh --cleanup
