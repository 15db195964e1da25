#!/bin/sh
# The module's own sources, one a line: every tcm_vhost*.[ch] but kbuild's
# generated tcm_vhost.mod.c, and the uapi header.  One list for the Makefile,
# make check's copies and checkpatch, make deb and make mutants.
cd "$(dirname "$0")/.." || exit 1
ls tcm_vhost*.[ch] | grep -v '\.mod\.c$'
echo vhost_scsi_ioctl.h
