# SPDX-License-Identifier: GPL-2.0
#
# tcm_vhost: out-of-tree build wrapper around kbuild (rules are in Kbuild).
#
#   make                 build tcm_vhost.ko (W=1 and C=1 pass through)
#   make check           install what is needed, build, static checks, the
#                        whole test suite in a VM; prints "N passed, N failed"
#   make check-debug     the suites on a debug kernel (KASAN, lockdep, kmemleak)
#                        with the module's line coverage; not part of check
#   make demo            boot a VM and a nested guest doing verified I/O
#   make bench           tcm_vhost vs Debian's vhost_scsi (QUICK=1: short)
#   make fuzz            descriptor fuzzer (SECONDS=N SEED=S)
#   make lint            checkpatch --strict, sparse and W=1, quiet when clean
#   make mutants         break the module on purpose; the suite must notice
#   make install         install into /lib/modules/$(KV)/updates + depmod
#   make deb             build/deb/tcm-vhost-dkms_<version>_all.deb (DKMS)
#   make deps            apt-get install build and test packages
#
# Kernel selection: KDIR=/path/to/build/tree, or KV=<release> for Debian's
# /usr/src/linux-headers-<release>; default is the running kernel's build
# tree if it has one, else Debian's current linux-image-amd64 release.

SHELL := /bin/bash
TOP := $(CURDIR)
BUILD := $(TOP)/build
# The module's sources (not kbuild's tcm_vhost.mod.c): scripts/sources.sh.
SOURCES := $(shell $(TOP)/scripts/sources.sh)
# Test-only modules (tests/kmod): checked by checkpatch too.
TEST_KMOD_SOURCES := $(wildcard tests/kmod/*.c)

# make check runs every kernel unless KV was given (command line or environment).
ifeq ($(filter command line environment,$(origin KV)),)
  export TVH_KV_DEFAULTED := 1
endif

ifeq ($(origin KDIR), undefined)
  ifeq ($(origin KV), undefined)
    ifneq ($(wildcard /lib/modules/$(shell uname -r)/build/Makefile),)
      KV := $(shell uname -r)
    else
      KV := $(shell $(TOP)/scripts/kernel-version.sh)
    endif
  endif
  ifneq ($(wildcard /lib/modules/$(KV)/build/Makefile),)
    KDIR := /lib/modules/$(KV)/build
  else
    KDIR := /usr/src/linux-headers-$(KV)
  endif
else
  KV ?= $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
	  $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
endif
export KV

.PHONY: all modules clean check check-debug demo bench fuzz lint checkpatch \
	install deps kdir mutants deb

all: modules

kdir:
	@if [ ! -f "$(KDIR)/Makefile" ]; then \
		echo "error: no kernel build tree at $(KDIR)." >&2; \
		echo "  apt-get install linux-headers-$(KV)   (or: make deps)," >&2; \
		echo "  or make KDIR=/path/to/kernel/build" >&2; \
		exit 1; \
	fi

modules: kdir
	@dir=$$($(TOP)/scripts/vhost-h.sh "$(KV)" "$(KDIR)" "$(BUILD)") && \
	$(MAKE) -C $(KDIR) M=$(TOP) VHOST_H_DIR=$$dir CONFIG_TCM_VHOST=m modules

install: modules
	$(MAKE) -C $(KDIR) M=$(TOP) INSTALL_MOD_DIR=updates modules_install
	depmod -a $(KV)

clean:
	-[ -f "$(KDIR)/Makefile" ] && $(MAKE) -C $(KDIR) M=$(TOP) clean
	$(MAKE) -C tests clean
	rm -rf $(BUILD)/vhost-h

deps:
	$(TOP)/scripts/deps.sh

deb:
	@$(TOP)/scripts/mkdeb.sh

# Static checks: silent when clean, non-zero and a report when not.
checkpatch:
	@$(TOP)/scripts/lint.sh checkpatch $(SOURCES) $(TEST_KMOD_SOURCES)

lint: kdir
	@$(TOP)/scripts/lint.sh all $(SOURCES) $(TEST_KMOD_SOURCES)

check:
	$(TOP)/tests/check.sh

check-debug:
	$(TOP)/tests/check-debug.sh

demo:
	$(TOP)/tests/demo.sh

bench:
	$(TOP)/tests/bench/run.sh

# make fuzz SECONDS=N SEED=S: a longer campaign than make check's.
SECONDS ?= 300
SEED ?= 1
fuzz:
	$(TOP)/tests/fuzz/run-long.sh $(SECONDS) $(SEED)

mutants: modules
	$(MAKE) -s -C tests
	$(TOP)/tests/selftest/mutants.py
