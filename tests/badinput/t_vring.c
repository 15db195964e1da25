// SPDX-License-Identifier: GPL-2.0
/*
 * Generic vring abuse.  The vhost core rejects most of these itself
 * (vq_err: the error eventfd fires and the queue stops at the bad chain);
 * the module must survive that, and a fresh device must work.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "bi.h"

#define REQ VSC_VQ_REQ(0)
#define RESP_SZ sizeof(struct virtio_scsi_cmd_resp)
#define RING 8

struct chain {
	struct vsc_dev *d;
	struct vsc_buf *h, *w, *data;
	struct vsc_op op;
	uint64_t e0;
};

static bool chain_open(struct chain *c, unsigned int ring)
{
	struct vsc_opts o = bi_opts(ring, 0);
	uint8_t cdb[16];

	memset(c, 0, sizeof(*c));
	c->d = bi_open_ep(&o, BI_WWPN_A);
	if (!c->d)
		return false;
	memset(cdb, 0, sizeof(cdb));
	c->h = bi_req_hdr(c->d, BI_TGT, BI_LUN_RD, cdb, 6, 0);	/* TUR */
	c->w = bi_wbuf(c->d, RESP_SZ);
	c->data = bi_wbuf(c->d, 4096);
	CHECK(c->h && c->w && c->data, "alloc");
	c->e0 = vsc_vq_errors(c->d, REQ);
	return true;
}

/* The chain's request header and response buffer as descriptors. */
static struct bi_desc hdr_desc(const struct chain *c, uint16_t flags, int next)
{
	return (struct bi_desc){ (uintptr_t)c->h->p, (uint32_t)c->h->len, flags, next };
}

static struct bi_desc resp_desc(const struct chain *c, uint16_t flags, int next)
{
	return (struct bi_desc){ (uintptr_t)c->w->p, RESP_SZ, flags, next };
}

/* The first address past the device's guest memory. */
static uint64_t arena_end(const struct chain *c)
{
	return (uintptr_t)vsc_arena_base(c->d) + vsc_arena_size(c->d);
}

/* Post @a then @b as one chain (@op NULL: not tracked). */
static bool post2(struct chain *c, struct bi_desc a, struct bi_desc b, struct vsc_op *op)
{
	struct bi_desc ds[2] = { a, b };

	CHECK(!bi_post_raw(c->d, REQ, ds, 2, op), "post");
	return true;
}

/*
 * After a chain the vhost core must refuse: no answer and a vq error, or
 * (tolerated) an answer that is well-formed; then a fresh device works.
 */
static void expect_vq_error(struct chain *c, const char *what)
{
	int r;

	vsc_kick_force(c->d, REQ);
	r = vsc_wait(c->d, &c->op, 1500);
	if (!r) {
		struct vsc_result res;

		bi_resp_decode(c->w->p, &res);
		vt_note("%s: answered, used %u, %s", what, c->op.used_len, vt_res(&res));
		ASSERT(c->op.used_len == 0 || res.response != VIRTIO_SCSI_S_OK || res.status ||
		       !bi_all_cc(c->w->p, 8), "%s: strange answer", what);
	} else {
		ASSERT(bi_wait_vq_err(c->d, REQ, c->e0, 2000),
		       "%s: neither answered nor a vq error signalled", what);
		vt_note("%s: vq error", what);
	}
	ASSERT(!vsc_canary_check_all(c->d), "%s: canary damaged", what);
	bi_fresh_healthy(&c->d, BI_WWPN_A);
}

/* A two-descriptor chain the vhost core must refuse (see expect_vq_error). */
static void expect_refused(struct chain *c, struct bi_desc a, struct bi_desc b, const char *what)
{
	if (post2(c, a, b, &c->op))
		expect_vq_error(c, what);
}

VT_TEST(NULL, desc_loop)
{
	struct chain c;

	if (chain_open(&c, RING))
		expect_refused(&c, hdr_desc(&c, VRING_DESC_F_NEXT, BI_NEXT_AUTO),
			       resp_desc(&c, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0),
			       "descriptor loop");
}

VT_TEST(NULL, desc_next_out_of_range)
{
	struct chain c;

	if (chain_open(&c, RING))
		expect_refused(&c, hdr_desc(&c, VRING_DESC_F_NEXT, 1000 + RING + 5),
			       resp_desc(&c, VRING_DESC_F_WRITE, BI_NEXT_AUTO),
			       "next beyond the ring");
}

