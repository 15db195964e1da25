/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vsc-badinput: one named test per malformed guest input.
 *
 * A test asserts the defined answer, then that every canary is intact,
 * then that a well-formed request still succeeds (on the same device, or
 * on a fresh one when the vhost core legitimately stopped the queue).
 */
#ifndef BI_H
#define BI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "libvsc.h"
#include "vtest.h"

/* Fixture (created by the binary, removed at exit) */
#define BI_WWPN_A	"naa.5001405bad0a001"	/* tpgt_1 (rd16 lun0, hold lun1), tpgt_2 (rd4 lun0) */
#define BI_WWPN_B	"naa.5001405bad0b001"	/* tpgt_1 (rd4b lun0): a second endpoint */
#define BI_WWPN_C	"naa.5001405bad0c001"	/* scratch (tpgt_N names) */
#define BI_INIT_1	"naa.5001405bad0f001"
#define BI_INIT_2	"naa.5001405bad0f002"
#define BI_INIT_3	"naa.5001405bad0f003"
#define BI_HBA_RD	"rd_mcp_211"
#define BI_HBA_IB	"iblock_212"
#define BI_DM_NAME	"vsc_bi_hold"
#define BI_DM_ERR	"vsc_bi_err"	/* linear over a loop file; tables with an error window */
#define BI_ERR_SECTORS	16384		/* its size: 8 MiB */
#define BI_TGT		1
#define BI_LUN_RD	0	/* rd16: 16 MiB RAM disk */
#define BI_LUN_HOLD	1	/* iblock on a dm device we can suspend */
#define BI_LUN_ERR	2	/* iblock on BI_DM_ERR: linked by the test that needs it */
#define BI_LUN_EVT	5	/* linked/unlinked to make hotplug events */
#define BI_LUN_PI	6	/* rdpi, Type 1 PI: linked by the test that needs it */
#define BI_TMO		10000

/* Tests: VT_TEST(NULL, name), VT_TEST_F(NULL, name, flags, why not on upstream) */
#define BI_F_NEEDS_HOLD		VT_F_PROG1	/* needs the dm "hold" LUN */

extern bool bi_have_hold;

/* Devices: closed (with a canary check) at the end of the test. */
struct vsc_dev *bi_open(const struct vsc_opts *o);		/* no endpoint */
struct vsc_dev *bi_open_ep(const struct vsc_opts *o, const char *wwpn);
void bi_close(struct vsc_dev *d);
struct vsc_opts bi_opts(unsigned int ring, uint64_t extra_features);

/* Health: WRITE+READ of a random pattern on rd16 + canaries; false = test failed */
bool bi_healthy(struct vsc_dev *d, const char *what);
/* Close @d and prove a freshly opened device works. */
bool bi_fresh_healthy(struct vsc_dev **d, const char *wwpn);
/* Waits up to @ms for the vq error eventfd of @vq to exceed @before. */
bool bi_wait_vq_err(struct vsc_dev *d, unsigned int vq, uint64_t before, int ms);

/* Raw chains */
#define BI_NEXT_AUTO	(-1)	/* next descriptor of this chain */
struct bi_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	int next;	/* BI_NEXT_AUTO, k (k-th of this chain), or 1000+raw index */
};
/* Takes n ring descriptors, writes them, publishes the first as head (no kick). */
int bi_post_raw(struct vsc_dev *d, unsigned int vq, const struct bi_desc *ds, unsigned int n,
		struct vsc_op *op);

/* Guarded device-readable request header / device-writable response buffers */
struct vsc_buf *bi_req_hdr(struct vsc_dev *d, uint8_t target, uint16_t lun, const uint8_t *cdb,
			   unsigned int cdblen, size_t len);
struct vsc_buf *bi_wbuf(struct vsc_dev *d, size_t len);
/* Decodes a response buffer of >= 108 bytes */
void bi_resp_decode(const uint8_t *p, struct vsc_result *r);
bool bi_all_cc(const uint8_t *p, size_t len);

/* dm hold LUN */
int bi_hold(bool on);
bool bi_relink_hold(void);

/*
 * Error-window LUN (BI_LUN_ERR on BI_WWPN_A tpgt 1): bi_errdev_up() builds and
 * links it (linear table), bi_errdev_down() removes it (idempotent; also run
 * after every test).  bi_errdev_load() loads the inactive table: linear over
 * the whole device if @len is 0, else with sectors [@start, @start + @len)
 * mapped to dm's "error" target; bi_errdev_resume() makes it live.
 */
int bi_errdev_up(void);
void bi_errdev_down(void);
int bi_errdev_suspend(void);
int bi_errdev_load(uint64_t start, uint64_t len);
int bi_errdev_resume(void);

/* configfs helpers */
int bi_evt_link(bool link, unsigned int lun);

#endif
