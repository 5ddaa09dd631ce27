# virtual-appliance-tools: `make demo`, `make test`, `make deb`. Run as root on Debian 12 or 13.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BUILD := $(CURDIR)/build
REPO := $(BUILD)/repo
# The signed APT repository made of $(REPO) (tools/make-repo): what the tests' roots and the demo
# install from, as a user's server does.
APT_REPO := $(BUILD)/apt
export CARGO_TARGET_DIR := $(CURDIR)/target
# Python wheels of the moin package, downloaded once (checked against the lock file's hashes).
export MOIN_WHEELHOUSE ?= /var/cache/appliance-tests/wheelhouse

# Debian packages the build, the tests and the demo need on the host (never inside test roots).
HOST_PACKAGES := build-essential debhelper dpkg-dev fakeroot lintian mmdebstrap unzip zip openssl python3 python3-venv \
	apt-utils gnupg xz-utils \
	systemd-container debconf-utils curl uidmap arch-test pkg-config libapt-pkg-dev g++ \
	libaugeas-dev libclang-dev augeas-lenses chromium chromium-driver \
	qemu-system-x86 qemu-utils ovmf dosfstools mtools fdisk

.PHONY: help deps deb deb-prepare repo sign lintian reproducible test unit e2e demo demo-stop bench clean

help:
	@echo "make demo   build the packages, install moinmoin-appliance in a throwaway Debian root, serve it"
	@echo "            (SUITE=$(SUITE): the root's Debian release, bookworm or trixie)"
	@echo "make test   install what the tests need and run every test (root)"
	@echo "make deb    build the packages for $(SUITES) into $(REPO)"
	@echo "make repo   make the signed APT repository $(APT_REPO) of them (REPO_GNUPGHOME, REPO_KEY, REPO_URI)"

deps:
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${db:Status-Status}\n' $$p 2>/dev/null | grep -qx installed || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing on the host: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@# qemu-system-x86 from Debian 12 conflicts with a newer qemu-utils (a backport) and removes it.
	@command -v qemu-img >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-utils

# The releases `make deb` builds for, each in its own clean build root (tools/build-root); the
# host's release goes into $(REPO) as a flat repository (./), every other into $(REPO)/SUITE.
SUITES ?= bookworm trixie
HOST_SUITE := $(shell . /etc/os-release && echo $$VERSION_CODENAME)
# Per release: where cargo builds (the host's release in target/, whose target/release programs the
# tests run; others in target/SUITE) and where moin's downloads are kept (one Python each).
target_of = $(if $(filter $(HOST_SUITE),$(1)),$(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR)/$(1))
wheelhouse_of = $(if $(filter $(HOST_SUITE),$(1)),$(MOIN_WHEELHOUSE),$(MOIN_WHEELHOUSE)-$(1))
repo_of = $(if $(filter $(HOST_SUITE),$(1)),$(REPO),$(REPO)/$(1))

deb: deps deb-prepare
	$(foreach suite,$(SUITES),$(MAKE) --no-print-directory deb-$(suite);)
	@ls -1 $(REPO)/*.deb $(foreach suite,$(filter-out $(HOST_SUITE),$(SUITES)),$(REPO)/$(suite)/*.deb)

deb-prepare:
	rm -rf $(REPO)
	@# The crates that Cargo.lock names, fetched here: the builds inside the roots run offline.
	cargo fetch --locked --quiet

# One release's packages, built and checked with lintian in its build root, into its repository.
deb-%:
	mkdir -p $(call wheelhouse_of,$*)
	rm -rf $(BUILD)/$* $(call repo_of,$*)/*.deb
	CARGO_TARGET_DIR=$(call target_of,$*) MOIN_WHEELHOUSE=$(call wheelhouse_of,$*) \
		BUILD_ROOT_BIND=$(call wheelhouse_of,$*) BUILD_ROOT_ENV="CARGO_TARGET_DIR MOIN_WHEELHOUSE" \
		tools/build-root run $* tools/build-packages $(BUILD)/$*
	@# Indexed apart: dpkg-scanpackages would descend into $(REPO)/SUITE.
	mkdir -p $(BUILD)/$*/repo $(call repo_of,$*)
	cp -l $(BUILD)/$*/*.deb $(BUILD)/$*/repo/
	cd $(BUILD)/$*/repo && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null
	cp $(BUILD)/$*/repo/* $(call repo_of,$*)/

# moin built twice per release in its build root, offline from the wheelhouse of `make deb`, at two
# paths, umasks and time zones: the same bytes (appliances/moinmoin/moin/check-reproducible).
reproducible:
	$(foreach suite,$(SUITES),MOIN_WHEELHOUSE=$(call wheelhouse_of,$(suite)) MOIN_OFFLINE=1 \
		BUILD_ROOT_BIND=$(call wheelhouse_of,$(suite)) BUILD_ROOT_ENV="MOIN_WHEELHOUSE MOIN_OFFLINE" \
		tools/build-root run $(suite) appliances/moinmoin/moin/check-reproducible $(BUILD)/reproducible-$(suite);)

# Signed with the packager's key (REPO_GNUPGHOME, REPO_KEY) or one made for this tree.
repo: deb
	$(MAKE) --no-print-directory sign

# The signed repository of the packages built already (`make deb`), for SUITES.
sign:
	tools/make-repo $(APT_REPO) $(foreach suite,$(SUITES),$(suite)=$(call repo_of,$(suite)))

# Unit tests and the integration tests that need no Debian root (not the e2e ones).
unit: deps
	cargo test --locked --workspace --lib --bins --test cli --test backup

e2e: repo
	APPLIANCE_E2E=1 cargo test --locked --test e2e -- --test-threads=2

# Every test: unit, integration and end-to-end, on every release of SUITES; APPLIANCE_E2E=1 makes
# a missing need a failure. The host's release is built and tested first, the other releases'
# packages build beside its tests, and their tests (e2e module SUITE::) run last (tools/run-tests).
test: deps
	tools/run-tests $(HOST_SUITE) $(filter-out $(HOST_SUITE),$(SUITES))

# The release of the demo's root: the newest stable one unless told (make demo SUITE=bookworm).
SUITE ?= trixie
ifneq ($(filter demo,$(MAKECMDGOALS)),)
ifeq ($(filter $(SUITE),$(SUITES)),)
$(error make demo: SUITE=$(SUITE) is not among the releases built, SUITES=$(SUITES))
endif
endif

demo: repo
	APPLIANCE_SUITE=$(SUITE) tests/e2e/demo

demo-stop:
	tests/e2e/debian-root remove /var/tmp/appliance-demo

bench: deb
	bench/hook-vs-extracttemplates
	bench/valist-vs-apt-cache
	bench/backup-vs-tar
	bench/va-build-vs-mmdebstrap
	bench/control-vs-cockpit
	bench/moinmoin-appliance

clean:
	rm -rf $(BUILD)
	cargo clean