/* A chain with more descriptors than the ring has entries (indirect), and one using them all */
VT_TEST(NULL, chain_longer_than_ring)
{
	struct vsc_opts o = bi_opts(RING, 0);
	struct vsc_dev *d = bi_open_ep(&o, BI_WWPN_A);
	static uint8_t w[200 * 512], rd[200 * 512];
	struct vsc_layout l = { .data_split = 512, .indirect = true };

	ASSERT(d, "open");
	vt_fill(w, sizeof(w));
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, true, 16, 300, 200, w, &l) ||
	    !vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, false, 16, 300, 200, rd, &l))
		return;
	ASSERT(!memcmp(w, rd, sizeof(w)), "data mismatch (indirect 202 entries, ring %u)", RING);
	l.indirect = false;
	memset(rd, 0, sizeof(rd));
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, false, 16, 300, RING - 2, rd, &l))	/* exactly RING descs */
		return;
	ASSERT(!memcmp(w, rd, (RING - 2) * 512), "data mismatch (direct, whole ring)");
	bi_healthy(d, "after");
}

VT_TEST(NULL, indirect_in_indirect)
{
	struct chain c;
	struct vsc_buf *t1, *t2;
	struct vring_desc *a, *b;
	struct bi_desc ds[1];

	if (!chain_open(&c, RING))
		return;
	t1 = vsc_buf_alloc(c.d, 32, VSC_BUF_GUARD, 0);
	t2 = vsc_buf_alloc(c.d, 16, VSC_BUF_GUARD, 0);
	ASSERT(t1 && t2, "alloc");
	a = (void *)t1->p;
	b = (void *)t2->p;
	a[0] = (struct vring_desc){ (uintptr_t)c.h->p, (uint32_t)c.h->len, VRING_DESC_F_NEXT, 1 };
	a[1] = (struct vring_desc){ (uintptr_t)t2->p, 16, VRING_DESC_F_INDIRECT, 0 };
	b[0] = (struct vring_desc){ (uintptr_t)c.w->p, RESP_SZ, VRING_DESC_F_WRITE, 0 };
	ds[0] = (struct bi_desc){ (uintptr_t)t1->p, 32, VRING_DESC_F_INDIRECT, BI_NEXT_AUTO };
	ASSERT(!bi_post_raw(c.d, REQ, ds, 1, &c.op), "post");
	expect_vq_error(&c, "nested indirect table");
}

/*
 * A two-entry indirect table (header, then response) in a @size-byte buffer;
 * the response entry has @flags1 and @next1, the ring descriptor says @len.
 */
static void indirect_case(size_t size, uint16_t flags1, uint16_t next1, uint32_t len,
			  const char *what)
{
	struct chain c;
	struct vsc_buf *t;
	struct vring_desc *a;
	struct bi_desc ds[1];

	if (!chain_open(&c, RING))
		return;
	t = vsc_buf_alloc(c.d, size, VSC_BUF_GUARD | VSC_BUF_ZERO, 0);
	ASSERT(t, "alloc");
	a = (void *)t->p;
	a[0] = (struct vring_desc){ (uintptr_t)c.h->p, (uint32_t)c.h->len, VRING_DESC_F_NEXT, 1 };
	a[1] = (struct vring_desc){ (uintptr_t)c.w->p, RESP_SZ, flags1, next1 };
	ds[0] = (struct bi_desc){ (uintptr_t)t->p, len, VRING_DESC_F_INDIRECT, BI_NEXT_AUTO };
	ASSERT(!bi_post_raw(c.d, REQ, ds, 1, &c.op), "post");
	expect_vq_error(&c, what);
}

VT_TEST(NULL, indirect_bad_len_20)
{
	indirect_case(48, VRING_DESC_F_WRITE, 0, 20, "indirect table length");
}

VT_TEST(NULL, indirect_len_0)
{
	indirect_case(48, VRING_DESC_F_WRITE, 0, 0, "indirect table length");
}

/* An indirect table whose last entry still says NEXT, pointing past the table */
VT_TEST(NULL, indirect_next_past_table)
{
	indirect_case(32, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 7, 32,
		      "indirect next past the table");
}

VT_TEST(NULL, desc_outside_mem)
{
	struct chain c;

	if (chain_open(&c, RING))
		expect_refused(&c, (struct bi_desc){ 0x10000, 51, VRING_DESC_F_NEXT, BI_NEXT_AUTO },
			       resp_desc(&c, VRING_DESC_F_WRITE, BI_NEXT_AUTO),
			       "descriptor outside the memory table");
}

VT_TEST(NULL, desc_resp_outside_mem)
{
	struct chain c;

	if (chain_open(&c, RING))
		expect_refused(&c, hdr_desc(&c, VRING_DESC_F_NEXT, BI_NEXT_AUTO),
			       (struct bi_desc){ arena_end(&c) + 4096, RESP_SZ, VRING_DESC_F_WRITE,
						 BI_NEXT_AUTO },
			       "response outside the memory table");
}

