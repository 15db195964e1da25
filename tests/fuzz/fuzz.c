// SPDX-License-Identifier: GPL-2.0
/*
 * vsc-fuzz: seeded descriptor-chain fuzzer for a vhost-scsi fabric module,
 * run inside L1 with the module loaded (it builds its own configfs fixture).
 *
 *   vsc-fuzz [--module tcm_vhost|vhost_scsi] --seed S (--seconds N | --iterations N)
 *            [--start I] [--batch B] [--dev-seed D] [-v]
 *
 * Iteration i runs one case generated from a case seed: the run seed itself
 * for i == 0, else a hash of (seed, i); so "--seed <case seed> --iterations 1"
 * replays one case alone ("--dev-seed D" gives the device the ring size and
 * features it had, as the FAILURE line says). A batch ends early after a
 * case the vhost core is expected to refuse. Cases are posted in batches of B on one device;
 * after every batch the answers are checked (used length within the
 * device-writable bytes, device-readable buffers unchanged, canaries intact,
 * no stray used entries, every request answered unless the vhost core
 * signalled a vq error), then a health check (TUR, WRITE+READ of a pattern,
 * AN on the control queue) must pass. A vq error makes the fuzzer reopen
 * the device (an outcome, not a failure).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libvsc.h"

#define WWPN		"naa.5001405f0220a01"
#define INIT1		"naa.5001405f0220f01"
#define INIT2		"naa.5001405f0220f02"
#define HBA		"rd_mcp_231"
#define TGT		1
#define RD_BLOCKS	(16u << 11)	/* 16 MiB of 512-byte blocks */
#define HEALTH_LBA	8		/* cases never write below 64 */
#define EVT_LUN		9
#define REQ		VSC_VQ_REQ(0)
#define RESP_SZ		sizeof(struct virtio_scsi_cmd_resp)
#define MAX_SEGS	256
#define MAX_BUFS	(MAX_SEGS + 4)

static const char *module = "tcm_vhost";
static uint64_t cur_dev_seed;	/* device configuration of the current device */
static bool dev_seed_fixed;	/* --dev-seed: every device opened alike (replays) */
static bool verbose;
static uint64_t selftest_seed;	/* --selftest-fail-iter: a case that "fails" (tests shrinking) */

/* ------------------------------------------------------------- random */

