# virtual-appliance-tools: `make demo`, `make test`, `make deb`. Run as root on Debian 12.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BUILD := $(CURDIR)/build
REPO := $(BUILD)/repo
# The signed APT repository made of $(REPO) (tools/make-repo): what the tests' roots and the demo
# install from, as a user's server does.
APT_REPO := $(BUILD)/apt
SUITE := $(shell . /etc/os-release && echo $$VERSION_CODENAME)
SRC := $(BUILD)/src
export CARGO_TARGET_DIR := $(CURDIR)/target
# In-tree dh_appliance, so that building our appliances never installs anything on the host.
APPLIANCE_BUILD_ENV := PATH="$(CURDIR)/dh-appliance:$(CARGO_TARGET_DIR)/release:$$PATH" \
	PERL5LIB="$(CURDIR)/dh-appliance" DH_DATAFILES="$(CURDIR)/dh-appliance" \
	APPLIANCE_VA_SEED="$(CARGO_TARGET_DIR)/release/va-seed"
# The other source packages: appliances/NAME/debian/ or appliances/NAME/PART/debian/
# (appliances/moinmoin/ holds the moin package, the appliance and its plugin).
SOURCES := $(patsubst %/debian/,%,$(wildcard appliances/*/debian/ appliances/*/*/debian/))
# Python wheels of the moin package, downloaded once (checked against the lock file's hashes).
export MOIN_WHEELHOUSE ?= /var/cache/appliance-tests/wheelhouse

# Debian packages the build, the tests and the demo need on the host (never inside test roots).
HOST_PACKAGES := build-essential debhelper dpkg-dev fakeroot lintian mmdebstrap unzip zip openssl python3 python3-venv \
	apt-utils gnupg xz-utils \
	systemd-container debconf-utils curl uidmap arch-test pkg-config libapt-pkg-dev g++ \
	libaugeas-dev libclang-dev augeas-lenses chromium chromium-driver \
	qemu-system-x86 qemu-utils ovmf dosfstools mtools fdisk

.PHONY: help deps deb repo lintian test unit e2e demo demo-stop bench clean

help:
	@echo "make demo   build the packages, install moinmoin-appliance in a throwaway Debian root, serve it"
	@echo "make test   install what the tests need and run every test (root)"
	@echo "make deb    build the packages into $(REPO)"
	@echo "make repo   make the signed APT repository $(APT_REPO) of them (REPO_GNUPGHOME, REPO_KEY, REPO_URI)"

deps:
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${db:Status-Status}\n' $$p 2>/dev/null | grep -qx installed || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing on the host: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@# qemu-system-x86 from Debian 12 conflicts with a newer qemu-utils (a backport) and removes it.
	@command -v qemu-img >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-utils

deb: deps
	rm -rf $(SRC) $(REPO)
	mkdir -p $(SRC)/virtual-appliance-tools $(REPO)
	tar -C $(CURDIR) --exclude=./target --exclude=./build --exclude=./.git -cf - . \
		| tar -C $(SRC)/virtual-appliance-tools -xf -
	cd $(SRC)/virtual-appliance-tools && dpkg-buildpackage -b -uc -us --no-sign >../tools.log 2>&1 \
		|| { tail -40 ../tools.log; exit 1; }
	for source in $(SOURCES); do \
		name=$$(echo "$${source#appliances/}" | tr / -); \
		cp -aL $$source $(SRC)/$$name; \
		(cd $(SRC)/$$name && $(APPLIANCE_BUILD_ENV) dpkg-buildpackage -b -uc -us -d --no-sign \
			>../$$name.log 2>&1) || { tail -40 $(SRC)/$$name.log; exit 1; }; \
	done
	$(MAKE) --no-print-directory lintian
	mv $(SRC)/*.deb $(REPO)/
	cd $(REPO) && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null
	@ls -1 $(REPO)/*.deb

# Signed with the packager's key (REPO_GNUPGHOME, REPO_KEY) or one made for this tree.
repo: deb
	tools/make-repo $(APT_REPO) $(SUITE)=$(REPO)

lintian:
	lintian --fail-on error,warning --tag-display-limit 0 $(SRC)/*.changes

# Unit tests and the integration tests that need no Debian root (not the e2e ones).
unit: deps
	cargo test --locked --workspace --lib --bins --test cli --test backup

e2e: repo
	APPLIANCE_E2E=1 cargo test --locked --test e2e -- --test-threads=2

# Every test: unit, integration and end-to-end; APPLIANCE_E2E=1 makes a missing need a failure.
test: deps repo
	APPLIANCE_E2E=1 cargo test --locked --workspace -- --test-threads=2 2>&1 | tee $(BUILD)/test.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "\ntests: %d passed, %d failed\n", p, f }' $(BUILD)/test.log

demo: repo
	tests/e2e/demo

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