VT_TEST(NULL, desc_cross_region_end)
{
	struct chain c;

	if (chain_open(&c, RING))
		expect_refused(&c, hdr_desc(&c, VRING_DESC_F_NEXT, BI_NEXT_AUTO),
			       (struct bi_desc){ arena_end(&c) - 40, RESP_SZ, VRING_DESC_F_WRITE,
						 BI_NEXT_AUTO },
			       "response crossing the region end");
}

VT_TEST(NULL, desc_len_4g)
{
	struct chain c;
	struct bi_desc ds[3];

	if (!chain_open(&c, RING))
		return;
	ds[0] = hdr_desc(&c, VRING_DESC_F_NEXT, BI_NEXT_AUTO);
	ds[1] = resp_desc(&c, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, BI_NEXT_AUTO);
	ds[2] = (struct bi_desc){ (uintptr_t)c.data->p, 0xffffffffu, VRING_DESC_F_WRITE, BI_NEXT_AUTO };
	ASSERT(!bi_post_raw(c.d, REQ, ds, 3, &c.op), "post");
	expect_vq_error(&c, "4 GiB descriptor");
}

/* Zero-length descriptors in both parts: legal, the command must work */
VT_TEST(NULL, zero_len_desc)
{
	struct chain c;
	struct bi_desc ds[6];
	struct vsc_result res;
	uint8_t w[512], cdb[16];
	struct vsc_buf *h;
	int r;

	if (!chain_open(&c, RING))
		return;
	vt_fill(w, sizeof(w));
	if (!vt_rw(c.d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, true, 16, 77, 1, w, NULL))
		return;
	memset(cdb, 0, sizeof(cdb));
	h = bi_req_hdr(c.d, BI_TGT, BI_LUN_RD, cdb, vsc_cdb_rw(cdb, false, 10, 77, 1), 0);
	ASSERT(h, "alloc");
	ds[0] = (struct bi_desc){ (uintptr_t)h->p, 0, VRING_DESC_F_NEXT, BI_NEXT_AUTO };
	ds[1] = (struct bi_desc){ (uintptr_t)h->p, (uint32_t)h->len, VRING_DESC_F_NEXT, BI_NEXT_AUTO };
	ds[2] = (struct bi_desc){ (uintptr_t)h->p, 0, VRING_DESC_F_NEXT, BI_NEXT_AUTO };
	ds[3] = (struct bi_desc){ (uintptr_t)c.w->p, RESP_SZ, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, BI_NEXT_AUTO };
	ds[4] = (struct bi_desc){ (uintptr_t)c.data->p, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, BI_NEXT_AUTO };
	ds[5] = (struct bi_desc){ (uintptr_t)c.data->p, 512, VRING_DESC_F_WRITE, BI_NEXT_AUTO };
	ASSERT(!bi_post_raw(c.d, REQ, ds, 6, &c.op), "post");
	vsc_kick(c.d, REQ);
	r = vsc_wait(c.d, &c.op, BI_TMO);
	ASSERT(!r, "READ with zero-length descriptors not answered (vq errors %llu)",
	       (unsigned long long)(vsc_vq_errors(c.d, REQ) - c.e0));
	bi_resp_decode(c.w->p, &res);
	ASSERT(res.response == VIRTIO_SCSI_S_OK && res.status == SAM_STAT_GOOD, "%s", vt_res(&res));
	ASSERT(!memcmp(c.data->p, w, 512), "data mismatch");
	ASSERT(c.op.used_len == RESP_SZ + 512, "used len %u", c.op.used_len);
	bi_healthy(c.d, "after");
}

VT_TEST(NULL, write_before_read)
{
	struct chain c;

	if (chain_open(&c, RING))
		expect_refused(&c, resp_desc(&c, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, BI_NEXT_AUTO),
			       hdr_desc(&c, 0, BI_NEXT_AUTO), "readable after writable");
}

VT_TEST(NULL, avail_idx_jump)
{
	struct chain c;
	uint16_t idx;

	if (!chain_open(&c, RING) ||
	    !post2(&c, hdr_desc(&c, VRING_DESC_F_NEXT, BI_NEXT_AUTO),
		   resp_desc(&c, VRING_DESC_F_WRITE, BI_NEXT_AUTO), &c.op))
		return;
	idx = vsc_raw_avail_idx(c.d, REQ);
	vsc_raw_set_avail_idx(c.d, REQ, (uint16_t)(idx + RING + 3));
	expect_vq_error(&c, "avail index jumping past the ring size");
}