struct rng {
	uint64_t s;
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(struct rng *r)
{
	return splitmix(&r->s);
}

static uint32_t below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

static bool chance(struct rng *r, unsigned int pct)
{
	return below(r, 100) < pct;
}

static uint64_t case_seed(uint64_t seed, uint64_t i)
{
	uint64_t x = seed ^ (i * 0xd1342543de82ef95ULL);

	return i ? splitmix(&x) : seed;
}

/* ------------------------------------------------------------ outcomes */

#define MAX_OUTCOMES 128
static struct {
	char name[48];
	unsigned long n;
} outcomes[MAX_OUTCOMES];

static void outcome(const char *fmt, ...)
{
	char b[48];
	va_list ap;
	int k;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	for (k = 0; k < MAX_OUTCOMES && outcomes[k].name[0]; k++) {
		if (!strcmp(outcomes[k].name, b)) {
			outcomes[k].n++;
			return;
		}
	}
	if (k < MAX_OUTCOMES) {
		strcpy(outcomes[k].name, b);
		outcomes[k].n = 1;
	}
}

/* ---------------------------------------------------------------- cases */

enum kind { K_SCSI, K_RAW, K_CTL, K_EVT, K_AVAIL, K_LUNTOGGLE };
static const char *const kind_name[] = { "scsi", "raw", "ctl", "evt", "avail", "lun" };

struct seg {
	uint32_t len;
	bool write;
	int addr_mode;		/* 0 normal, 1 outside memory, 2 crossing the end */
};

struct fcase {
	uint64_t seed;
	uint64_t iter;
	enum kind kind;
	unsigned int vq;
	char desc[768];
	size_t dlen;
	/* buffers */
	struct vsc_buf *buf[MAX_BUFS];
	uint8_t *copy[MAX_BUFS];	/* readable buffers: expected content */
	unsigned int nbuf;
	uint64_t writable;		/* bytes the chain lets the device write */
	bool must_answer;		/* no vq error: an answer is due */
	bool expect_vq_err;		/* generator thinks the core will refuse it */
	bool posted;
	struct vsc_op op;
	struct vsc_buf *resp;		/* for decoding (may be NULL) */
	uint8_t *wseg[MAX_SEGS + 2];	/* clean scsi cases: the writable segments in order */
	uint32_t wlen[MAX_SEGS + 2];
	unsigned int nw;
	uint32_t resp_len;
	bool is_ctl_tmf;
};

static void d_add(struct fcase *c, const char *fmt, ...)
{
	va_list ap;

	if (c->dlen >= sizeof(c->desc) - 1)
		return;
	va_start(ap, fmt);
	c->dlen += (size_t)vsnprintf(c->desc + c->dlen, sizeof(c->desc) - c->dlen, fmt, ap);
	va_end(ap);
	if (c->dlen > sizeof(c->desc) - 1)
		c->dlen = sizeof(c->desc) - 1;
}

static struct vsc_buf *c_buf(struct vsc_dev *d, struct fcase *c, size_t len, bool write,
			     const uint8_t *content, unsigned int misalign)
{
	struct vsc_buf *b;

	if (c->nbuf >= MAX_BUFS)
		return NULL;
	b = vsc_buf_alloc(d, len ? len : 1, VSC_BUF_GUARD | (write ? VSC_BUF_FILL : VSC_BUF_ZERO),
			  misalign);
	if (!b)
		return NULL;
	if (!write && content)
		memcpy(b->p, content, len);
	c->buf[c->nbuf] = b;
	c->copy[c->nbuf] = NULL;
	if (!write && len) {
		c->copy[c->nbuf] = malloc(len);
		if (c->copy[c->nbuf])
			memcpy(c->copy[c->nbuf], b->p, len);
	}
	c->nbuf++;
	return b;
}

static void c_free(struct vsc_dev *d, struct fcase *c, bool dev_alive)
{
	unsigned int k;

	for (k = 0; k < c->nbuf; k++) {
		if (dev_alive && !c->op.inflight)
			vsc_buf_free(d, c->buf[k]);
		free(c->copy[k]);
	}
	c->nbuf = 0;
}

/* Check buffers after the device is done with them: "" or a reason. */
static const char *c_check(struct fcase *c)
{
	static char why[160];
	unsigned int k;
	long where;

	for (k = 0; k < c->nbuf; k++) {
		if (vsc_buf_check(c->buf[k], &where)) {
			snprintf(why, sizeof(why), "canary damaged around buffer %u (offset %ld)", k,
				 where);
			return why;
		}
		if (c->copy[k] && memcmp(c->copy[k], c->buf[k]->p, c->buf[k]->len)) {
			snprintf(why, sizeof(why), "device-readable buffer %u was modified", k);
			return why;
		}
	}
	return "";
}

/* Descriptor list being built */
struct dl {
	uint64_t addr[MAX_SEGS + 2];
	uint32_t len[MAX_SEGS + 2];
	uint16_t flags[MAX_SEGS + 2];
	int next[MAX_SEGS + 2];	/* -1 auto, else index in this list, or 1000+raw */
	unsigned int n;
};

static void dl_add(struct dl *l, uint64_t addr, uint32_t len, bool write)
{
	if (l->n >= MAX_SEGS + 2)
		return;
	l->addr[l->n] = addr;
	l->len[l->n] = len;
	l->flags[l->n] = write ? VRING_DESC_F_WRITE : 0;
	l->next[l->n] = -1;
	l->n++;
}

/*
 * Build buffers for a stream of bytes @data (len) cut into @nseg segments;
 * appends descriptors. Returns false on allocation failure.
 */
static bool stream(struct vsc_dev *d, struct fcase *c, struct rng *r, struct dl *l,
		   const uint8_t *data, size_t len, bool write, unsigned int nseg, bool one_byte)
{
	size_t pos = 0;
	unsigned int k;

	if (!len)
		return true;
	if (one_byte)
		nseg = (unsigned int)len;
	if (nseg < 1)
		nseg = 1;
	for (k = 0; k < nseg && pos < len; k++) {
		size_t left = len - pos, take;
		struct vsc_buf *b;

		if (l->n >= MAX_SEGS)
			take = left;
		else if (one_byte)
			take = 1;
		else if (k + 1 == nseg)
			take = left;
		else
			take = 1 + below(r, (uint32_t)(left > 1 ? left : 1));
		if (take > left)
			take = left;
		b = c_buf(d, c, take, write, data ? data + pos : NULL,
			  chance(r, 30) ? below(r, 64) : 0);
		if (!b)
			return false;
		dl_add(l, (uintptr_t)b->p, (uint32_t)take, write);
		if (write)
			c->writable += take;
		/* now and then a zero-length descriptor in between */
		if (chance(r, 5) && l->n < MAX_SEGS)
			dl_add(l, (uintptr_t)b->p, 0, write);
		pos += take;
	}
	return true;
}

/* Post the list as a chain (direct or indirect); false on failure. */
static bool post(struct vsc_dev *d, struct fcase *c, struct rng *r, struct dl *l,
		 bool indirect)
{
	uint16_t idx[MAX_SEGS + 2];
	unsigned int k;

	if (!l->n)
		return false;
	/* what the chain declares device-writable, after any mutation */
	c->writable = 0;
	for (k = 0; k < l->n; k++)
		if (l->flags[k] & VRING_DESC_F_WRITE)
			c->writable += l->len[k];
	if (indirect) {
		struct vsc_buf *t;
		struct vring_desc *td;
		uint32_t tlen = 16 * l->n;
		uint16_t flags = VRING_DESC_F_INDIRECT;

		if (chance(r, 3)) {
			tlen = below(r, 16 * l->n + 16);
			d_add(c, " ind-len=%u", tlen);
			if (tlen % 16 || !tlen)
				c->expect_vq_err = true;
		}
		t = c_buf(d, c, 16 * l->n, false, NULL, 0);
		if (!t)
			return false;
		td = (void *)t->p;
		for (k = 0; k < l->n; k++) {
			int nx = l->next[k];

			td[k].addr = l->addr[k];
			td[k].len = l->len[k];
			td[k].flags = l->flags[k];
			if (nx == -1) {
				if (k + 1 < l->n)
					td[k].flags |= VRING_DESC_F_NEXT;
				td[k].next = (uint16_t)(k + 1);
			} else {
				td[k].flags |= VRING_DESC_F_NEXT;
				td[k].next = (uint16_t)(nx >= 1000 ? nx - 1000 : nx);
			}
		}
		if (chance(r, 2) && l->n > 1) {
			k = below(r, l->n);
			td[k].flags |= VRING_DESC_F_INDIRECT;
			d_add(c, " nested-ind@%u", k);
			c->expect_vq_err = true;
		}
		memcpy(c->copy[c->nbuf - 1], t->p, 16 * l->n);
		if (vsc_raw_take(d, c->vq, 1, idx))
			return false;
		vsc_raw_set_desc(d, c->vq, idx[0], (uintptr_t)t->p, tlen, flags, 0);
		vsc_raw_publish(d, c->vq, idx[0], &c->op, 1, idx);
		d_add(c, " indirect(%u)", l->n);
	} else {
		if (vsc_free_descs(d, c->vq) < l->n)
			return false;
		if (vsc_raw_take(d, c->vq, l->n, idx))
			return false;
		for (k = 0; k < l->n; k++) {
			int nx = l->next[k];
			uint16_t fl = l->flags[k], next = 0;

			if (nx == -1) {
				if (k + 1 < l->n) {
					fl |= VRING_DESC_F_NEXT;
					next = idx[k + 1];
				}
			} else {
				fl |= VRING_DESC_F_NEXT;
				next = (uint16_t)(nx >= 1000 ? nx - 1000 : idx[nx]);
			}
			vsc_raw_set_desc(d, c->vq, idx[k], l->addr[k], l->len[k], fl, next);
		}
		vsc_raw_publish(d, c->vq, idx[0], &c->op, l->n, idx);
		d_add(c, " direct(%u)", l->n);
	}
	c->posted = true;
	return true;
}

/* Descriptor-level mutations (raw cases) */
static void mutate(struct vsc_dev *d, struct fcase *c, struct rng *r, struct dl *l)
{
	unsigned int m, nm = 1 + below(r, 3), k;
	uint64_t end = (uintptr_t)vsc_arena_base(d) + vsc_arena_size(d);
	unsigned int num = vsc_vq_size(d, c->vq);

	for (m = 0; m < nm && l->n; m++) {
		static const uint8_t pick[] = { 0, 1, 1, 2, 3, 4, 5, 5, 6, 6, 7, 7 };

		k = below(r, l->n);
		switch (pick[below(r, sizeof(pick))]) {
		case 0:	/* next pointer: loop or anywhere */
			/* own descriptors (loops) or beyond the ring: never other chains' */
			l->next[k] = chance(r, 50) ? (int)below(r, l->n) : 1000 + (int)(num + below(r, 8));
			d_add(c, " next[%u]=%d", k, l->next[k]);
			c->expect_vq_err = true;	/* probably */
			break;
		case 1:	/* flip direction */
			l->flags[k] ^= VRING_DESC_F_WRITE;
			if (l->flags[k] & VRING_DESC_F_WRITE) {
				unsigned int b;

				/* the device may write it now: no content check */
				for (b = 0; b < c->nbuf; b++)
					if ((uintptr_t)c->buf[b]->p <= l->addr[k] &&
					    l->addr[k] < (uintptr_t)c->buf[b]->p + c->buf[b]->len) {
						free(c->copy[b]);
						c->copy[b] = NULL;
					}
				c->writable += l->len[k];
			}
			d_add(c, " flip[%u]", k);
			break;
		case 2:	/* outside the memory table */
			l->addr[k] = chance(r, 50) ? 0x1000 + below(r, 1 << 20) : end + below(r, 1 << 20);
			d_add(c, " outside[%u]", k);
			c->expect_vq_err = true;
			break;
		case 3:	/* crossing the end of the region */
			l->addr[k] = end - 1 - below(r, 64);
			if (l->len[k] < 128)
				l->len[k] = 128;
			d_add(c, " cross-end[%u]", k);
			c->expect_vq_err = true;
			break;
		case 4:	/* huge length at a real address */
			l->len[k] = chance(r, 50) ? 0xffffffffu : 0x80000000u + below(r, 1 << 30);
			d_add(c, " len[%u]=%#x", k, l->len[k]);
			c->expect_vq_err = true;
			break;
		case 5:	/* zero length */
			if (l->flags[k] & VRING_DESC_F_WRITE)
				c->writable -= l->len[k] < c->writable ? l->len[k] : c->writable;
			l->len[k] = 0;
			d_add(c, " zero[%u]", k);
			break;
		case 6:	/* swap two descriptors (order violations) */
			if (l->n > 1) {
				unsigned int j = below(r, l->n);
				uint64_t a = l->addr[k];
				uint32_t ln = l->len[k];
				uint16_t f = l->flags[k];

				l->addr[k] = l->addr[j];
				l->len[k] = l->len[j];
				l->flags[k] = l->flags[j];
				l->addr[j] = a;
				l->len[j] = ln;
				l->flags[j] = f;
				d_add(c, " swap[%u,%u]", k, j);
			}
			break;
		default:	/* shorten: truncate the chain */
			if (k > 0) {
				unsigned int j;

				for (j = k; j < l->n; j++)
					if (l->flags[j] & VRING_DESC_F_WRITE)
						c->writable -= l->len[j] < c->writable ? l->len[j] : c->writable;
				l->n = k;
				d_add(c, " trunc=%u", k);
			}
			break;
		}
	}
}

static const uint8_t opcodes[] = { 0x00, 0x03, 0x08, 0x0a, 0x12, 0x1a, 0x25, 0x28, 0x2a,
				   0x2f, 0x35, 0x41, 0x42, 0x4d, 0x55, 0x5a, 0x7f, 0x88,
				   0x8a, 0x8f, 0x91, 0x93, 0x9e, 0xa0, 0xa3, 0x12, 0x28, 0x2a };

static uint32_t gen_cdb(struct rng *r, uint8_t *cdb, uint32_t *dout, uint32_t *din)
{
	uint8_t op = chance(r, 10) ? (uint8_t)rnd(r) : opcodes[below(r, sizeof(opcodes))];
	uint64_t lba = chance(r, 85) ? 64 + below(r, RD_BLOCKS - 64) : rnd(r) >> below(r, 64);
	uint32_t blocks = chance(r, 80) ? 1 + below(r, 64) : below(r, 70000);
	bool wr = op == 0x0a || op == 0x2a || op == 0x8a || op == 0x2f || op == 0x41 ||
		  op == 0x93 || op == 0x55 || op == 0x42;
	uint32_t len;

	memset(cdb, 0, 32);
	cdb[0] = op;
	if (op == 0x08 || op == 0x0a) {
		cdb[1] = (uint8_t)((lba >> 16) & 0x1f);
		cdb[2] = (uint8_t)(lba >> 8);
		cdb[3] = (uint8_t)lba;
		cdb[4] = (uint8_t)blocks;
		blocks = blocks & 0xff ? blocks & 0xff : 256;
	} else if (op >= 0x20 && op < 0x60) {
		vsc_put_be32(cdb + 2, (uint32_t)lba);
		vsc_put_be16(cdb + 7, (uint16_t)blocks);
		blocks &= 0xffff;
	} else if (op >= 0x80 && op < 0xa0) {
		vsc_put_be64(cdb + 2, lba);
		vsc_put_be32(cdb + 10, blocks);
	} else if (op == 0x12) {
		cdb[1] = chance(r, 30);
		cdb[2] = (uint8_t)(chance(r, 50) ? 0x80 + below(r, 4) : rnd(r));
		vsc_put_be16(cdb + 3, (uint16_t)below(r, 600));
		blocks = 1;
	} else if (op == 0x7f) {
		cdb[7] = (uint8_t)rnd(r);	/* additional length: often > 24 */
		vsc_put_be16(cdb + 8, (uint16_t)rnd(r));
	} else {
		for (len = 1; len < 16; len++)
			if (chance(r, 30))
				cdb[len] = (uint8_t)rnd(r);
	}
	len = blocks * 512;
	if (len > (4u << 20))
		len = chance(r, 3) ? (33u << 20) : (uint32_t)below(r, 4u << 20);
	if (chance(r, 15))
		len = below(r, 9000);	/* mismatching data length */
	if (op == 0x00 || op == 0x35)
		len = chance(r, 80) ? 0 : len;
	*dout = wr ? len : 0;
	*din = wr ? 0 : len;
	if (chance(r, 4)) {	/* bidirectional */
		*dout = 512 * (1 + below(r, 8));
		*din = 512 * (1 + below(r, 8));
	}
	return op;
}

static bool gen_scsi(struct vsc_dev *d, struct fcase *c, struct rng *r, bool raw)
{
	uint8_t hdr[sizeof(struct virtio_scsi_cmd_req_pi) + 16], cdb[32], *dout = NULL;
	bool pi = vsc_has_feature(d, VIRTIO_SCSI_F_T10_PI);
	size_t hlen = pi ? sizeof(struct virtio_scsi_cmd_req_pi) : sizeof(struct virtio_scsi_cmd_req);
	uint32_t dlen_out, dlen_in, resp_len = RESP_SZ;
	struct dl l = { 0 };
	unsigned int nsplit;
	bool ok = true, one = chance(r, 4), ind = chance(r, 35);
	uint8_t op;

	op = (uint8_t)gen_cdb(r, cdb, &dlen_out, &dlen_in);
	memset(hdr, 0, sizeof(hdr));
	{
		struct virtio_scsi_cmd_req_pi *h = (void *)hdr;
		struct virtio_scsi_cmd_req *p = (void *)hdr;
		uint8_t tgt = chance(r, 85) ? TGT : chance(r, 50) ? 2 : (uint8_t)rnd(r);
		uint16_t lun = chance(r, 80) ? 0 : chance(r, 50) ? 1 : (uint16_t)below(r, 20000);

		vsc_lun_encode(h->lun, tgt, lun);
		if (chance(r, 5))
			h->lun[below(r, 8)] = (uint8_t)rnd(r);
		h->tag = rnd(r);
		h->task_attr = (uint8_t)(chance(r, 90) ? 0 : below(r, 6));
		if (pi) {
			memcpy(h->cdb, cdb, 32);
			if (chance(r, 10))
				h->pi_bytesout = (uint32_t)below(r, 9000);
			if (chance(r, 10))
				h->pi_bytesin = (uint32_t)below(r, 9000);
		} else {
			memcpy(p->cdb, cdb, 32);
		}
		d_add(c, "scsi op=%#x lun=%02x%02x%02x%02x%02x%02x%02x%02x out=%u in=%u", op,
		      h->lun[0], h->lun[1], h->lun[2], h->lun[3], h->lun[4], h->lun[5], h->lun[6],
		      h->lun[7], dlen_out, dlen_in);
		if (pi)
			d_add(c, " pi=%u/%u", h->pi_bytesout, h->pi_bytesin);
	}
	if (chance(r, 6)) {
		hlen = below(r, (uint32_t)hlen);
		d_add(c, " hdr=%zu", hlen);
	}
	if (chance(r, 6)) {
		resp_len = below(r, RESP_SZ);
		d_add(c, " resp=%u", resp_len);
	}
	if (one)
		d_add(c, " 1byte-hdrs");
	if (dlen_out) {
		dout = malloc(dlen_out);
		if (!dout)
			return false;
		memset(dout, (int)(rnd(r) & 0xff), dlen_out);
	}
	/* out stream: header, data-out (merged or not) */
	nsplit = chance(r, 50) ? 1 : 1 + below(r, 6);
	ok = stream(d, c, r, &l, hdr, hlen, false, nsplit, one && hlen < 60);
	if (ok)
		ok = stream(d, c, r, &l, dout, dlen_out, false, dlen_out > 65536 ? 1 + below(r, 8) :
			    1 + below(r, 12), false);
	/* in stream: response, data-in */
	if (ok) {
		unsigned int first = c->nbuf;

		ok = stream(d, c, r, &l, NULL, resp_len, true, chance(r, 50) ? 1 : 1 + below(r, 5),
			    one && resp_len <= RESP_SZ);
		if (ok && c->nbuf > first) {
			c->resp = c->buf[first];
			c->resp_len = c->resp->len >= RESP_SZ ? RESP_SZ : 0;
		}
	}
	if (ok)
		ok = stream(d, c, r, &l, NULL, dlen_in, true, dlen_in > 65536 ? 1 + below(r, 8) :
			    1 + below(r, 12), false);
	free(dout);
	if (!ok)
		return false;
	if (l.n > 60 && !ind)
		ind = true;
	if (raw) {
		mutate(d, c, r, &l);
	} else {
		unsigned int k;

		for (k = 0; k < l.n; k++)
			if (l.flags[k] & VRING_DESC_F_WRITE) {
				c->wseg[c->nw] = (uint8_t *)(uintptr_t)l.addr[k];
				c->wlen[c->nw++] = l.len[k];
			}
	}
	/* a long chain in a direct ring eats descriptors: go indirect */
	if (!ind && l.n > vsc_free_descs(d, c->vq))
		ind = true;
	return post(d, c, r, &l, ind);
}

static bool gen_ctl(struct vsc_dev *d, struct fcase *c, struct rng *r)
{
	uint8_t req[64];
	uint32_t type, rlen, resp;
	struct dl l = { 0 };
	struct vsc_buf *b;

	memset(req, 0, sizeof(req));
	type = chance(r, 60) ? VIRTIO_SCSI_T_TMF : chance(r, 70) ? 1 + below(r, 2) :
	       (uint32_t)rnd(r);
	memcpy(req, &type, 4);
	if (type == VIRTIO_SCSI_T_TMF) {
		struct virtio_scsi_ctrl_tmf_req *t = (void *)req;

		t->subtype = chance(r, 70) ? below(r, 8) : (uint32_t)rnd(r);
		/* LUN RESET / I_T nexus reset are valid, but keep them rare */
		if ((t->subtype == VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET ||
		     t->subtype == VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET) && chance(r, 70))
			t->subtype = VIRTIO_SCSI_T_TMF_ABORT_TASK;
		vsc_lun_encode(t->lun, chance(r, 80) ? TGT : (uint8_t)rnd(r),
			       chance(r, 80) ? 0 : (uint16_t)below(r, 300));
		if (chance(r, 5))
			t->lun[below(r, 8)] = (uint8_t)rnd(r);
		t->tag = rnd(r);
		rlen = sizeof(*t);
		resp = 1;
		c->is_ctl_tmf = true;
		d_add(c, "ctl tmf sub=%u lun=%02x%02x%02x%02x", t->subtype, t->lun[0], t->lun[1],
		      t->lun[2], t->lun[3]);
	} else {
		struct virtio_scsi_ctrl_an_req *a = (void *)req;

		vsc_lun_encode(a->lun, chance(r, 80) ? TGT : (uint8_t)rnd(r), 0);
		a->event_requested = (uint32_t)rnd(r);
		rlen = sizeof(*a);
		resp = 8;
		d_add(c, "ctl type=%#x", type);
	}
	if (chance(r, 15)) {
		rlen = below(r, rlen + 8);
		d_add(c, " req=%u", rlen);
	}
	if (chance(r, 15)) {
		resp = below(r, 12);
		d_add(c, " resp=%u", resp);
	}
	if (rlen) {
		b = c_buf(d, c, rlen, false, req, 0);
		if (!b)
			return false;
		dl_add(&l, (uintptr_t)b->p, rlen, false);
	}
	if (resp) {
		b = c_buf(d, c, resp, true, NULL, 0);
		if (!b)
			return false;
		dl_add(&l, (uintptr_t)b->p, resp, true);
		c->writable += resp;
		c->resp = b;
	}
	if (!l.n)
		return false;
	return post(d, c, r, &l, chance(r, 20));
}

static bool gen_evt(struct vsc_dev *d, struct fcase *c, struct rng *r)
{
	struct dl l = { 0 };
	uint32_t len = chance(r, 70) ? 16 : below(r, 40);
	struct vsc_buf *b;

	if (vsc_inflight(d, VSC_VQ_EVT) > 24)
		return false;
	b = c_buf(d, c, len, true, NULL, 0);
	if (!b)
		return false;
	dl_add(&l, (uintptr_t)b->p, len, true);
	c->writable = len;
	c->resp = b;
	d_add(c, "evt buffer len=%u", len);
	return post(d, c, r, &l, false);
}

/* ------------------------------------------------------------- fixture */

static int fixture(void)
{
	int r;

	vsc_tgt_teardown_all(false);
	if ((r = vsc_tgt_rd_create(HBA, "f16", 16ULL << 20)) ||
	    (r = vsc_tgt_rd_create(HBA, "f4", 4ULL << 20)) ||
	    (r = vsc_tgt_tpg_create(WWPN, 1)) || (r = vsc_tgt_nexus_set(WWPN, 1, INIT1)) ||
	    (r = vsc_tgt_lun_link(WWPN, 1, 0, HBA, "f16")) ||
	    (r = vsc_tgt_lun_link(WWPN, 1, 1, HBA, "f4")) ||
	    (r = vsc_tgt_tpg_create(WWPN, 2)) || (r = vsc_tgt_nexus_set(WWPN, 2, INIT2)) ||
	    (r = vsc_tgt_lun_link(WWPN, 2, 0, HBA, "f4")))
		return r;
	return 0;
}

static bool lun_linked;

static void toggle_lun(void)
{
	if (lun_linked)
		vsc_tgt_lun_unlink(WWPN, 1, EVT_LUN);
	else
		vsc_tgt_lun_link(WWPN, 1, EVT_LUN, HBA, "f4");
	lun_linked = !lun_linked;
}

/* -------------------------------------------------------------- device */

static struct vsc_dev *dev_open(uint64_t seed, char *why, size_t wl)
{
	struct rng r;

