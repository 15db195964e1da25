// SPDX-License-Identifier: GPL-2.0
/*
 * vsc-cfg: the benchmark's LIO configuration in one process (a shell doing the
 * same forks mkdir/ln/rmdir per LUN, which costs seconds under TCG).
 *
 *   vsc-cfg teardown                    loopback and vhost fabrics, every backstore
 *   vsc-cfg luns N MB                   rd_mcp_0/rd0..rdN-1, MB MiB each
 *   vsc-cfg vhost WWPN N [INITIATOR]    vhost/WWPN/tpgt_1, LUNs 0..N-1 -> rdI, nexus
 *   vsc-cfg loop WWPN INITIATOR N       loopback/WWPN/tpgt_1: nexus first, then LUNs
 *
 * With VSC_CFG_NULLB=1 in the environment the backstores are iblock_0/rdI on
 * /dev/nullbI instead (MB ignored; null_blk is loaded by the caller): their
 * completions come from the block layer, as a real disk's do, not from inside
 * the submitting call as rd_mcp's.
 *
 * Built on libvsc's configfs helpers (tgt.c); modules are loaded by the caller.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libvsc.h"

#define LOOP_CFS VSC_CFS_TARGET "/loopback"

static bool nullb;			/* VSC_CFG_NULLB=1 */
static const char *hba = "rd_mcp_0";

static int die(const char *what, int r)
{
	fprintf(stderr, "vsc-cfg: %s: %s\n", what, strerror(-r));
	return 1;
}

int main(int argc, char **argv)
{
	char p[512], name[32];
	unsigned int i, n;
	int r;

	if (argc < 2)
		goto usage;
	nullb = getenv("VSC_CFG_NULLB") && !strcmp(getenv("VSC_CFG_NULLB"), "1");
	if (nullb)
		hba = "iblock_0";
	if (!strcmp(argv[1], "teardown")) {
		r = vsc_tgt_fabric_teardown("loopback", true);
		if (r)
			return die("loopback teardown", r);
		r = vsc_tgt_teardown_all(true);
		return r ? die("vhost/backstore teardown", r) : 0;
	}
	if (!strcmp(argv[1], "luns") && argc == 4) {
		n = (unsigned int)atoi(argv[2]);
		for (i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "rd%u", i);
			if (nullb) {
				snprintf(p, sizeof(p), "/dev/nullb%u", i);
				r = vsc_tgt_iblock_create(hba, name, p);
			} else {
				r = vsc_tgt_rd_create(hba, name, strtoull(argv[3], NULL, 0) << 20);
			}
			if (r)
				return die(name, r);
		}
		return 0;
	}
	if (!strcmp(argv[1], "vhost") && (argc == 4 || argc == 5)) {
		n = (unsigned int)atoi(argv[3]);
		r = vsc_tgt_tpg_create(argv[2], 1);
		if (r)
			return die("tpg", r);
		for (i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "rd%u", i);
			r = vsc_tgt_lun_link(argv[2], 1, i, hba, name);
			if (r)
				return die(name, r);
		}
		r = vsc_tgt_nexus_set(argv[2], 1, argc == 5 ? argv[4] : "naa.5001405dead0000f");
		return r ? die("nexus", r) : 0;
	}
	if (!strcmp(argv[1], "loop") && argc == 5) {
		n = (unsigned int)atoi(argv[4]);
		r = vsc_cfs_mkdir(LOOP_CFS);
		if (r)
			return die(LOOP_CFS, r);
		snprintf(p, sizeof(p), LOOP_CFS "/%s", argv[2]);
		r = vsc_cfs_mkdir(p);
		if (r)
			return die(p, r);
		snprintf(p, sizeof(p), LOOP_CFS "/%s/tpgt_1", argv[2]);
		r = vsc_cfs_mkdir(p);
		if (r)
			return die(p, r);
		/* the nexus first: LUNs linked before it exist give a host with no disks */
		snprintf(p, sizeof(p), LOOP_CFS "/%s/tpgt_1/nexus", argv[2]);
		r = vsc_cfs_write(p, argv[3]);
		if (r)
			return die("loopback nexus", r);
		for (i = 0; i < n; i++) {
			char t[512];

			snprintf(p, sizeof(p), LOOP_CFS "/%s/tpgt_1/lun/lun_%u", argv[2], i);
			r = vsc_cfs_mkdir(p);
			if (r)
				return die(p, r);
			snprintf(t, sizeof(t), VSC_CFS_TARGET "/core/%s/rd%u", hba, i);
			snprintf(p, sizeof(p), LOOP_CFS "/%s/tpgt_1/lun/lun_%u/rd%u", argv[2], i, i);
			if (symlink(t, p))
				return die(p, -errno);
		}
		return 0;
	}
usage:
	fprintf(stderr, "usage: vsc-cfg teardown | luns N MB | vhost WWPN N [INITIATOR] |"
			" loop WWPN INITIATOR N\n");
	return 2;
}