VT_TEST(NULL, avail_head_out_of_range)
{
	struct chain c;
	uint16_t idx;

	if (!chain_open(&c, RING))
		return;
	idx = vsc_raw_avail_idx(c.d, REQ);
	vsc_raw_put_avail(c.d, REQ, idx, 0xfff0);
	vsc_raw_set_avail_idx(c.d, REQ, (uint16_t)(idx + 1));
	vsc_kick_force(c.d, REQ);
	ASSERT(bi_wait_vq_err(c.d, REQ, c.e0, 2000), "no vq error for head 0xfff0");
	ASSERT(vsc_raw_used_idx(c.d, REQ) == 0, "used entry for head 0xfff0");
	bi_fresh_healthy(&c.d, BI_WWPN_A);
}

/* Same-head publications while it is in flight are separate requests: every one answered */
VT_TEST(NULL, reused_heads)
{
	struct chain c;
	struct vring_used *u;
	uint16_t head, k, n;
	uint64_t end;

	if (!chain_open(&c, RING) ||
	    !post2(&c, hdr_desc(&c, VRING_DESC_F_NEXT, BI_NEXT_AUTO),
		   resp_desc(&c, VRING_DESC_F_WRITE, BI_NEXT_AUTO), NULL))
		return;
	head = vsc_raw_avail(c.d, REQ)->ring[0];
	for (k = 1; k < RING; k++)
		vsc_raw_publish(c.d, REQ, head, NULL, 0, NULL);
	vsc_kick_force(c.d, REQ);
	u = vsc_raw_used(c.d, REQ);
	end = vsc_now_ns() + 5000000000ULL;
	while ((n = vsc_raw_used_idx(c.d, REQ)) < RING && vsc_now_ns() < end)
		usleep(1000);
	ASSERT(n == RING, "%u of %u same-head requests answered", n, RING);
	for (k = 0; k < RING; k++)
		ASSERT(u->ring[k].id == head && u->ring[k].len == RESP_SZ,
		       "used[%u] = id %u len %u", k, u->ring[k].id, u->ring[k].len);
	ASSERT(!vsc_canary_check_all(c.d), "canary");
	/* libvsc's bookkeeping is off now (stray used entries): use a fresh device */
	bi_fresh_healthy(&c.d, BI_WWPN_A);
}

/* Used/avail ring addresses changed under load (VHOST_SET_VRING_ADDR) */
VT_TEST(NULL, vring_addr_change_under_load)
{
	struct vsc_opts o = bi_opts(128, 0);
	struct vsc_dev *d = bi_open_ep(&o, BI_WWPN_A);
	struct vsc_req q[32];
	struct vhost_vring_addr a;
	struct vsc_buf *nd, *na, *nu;
	uint8_t cdb[16];
	int k, r, r2;

	ASSERT(d, "open");
	for (k = 0; k < 32; k++) {
		vsc_req_init(d, &q[k], VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, cdb,
			     vsc_cdb_rw(cdb, k & 1, 10, 1000 + 8 * k, 8));
		if (k & 1) {
			q[k].dout = NULL;
			q[k].dout_len = 4096;
		} else {
			q[k].din_len = 4096;
		}
		ASSERT(!vsc_req_submit(d, &q[k]), "submit");
	}
	nd = vsc_buf_alloc(d, 16 * 128, VSC_BUF_ZERO, 0);
	na = vsc_buf_alloc(d, 6 + 2 * 128, VSC_BUF_ZERO, 0);
	nu = vsc_buf_alloc(d, 6 + 8 * 128, VSC_BUF_ZERO, 0);
	ASSERT(nd && na && nu, "alloc");
	memset(&a, 0, sizeof(a));
	a.index = VSC_VQ_REQ(0);
	a.desc_user_addr = (uintptr_t)nd->p;
	a.avail_user_addr = (uintptr_t)na->p;
	a.used_user_addr = (uintptr_t)nu->p;
	vsc_kick_force(d, VSC_VQ_REQ(0));
	r = vsc_ioctl(d, VHOST_SET_VRING_ADDR, &a);
	usleep(20000);
	/* and once more to the original rings' neighbourhood, then away again */
	vsc_kick_force(d, VSC_VQ_REQ(0));
	a.used_user_addr = (uintptr_t)nu->p;
	r2 = vsc_ioctl(d, VHOST_SET_VRING_ADDR, &a);
	vt_note("SET_VRING_ADDR under load: %s, %s", vt_errstr(r), vt_errstr(r2));
	usleep(500000);
	vsc_reap(d, VSC_VQ_REQ(0), 0);
	for (k = 0; k < 32; k++)
		vsc_req_release(d, &q[k]);
	ASSERT(!vsc_canary_check_all(d), "canary damaged");
	bi_fresh_healthy(&d, BI_WWPN_A);
}
