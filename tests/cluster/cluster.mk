# Real-boot cluster tests and the demo (systemd-nspawn nodes on a private bridge).
# Included from the top-level Makefile. Root only; tools: tests/cluster/deps.sh.
#
#   make test-cluster                        every scenario (PASS/FAIL/SKIP lines)
#   make test-cluster CLUSTER_SCENARIOS="01 03"
#   make demo-cluster [DEMO_ARGS=--no-wait]
#   make clean-cluster                       remove what a crashed run left (fn-* things)
#
# Both install the RPMs from dist/rpms (make rpm). Set CLUSTER_DEPS=rpm to build them first.
# fleet steps need the fleet RPM (FLEET_TARBALL=... make rpm); otherwise they are SKIP.

CLUSTER_SCENARIOS ?=
CLUSTER_DEPS ?=
DEMO_ARGS ?=

.PHONY: test-cluster demo-cluster clean-cluster cluster-deps

cluster-deps:
	tests/cluster/deps.sh

test-cluster: $(CLUSTER_DEPS)
	tests/cluster/run.sh $(CLUSTER_SCENARIOS)

demo-cluster: $(CLUSTER_DEPS)
	tests/cluster/demo.sh $(DEMO_ARGS)

clean-cluster:
	tests/cluster/run.sh --cleanup
