/* SPDX-License-Identifier: GPL-2.0 */
/* vsc-functional: what the test files share (the harness itself is vtest.h). */
#ifndef FT_H
#define FT_H

#include <stdio.h>
#include <string.h>

#include "libvsc.h"
#include "vtest.h"

/* The standard fixture (group setup "rd"). */
#define WWPN_A		"naa.5001405dead0001"	/* tpgt_1 (nexus) + tpgt_2 (nexus) */
#define WWPN_B		"naa.5001405dead0002"	/* tpgt_1 without nexus */
#define WWPN_C		"naa.5001405dead0003"	/* scratch for cfg tests */
#define INIT_1		"naa.5001405beef0001"
#define INIT_2		"naa.5001405beef0002"
#define HBA_RD		"rd_mcp_101"
#define RD16_BYTES	(16ULL << 20)	/* tpgt_1 lun_0 */
#define RD8_BYTES	(8ULL << 20)	/* tpgt_1 lun_1 */
#define RD4_BYTES	(4ULL << 20)	/* tpgt_2 lun_0 */
#define BS		512
#define RD16_SERIAL	"vsc0rd16serial01"
#define IBLOCK_PATH	"/tmp/vsc-functional-iblock.img"	/* the iblock group's loop file */
#define TMO		10000		/* ms: any single answer */

/* Tests: VT_TEST(group, name), VT_TEST_BEYOND(group, name, how upstream differs). */

extern bool ft_unsafe;	/* --unsafe: also run tests known to crash upstream */

/*
 * Upstream 6.1 vhost_scsi_release_tmf_res() calls list_add_tail() with its
 * arguments swapped: after any LOGICAL UNIT RESET the TPG's tmf_queue is
 * corrupt and the next LUN unlink hits "kernel BUG at mm/slub.c" (seen in
 * L1 with 6.1.0-56). Tests that send a LUN RESET are skipped on vhost_scsi
 * unless --unsafe.
 */
#define FT_UPSTREAM_TMF_BUG "vhost_scsi 6.1 corrupts tpg->tmf_queue after a LUN RESET (list_add_tail args swapped in vhost_scsi_release_tmf_res); the next LUN unlink BUGs the kernel"
#define FT_SKIP_LUN_RESET_ON_UPSTREAM() \
	do { if (vt_upstream() && !ft_unsafe) SKIP("%s (--unsafe runs it)", FT_UPSTREAM_TMF_BUG); } while (0)

/* Devices opened through these are closed after the test. */
struct vsc_dev *ft_open(const struct vsc_opts *o);
/* Opens and sets the endpoint to WWPN_A; NULL (test failed) on error. */
struct vsc_dev *ft_open_ep(const struct vsc_opts *o);
void ft_close(struct vsc_dev *d);

/* Fixture pieces (also used by tests that rebuild state) */
bool ft_fixture_rd(void);
void ft_teardown(void);

/* Write random data, read it back, compare. */
bool ft_verify_rw(struct vsc_dev *d, unsigned int vq, uint8_t tgt, uint16_t lun,
		  unsigned int sz, uint64_t lba, uint32_t blocks, const struct vsc_layout *wl,
		  const struct vsc_layout *rl);
bool ft_capacity(struct vsc_dev *d, uint8_t tgt, uint16_t lun, uint64_t *blocks,
		 uint32_t *bsize);
/* The iblock group's loop device ("" outside it). */
const char *ft_iblock_dev(void);
/* The next event on @e (n posted buffers) is @event/@reason for tgt/lun; reposts it. */
bool ft_wait_event(struct vsc_dev *d, struct vsc_evt *e, unsigned int n, uint32_t event,
		   uint32_t reason, uint8_t tgt, uint16_t lun);

#endif
