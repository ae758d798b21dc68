# RPM packaging: included from the top-level Makefile (`include rpm/rpm.mk`).
# The work is done by rpm/build.sh; tests by tests/rpm/run.sh. Run as root on Debian 12
# (or any host with rpm-build, createrepo_c, gpg); missing tools are installed by
# rpm/deps.sh (apt-get, pip ziglang into a venv, cargo install cargo-zigbuild).
#
# Targets:
#   make sources     download etcd-vETCD_VERSION and fleet-v1.0.0 release tarballs into
#                    $(RPM_OUT)/sources and check their sha256 (etcd: the release's
#                    SHA256SUMS; fleet publishes none: pass FLEET_SHA256). Needs internet
#                    access to github.com, so it cannot run on the project's build machines.
#   make rpm         build etcd, fleet and fleetnode RPMs into $(RPM_OUT)/rpms (SRPMs into
#                    $(RPM_OUT)/srpms), then rpmlint them (0 errors required)
#   make repo        yum repository in $(RPM_OUT)/repo from $(RPM_OUT)/rpms: Packages/,
#                    repodata/ (createrepo_c), fleetnode.repo; with GPG_KEY also signed RPMs,
#                    repodata/repomd.xml.asc and RPM-GPG-KEY-fleetnode
#   make test-rpm    tests/rpm/run.sh: build, lint, install/upgrade/erase in a Debian rootfs,
#                    glibc floor, signed repo (writes only to a temp dir and the caches)
#
# Variables (make VAR=value or environment):
#   RPM_OUT        output folder                               [dist]
#   ETCD_TARBALL   etcd-vX.Y.Z-linux-amd64.tar.gz (< 3.6)      [$(RPM_OUT)/sources/etcd-v$(ETCD_VERSION)-linux-amd64.tar.gz]
#   ETCD_VERSION   etcd release for `make sources`             [3.5.21]
#   FLEET_TARBALL  fleet-v1.0.0-linux-amd64.tar.gz             [$(RPM_OUT)/sources/fleet-v1.0.0-linux-amd64.tar.gz]
#                  (test-rpm: without it, fleet is a placeholder; packaging layout only)
#   FLEET_SHA256   expected sha256 of the fleet tarball, for `make sources`
#   ETCD_DOWNLOAD_URL, FLEET_DOWNLOAD_URL   release download bases (a mirror) for `make sources`
#   FLEETNODE_RELEASE, ETCD_RELEASE, FLEET_RELEASE   RPM Release numbers [1]
#   GPG_KEY        gpg key id/fingerprint/email to sign with in `make repo` [unset: unsigned]
#   REPO_BASEURL   baseurl written into fleetnode.repo          [file://$(RPM_OUT)/repo]
#   RPM_WORK       rpmbuild tree, vendor tarball cache, cargo target dir [target/rpm]
#   FLEETNODE_TOOLS      zig venv and Debian .debs (rpm/deps.sh) [/var/cache/fleetnode-build]
#   FLEETNODE_TEST_CACHE debootstrap rootfs cache (test-rpm)     [/var/cache/fleetnode-tests/rpm]

RPM_OUT ?= $(CURDIR)/dist
RPM_WORK ?= $(CURDIR)/target/rpm
ETCD_VERSION ?= 3.5.21

# Exported to rpm/build.sh only where set, so its defaults apply otherwise.
RPM_ENV = OUT=$(abspath $(RPM_OUT)) RPM_WORK=$(abspath $(RPM_WORK)) ETCD_VERSION=$(ETCD_VERSION) \
	$(if $(ETCD_TARBALL),ETCD_TARBALL=$(abspath $(ETCD_TARBALL))) \
	$(if $(FLEET_TARBALL),FLEET_TARBALL=$(abspath $(FLEET_TARBALL))) \
	$(if $(FLEET_SHA256),FLEET_SHA256=$(FLEET_SHA256)) \
	$(if $(ETCD_DOWNLOAD_URL),ETCD_DOWNLOAD_URL=$(ETCD_DOWNLOAD_URL)) \
	$(if $(FLEET_DOWNLOAD_URL),FLEET_DOWNLOAD_URL=$(FLEET_DOWNLOAD_URL)) \
	$(if $(FLEETNODE_RELEASE),FLEETNODE_RELEASE=$(FLEETNODE_RELEASE)) \
	$(if $(ETCD_RELEASE),ETCD_RELEASE=$(ETCD_RELEASE)) \
	$(if $(FLEET_RELEASE),FLEET_RELEASE=$(FLEET_RELEASE)) \
	$(if $(GPG_KEY),GPG_KEY=$(GPG_KEY)) \
	$(if $(REPO_BASEURL),REPO_BASEURL=$(REPO_BASEURL))

.PHONY: rpm repo sources test-rpm rpm-deps

rpm-deps:
	rpm/deps.sh build

sources:
	$(RPM_ENV) rpm/build.sh sources

rpm: rpm-deps
	$(RPM_ENV) rpm/build.sh rpm
	$(RPM_ENV) rpm/build.sh lint

repo:
	$(RPM_ENV) rpm/build.sh repo

test-rpm:
	RPM_WORK=$(abspath $(RPM_WORK)) $(if $(FLEET_TARBALL),FLEET_TARBALL=$(abspath $(FLEET_TARBALL))) \
		tests/rpm/run.sh