	if (dev_seed_fixed)
		seed = cur_dev_seed;
	cur_dev_seed = seed;
	r.s = seed ^ 0x5eed;
	struct vsc_opts o = { 0 };
	static const unsigned int rings[] = { 8, 32, 64, 128, 256, 256, 128, 1024 };
	struct vsc_dev *d;
	int ret;

	o.ring_size = rings[below(&r, 8)];
	o.ctl_ring_size = 64;
	o.evt_ring_size = 32;
	o.features = VSC_FEATURES_ALL;
	if (chance(&r, 30))
		o.features |= VSC_F(VIRTIO_SCSI_F_T10_PI);
	if (chance(&r, 25))
		o.features &= ~VSC_F(VIRTIO_RING_F_EVENT_IDX);
	o.arena_size = 192UL << 20;
	d = vsc_open(&o);
	if (!d) {
		snprintf(why, wl, "vsc_open: errno %d", errno);
		return NULL;
	}
	ret = vsc_set_endpoint(d, WWPN);
	if (ret) {
		snprintf(why, wl, "SET_ENDPOINT: %d", ret);
		vsc_close(d);
		return NULL;
	}
	return d;
}

static bool health(struct vsc_dev *d, char *why, size_t wl)
{
	struct vsc_result res;
	uint8_t cdb[16], w[4096], rd[4096];
	struct vsc_ctl c;
	int ret, k;
	uint64_t v = vsc_now_ns();

	for (k = 0; k < 8; k++) {	/* TUR, consuming unit attentions */
		memset(cdb, 0, sizeof(cdb));
		ret = vsc_cmd(d, REQ, TGT, 0, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, &res, 10000);
		if (ret) {
			snprintf(why, wl, "health TUR: error %d", ret);
			return false;
		}
		if (res.response == VIRTIO_SCSI_S_OK && res.status == 0)
			break;
	}
	if (k == 8) {
		snprintf(why, wl, "health TUR never GOOD: response %u status %#x", res.response,
			 res.status);
		return false;
	}
	for (k = 0; k < 4096; k += 8)
		memcpy(w + k, &v, 8), v = v * 6364136223846793005ULL + 1;
	ret = vsc_cmd(d, REQ, TGT, 0, cdb, vsc_cdb_rw(cdb, true, 10, HEALTH_LBA, 8), w, 4096, NULL,
		      0, &res, 10000);
	if (ret || res.response || res.status) {
		snprintf(why, wl, "health WRITE: error %d response %u status %#x", ret,
			 res.response, res.status);
		return false;
	}
	ret = vsc_cmd(d, REQ, TGT, 0, cdb, vsc_cdb_rw(cdb, false, 10, HEALTH_LBA, 8), NULL, 0, rd,
		      4096, &res, 10000);
	if (ret || res.response || res.status || memcmp(w, rd, 4096)) {
		snprintf(why, wl, "health READ: error %d response %u status %#x%s", ret,
			 res.response, res.status, memcmp(w, rd, 4096) ? " data mismatch" : "");
		return false;
	}
	vsc_an_init(&c, false, TGT, 0, 0);
	ret = vsc_ctl_sync(d, &c, 10000);
	if (ret || c.response != VIRTIO_SCSI_S_OK) {
		snprintf(why, wl, "health AN on the control queue: error %d response %u", ret,
			 c.response);
		return false;
	}
	k = vsc_canary_check_all(d);
	if (k) {
		snprintf(why, wl, "%d guarded buffers damaged", k);
		return false;
	}
	return true;
}

/* ----------------------------------------------------------- the batch */

/* The first bytes of the writable part of a clean scsi case; 0 if too short. */
static size_t gather_resp(const struct fcase *c, struct virtio_scsi_cmd_resp *rs)
{
	uint8_t *p = (uint8_t *)rs;
	size_t got = 0;
	unsigned int k;

	memset(rs, 0xcc, sizeof(*rs));
	for (k = 0; k < c->nw && got < sizeof(*rs); k++) {
		size_t take = c->wlen[k] < sizeof(*rs) - got ? c->wlen[k] : sizeof(*rs) - got;

		memcpy(p + got, c->wseg[k], take);
		got += take;
	}
	return got;
}

static void classify(struct vsc_dev *d, struct fcase *c)
{
	(void)d;
	if (c->kind == K_EVT) {
		outcome("evt:used%s", c->op.used_len == 16 ? "16" : c->op.used_len ? "?" : "0");
		return;
	}
	if (c->vq == VSC_VQ_CTL) {
		if (!c->op.used_len || !c->resp)
			outcome("ctl:used0");
		else if (c->is_ctl_tmf)
			outcome("ctl:tmf-%s", vsc_response_name(c->resp->p[0]));
		else
			outcome("ctl:an-%s", c->op.used_len >= 5 && c->resp->len >= 5 ?
				vsc_response_name(c->resp->p[4]) : "short");
		return;
	}
	if (c->kind == K_RAW) {
		outcome("raw:%s", c->op.used_len ? "answered" : "used0");
		return;
	}
	if (!c->op.used_len) {
		outcome("scsi:used0");
	} else {
		struct virtio_scsi_cmd_resp rs;

		gather_resp(c, &rs);
		if (rs.response == VIRTIO_SCSI_S_OK)
			outcome("scsi:OK/%s", vsc_status_name(rs.status));
		else
			outcome("scsi:%s", vsc_response_name(rs.response));
	}
}

struct run {
	uint64_t seed, start, iters, done, failures, reopen, vqerr, batches;
	unsigned int batch;
	double seconds;
	bool shrinking;
};

/* event buffers stay posted across batches */
#define MAX_PEND 64
static struct fcase *evt_pend[MAX_PEND];

static void pend_drop_all(void)
{
	unsigned int k;

	for (k = 0; k < MAX_PEND; k++) {
		if (!evt_pend[k])
			continue;
		c_free(NULL, evt_pend[k], false);
		free(evt_pend[k]);
		evt_pend[k] = NULL;
	}
}

static bool pend_add(struct fcase *c)
{
	unsigned int k;

	for (k = 0; k < MAX_PEND; k++) {
		if (!evt_pend[k]) {
			evt_pend[k] = c;
			return true;
		}
	}
	return false;
}

static void report_fail(struct run *R, struct fcase *c, const char *why)
{
	R->failures++;
	printf("FAILURE: iteration %llu, case seed %llu: %s\n  case: %s %s\n"
	       "  replay: vsc-fuzz --module %s --seed %llu --iterations 1 --dev-seed %llu\n",
	       (unsigned long long)c->iter, (unsigned long long)c->seed, why, kind_name[c->kind],
	       c->desc, module, (unsigned long long)c->seed, (unsigned long long)cur_dev_seed);
	fflush(stdout);
}

/* chains the device still holds (it may answer them later): the device must go */
static bool any_stuck(struct fcase **cs, unsigned int n)
{
	unsigned int k;

	for (k = 0; k < n; k++)
		if (cs[k]->posted && !cs[k]->op.done && cs[k]->kind != K_EVT)
			return true;
	return false;
}

static int run_batch(struct run *R, struct vsc_dev **dp, uint64_t first, unsigned int n,
		     unsigned int *taken)
{
	struct fcase **cs = calloc(n, sizeof(*cs));
	struct vsc_dev *d = *dp;
	uint64_t err0[3], end;
	bool vq_broken[3] = { false, false, false }, hok;
	uint64_t bseed = cur_dev_seed;	/* the device this batch runs on */
	char why[256];
	unsigned int k, q;
	int fails = 0;

	if (!cs)
		return -1;
	for (k = 0; k < n; k++) {
		cs[k] = calloc(1, sizeof(**cs));
		if (!cs[k])
			return -1;
	}
	for (q = 0; q < 3; q++)
		err0[q] = vsc_vq_errors(d, q);
	for (k = 0; k < n; k++) {
		struct fcase *c = cs[k];
		struct rng r;
		unsigned int w;

		c->iter = first + k;
		c->seed = case_seed(R->seed, c->iter);
		r.s = c->seed;
		w = below(&r, 100);
		c->kind = w < 55 ? K_SCSI : w < 70 ? K_RAW : w < 90 ? K_CTL : w < 97 ? K_EVT :
			  w < 98 ? K_AVAIL : K_LUNTOGGLE;
		if (vsc_free_descs(d, REQ) < 8 || vsc_free_descs(d, VSC_VQ_CTL) < 4)
			vsc_reap_all(d, 0);	/* answered ones give their descriptors back */
		c->vq = c->kind == K_CTL ? VSC_VQ_CTL : c->kind == K_EVT ? VSC_VQ_EVT : REQ;
		c->must_answer = c->kind != K_EVT;
		switch (c->kind) {
		case K_SCSI:
		case K_RAW:
			gen_scsi(d, c, &r, c->kind == K_RAW);
			break;
		case K_CTL:
			gen_ctl(d, c, &r);
			break;
		case K_EVT:
			gen_evt(d, c, &r);
			break;
		case K_AVAIL: {
			uint16_t idx = vsc_raw_avail_idx(d, REQ);

			if (chance(&r, 50)) {
				vsc_raw_set_avail_idx(d, REQ, (uint16_t)(idx + vsc_vq_size(d, REQ) + 1 +
							   below(&r, 1000)));
				d_add(c, "avail idx jump");
			} else {
				vsc_raw_put_avail(d, REQ, idx, (uint16_t)(vsc_vq_size(d, REQ) + below(&r, 60000)));
				vsc_raw_set_avail_idx(d, REQ, (uint16_t)(idx + 1));
				d_add(c, "avail head out of range");
			}
			c->must_answer = false;
			c->expect_vq_err = true;
			break;
		}
		case K_LUNTOGGLE:
			toggle_lun();
			d_add(c, "lun %s", lun_linked ? "link" : "unlink");
			c->must_answer = false;
			break;
		}
		if (!c->posted)
			c->must_answer = false;
		if (verbose)
			fprintf(stderr, "# %llu [%llu] %s %s\n", (unsigned long long)c->iter,
				(unsigned long long)c->seed, kind_name[c->kind], c->desc);
		if (chance(&r, 30))
			vsc_kick_force(d, c->vq);
		if (c->expect_vq_err && k + 1 < n) {
			/* the rest would only queue up behind a refused chain: next batch */
			for (q = k + 1; q < n; q++)
				free(cs[q]);
			n = k + 1;
			break;
		}
	}
	*taken = n;
	for (q = 0; q < 3; q++)
		vsc_kick_force(d, q);

	/* collect: until everything due is answered, or 3 s without progress */
	end = vsc_now_ns() + 3000000000ULL;
	for (;;) {
		bool pending = false;
		int got = vsc_reap_all(d, 50);

		if (got > 0)
			end = vsc_now_ns() + 3000000000ULL;
		for (q = 0; q < 3; q++)
			if (vsc_vq_errors(d, q) > err0[q])
				vq_broken[q] = true;
		for (k = 0; k < n; k++) {
			struct fcase *c = cs[k];

			if (c->must_answer && !c->op.done && !vq_broken[c->vq])
				pending = true;
			/* a refusal is signalled asynchronously: wait for it too */
			if (c->expect_vq_err && !c->op.done && !vq_broken[c->vq] &&
			    (c->posted || c->kind == K_AVAIL))
				pending = true;
		}
		if (!pending || vsc_now_ns() > end)
			break;
	}
	for (q = 0; q < 3; q++)
		if (vsc_vq_errors(d, q) > err0[q])
			vq_broken[q] = true;

	/* event buffers posted by earlier batches that got an event since */
	for (k = 0; k < MAX_PEND; k++) {
		struct fcase *c = evt_pend[k];
		const char *bad;

		if (!c || !c->op.done)
			continue;
		classify(d, c);
		bad = c_check(c);
		if (*bad || c->op.used_len > c->writable) {
			report_fail(R, c, *bad ? bad : "event used len > buffer");
			fails++;
		}
		c_free(d, c, true);
		free(c);
		evt_pend[k] = NULL;
	}
	for (k = 0; k < n; k++) {
		struct fcase *c = cs[k];
		const char *bad;

		if (c->kind == K_AVAIL || c->kind == K_LUNTOGGLE) {
			outcome("%s", kind_name[c->kind]);
			continue;
		}
		if (!c->posted) {
			outcome("not-posted");
			continue;
		}
		if (selftest_seed && c->seed == selftest_seed) {
			report_fail(R, c, "selftest failure (--selftest-fail-iter)");
			fails++;
		}
		if (c->op.done) {
			classify(d, c);
			bad = c_check(c);
			if (*bad) {
				report_fail(R, c, bad);
				fails++;
			} else if (c->op.used_len > c->writable) {
				snprintf(why, sizeof(why), "used len %u > %llu device-writable bytes",
					 c->op.used_len, (unsigned long long)c->writable);
				report_fail(R, c, why);
				fails++;
			} else if (c->kind == K_SCSI && strcmp(module, "vhost_scsi")) {
				struct virtio_scsi_cmd_resp rs;
				size_t room = gather_resp(c, &rs);

				if (c->op.used_len && (room < RESP_SZ || c->op.used_len < RESP_SZ ||
						       rs.response == 0xcc)) {
					snprintf(why, sizeof(why), "used len %u but %s", c->op.used_len,
						 room < RESP_SZ ? "no room for a response" :
						 c->op.used_len < RESP_SZ ? "less than a response" :
						 "no response written");
					report_fail(R, c, why);
					fails++;
				} else if (!c->op.used_len && room >= RESP_SZ) {
					report_fail(R, c, "dropped (used len 0) with room for a response");
					fails++;
				}
			}
		} else if (vq_broken[c->vq]) {
			outcome("%s:stuck-after-vq-error", kind_name[c->kind]);
		} else if (c->must_answer) {
			outcome("%s:no-answer", kind_name[c->kind]);
			if (strcmp(module, "vhost_scsi")) {	/* upstream drops some: counted only */
				report_fail(R, c, "no answer within 3 s and no vq error");
				fails++;
			}
		}
	}
	for (q = 0; q < 3; q++)
		if (vq_broken[q]) {
			outcome("vq-error:%s", q == 0 ? "ctl" : q == 1 ? "evt" : "req");
			R->vqerr++;
		}
	if (vsc_stray_used(d, REQ) || vsc_stray_used(d, VSC_VQ_CTL)) {
		report_fail(R, cs[0], "used entries for heads not in flight (stray)");
		fails++;
	}

	if (vq_broken[0] || vq_broken[1] || vq_broken[2] || fails || any_stuck(cs, n)) {
		/* the queue may be stopped at a bad chain: new device */
		for (k = 0; k < n; k++) {
			c_free(d, cs[k], false);
			free(cs[k]);
			cs[k] = NULL;
		}
		pend_drop_all();
		vsc_close(d);
		*dp = d = dev_open(R->seed + first, why, sizeof(why));
		R->reopen++;
		if (!d) {
			printf("FAILURE: cannot reopen the device: %s\n", why);
			R->failures++;
			free(cs);
			return -1;
		}
	} else {
		for (k = 0; k < n; k++) {
			if (cs[k]->kind == K_EVT && cs[k]->posted && !cs[k]->op.done &&
			    pend_add(cs[k])) {
				cs[k] = NULL;	/* still posted: kept for a later event */
				continue;
			}
			c_free(d, cs[k], !cs[k]->op.inflight);
			free(cs[k]);
			cs[k] = NULL;
		}
	}
	hok = health(d, why, sizeof(why));
	if (!hok && (vsc_vq_errors(d, REQ) > err0[2] || vsc_vq_errors(d, VSC_VQ_CTL) > err0[0])) {
		/* the vhost core stopped a queue after we looked: legitimate, reopen */
		outcome("late-vq-error");
		pend_drop_all();
		vsc_close(d);
		*dp = d = dev_open(R->seed + first + 2, why, sizeof(why));
		R->reopen++;
		if (!d) {
			free(cs);
			return -1;
		}
		hok = health(d, why, sizeof(why));
	}
	if (!hok) {
		struct fcase hc = { .iter = first + n - 1, .seed = case_seed(R->seed, first + n - 1),
				    .kind = cs[n - 1] ? cs[n - 1]->kind : K_SCSI };

		snprintf(hc.desc, sizeof(hc.desc), "(last case of the batch; see the batch line)");
		char msg[400];

		snprintf(msg, sizeof(msg), "health check after the batch failed: %s", why);
		report_fail(R, &hc, msg);
		fails++;
		printf("  batch: vsc-fuzz --module %s --seed %llu --start %llu --iterations %u "
		       "--batch %u --dev-seed %llu\n", module, (unsigned long long)R->seed,
		       (unsigned long long)first, n, R->batch, (unsigned long long)bseed);
		pend_drop_all();
		vsc_close(d);
		*dp = dev_open(R->seed + first + 1, why, sizeof(why));
		R->reopen++;
	}
	free(cs);
	return fails;
}

/*
 * Shrink a failing batch: replay each of its cases alone on a fresh device
 * (as "--seed <case seed> --iterations 1" would) and name the first one
 * that fails by itself.
 */
static void shrink(struct run *R, uint64_t first, unsigned int n)
{
	unsigned int k, t;
	char why[256];

	uint64_t dev_seed = cur_dev_seed;
	bool was_fixed = dev_seed_fixed;

	printf("shrink: replaying the %u cases of the failing batch one by one (dev seed %llu)\n",
	       n, (unsigned long long)dev_seed);
	dev_seed_fixed = true;
	for (k = 0; k < n; k++) {
		struct run R2 = { .seed = case_seed(R->seed, first + k), .batch = 1,
				  .shrinking = true };
		struct vsc_dev *d = dev_open(dev_seed, why, sizeof(why));
		int f;

		if (!d)
			continue;
		alarm(120);
		f = run_batch(&R2, &d, 0, 1, &t);
		alarm(0);
		if (d)
			vsc_close(d);
		cur_dev_seed = dev_seed;
		if (f > 0) {
			printf("shrink: minimal reproducer: vsc-fuzz --module %s --seed %llu "
			       "--iterations 1 --dev-seed %llu (iteration %llu of seed %llu fails "
			       "alone)\n", module, (unsigned long long)R2.seed,
			       (unsigned long long)dev_seed, (unsigned long long)(first + k),
			       (unsigned long long)R->seed);
			dev_seed_fixed = was_fixed;
			return;
		}
	}
	dev_seed_fixed = was_fixed;
	printf("shrink: no case fails alone; replay the batch: vsc-fuzz --module %s --seed %llu "
	       "--start %llu --iterations %u --batch %u --dev-seed %llu\n", module,
	       (unsigned long long)R->seed, (unsigned long long)first, n, R->batch,
	       (unsigned long long)dev_seed);
}

static void on_alarm(int s)
{
	(void)s;
	printf("FAILURE: watchdog: a batch took more than 120 s (hang)\n");
	printf("FAIL: fuzz/watchdog\n");
	fflush(stdout);
	_exit(1);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "start", required_argument, NULL, 'S' },
		{ "batch", required_argument, NULL, 'b' },
		{ "no-fixture", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "selftest-fail-iter", required_argument, NULL, 'X' },
		{ "dev-seed", required_argument, NULL, 'D' },
		{ 0 }
	};
	struct run R = { .seed = 1, .batch = 8 };
	struct vsc_dev *d;
	uint64_t t0, i;
	char why[256];
	bool fix = true, shrunk = false;
	uint64_t selftest_iter = 0;
	unsigned int taken = 0;
	uint64_t bseed;
	double dt;
	int c, k;

	while ((c = getopt_long(argc, argv, "m:s:t:n:S:b:FvX:D:", lo, NULL)) != -1) {
		switch (c) {
		case 'm': module = optarg; break;
		case 's': R.seed = strtoull(optarg, NULL, 0); break;
		case 't': R.seconds = atof(optarg); break;
		case 'n': R.iters = strtoull(optarg, NULL, 0); break;
		case 'S': R.start = strtoull(optarg, NULL, 0); break;
		case 'b': R.batch = (unsigned int)atoi(optarg); break;
		case 'F': fix = false; break;
		case 'v': verbose = true; break;
		case 'D':
			cur_dev_seed = strtoull(optarg, NULL, 0);
			dev_seed_fixed = true;
			break;
		case 'X': selftest_iter = strtoull(optarg, NULL, 0) + 1; break;
		default:
			fprintf(stderr, "usage: vsc-fuzz [--module M] --seed S (--seconds N | "
				"--iterations N) [--start I] [--batch B] [-v]\n");
			return 2;
		}
	}
	if (selftest_iter)
		selftest_seed = case_seed(R.seed, selftest_iter - 1);
	if (!R.seconds && !R.iters)
		R.iters = 1000;
	if (!R.batch)
		R.batch = 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	if (fix && (k = fixture())) {
		printf("FAIL: fuzz/seed-%llu: fixture: %d\n", (unsigned long long)R.seed, k);
		return 1;
	}
	d = dev_open(R.seed + R.start, why, sizeof(why));
	if (!d || !health(d, why, sizeof(why))) {
		printf("FAIL: fuzz/seed-%llu: initial device: %s\n", (unsigned long long)R.seed, why);
		return 1;
	}
	t0 = vsc_now_ns();
	for (i = R.start;; i += taken) {
		unsigned int n = R.batch;

		if (R.iters && i >= R.start + R.iters)
			break;
		if (R.iters && i + n > R.start + R.iters)
			n = (unsigned int)(R.start + R.iters - i);
		if (R.seconds && (double)(vsc_now_ns() - t0) / 1e9 >= R.seconds)
			break;
		alarm(120);
		bseed = cur_dev_seed;
		k = run_batch(&R, &d, i, n, &taken);
		alarm(0);
		n = taken;
		if (k > 0 && !shrunk && d) {
			/* the endpoint allows one device: give it to the replays */
			pend_drop_all();
			vsc_close(d);
			cur_dev_seed = bseed;
			shrink(&R, i, n);
			shrunk = true;
			d = dev_open(R.seed + i + 1, why, sizeof(why));
		}
		R.done += n;
		R.batches++;
		if (k < 0 || !d)
			break;
	}
	dt = (double)(vsc_now_ns() - t0) / 1e9;
	if (d)
		vsc_close(d);
	if (lun_linked)
		toggle_lun();
	if (fix)
		vsc_tgt_teardown_all(false);

	printf("fuzz: module %s seed %llu: %llu iterations in %llu batches, %.1f s, %.1f it/s; "
	       "%llu vq errors, %llu reopens, %llu failures\n", module,
	       (unsigned long long)R.seed, (unsigned long long)R.done,
	       (unsigned long long)R.batches, dt, dt > 0 ? (double)R.done / dt : 0.0,
	       (unsigned long long)R.vqerr, (unsigned long long)R.reopen,
	       (unsigned long long)R.failures);
	for (k = 0; k < MAX_OUTCOMES && outcomes[k].name[0]; k++)
		;
	printf("fuzz: %d distinct outcomes:", k);
	for (c = 0; c < k; c++)
		printf(" %s=%lu", outcomes[c].name, outcomes[c].n);
	printf("\n");
	if (R.failures)
		printf("FAIL: fuzz/seed-%llu: %llu failures (see FAILURE lines)\n",
		       (unsigned long long)R.seed, (unsigned long long)R.failures);
	else
		printf("PASS: fuzz/seed-%llu\n", (unsigned long long)R.seed);
	return R.failures ? 1 : 0;
}
