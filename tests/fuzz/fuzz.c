// SPDX-License-Identifier: GPL-2.0
/*
 * vsc-fuzz: seeded descriptor-chain fuzzer for a vhost-scsi fabric module,
 * run inside L1 with the module loaded (it builds its own configfs fixture).
 *
 *   vsc-fuzz [--module tcm_vhost|vhost_scsi] --seed S (--seconds N | --iterations N)
 *            [--start I] [--batch B] [--dev-seed D] [--rotate-ms T]
 *            [--devices N] [--stride K] [--kcov] [--corpus F] [--corpus-out F]
 *            [--replay F] [--splices CUT:ALT,...] [--stall-ms T] [-v]
 *
 * Iteration i runs one case generated from a case seed: the run seed itself
 * for i == 0, else a hash of (seed, i); so "--seed <case seed> --iterations 1"
 * replays one case alone ("--dev-seed D" gives the device the ring size and
 * features it had, as the FAILURE line says). Cases are posted in batches
 * of B (64) on one device, kicked now and then, whenever the device went
 * idle, and all at the end; after every batch the answers are checked (used
 * length within the device-writable bytes, device-readable buffers
 * unchanged, canaries intact, no stray used entries, every request answered
 * unless the vhost core signalled a vq error on its queue), and a failing
 * batch is replayed case by case on fresh devices to name the culprit.
 *
 * The health check (TUR, WRITE+READ of a pattern, AN on the control queue)
 * runs every HEALTH_EVERY (4) batches, before the device is replaced, and
 * at the end (it cost as much as a quarter of a batch): a failing one names
 * the iterations since the last good one, which are replayed batch by batch,
 * then the first batch failing alone case by case.
 *
 * A vq error (the vhost core refused a chain and stops at it) is cured in
 * place: the refused chain's head becomes a harmless filler, or an avail
 * index that jumped is put back (rescue()), and the chains behind it run as
 * usual; only a refusal the fuzzer cannot point at costs a new device. Cases
 * that spoil the avail ring act after the rest of their batch. The device
 * is replaced every T ms (2000 times the devices fuzzed at once; 0: never)
 * so that runs still see many ring sizes and feature sets; its arena,
 * already backed, goes to the next one.
 * Reopening per vq error was 130 ms a time and most of the fuzzer's time,
 * with batches cut short at the first expected refusal.
 *
 * N devices (--devices, DEFAULT_DEVS) are fuzzed at once, each by a thread
 * of its own on a vhost target of its own: batch k of the run goes to
 * device k % N, so a run still covers iterations 0, 1, 2, ... and every
 * device does all of the above for its batches. One device spent most of
 * its time waiting: for room in a small ring, for a batch's answers, or
 * idle while its thread checked them. A range replay names the stride it
 * needs ("--devices 1 --stride N": every Nth batch, on one device).
 *
 * With --kcov on a kernel that has KCOV, the run is coverage-guided by the
 * module edges its batches reach ("coverage guidance" below); a case drawn
 * from the corpus is named by its seed and splices ("--splices").
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kcov.h"
#include "libvsc.h"

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
/* per fuzzing thread (one a device, see struct slot) unless said otherwise */
static __thread uint64_t cur_dev_seed;	/* device configuration of the current device */
static __thread bool dev_seed_fixed;	/* --dev-seed: every device opened alike (replays) */
static uint64_t opt_dev_seed;		/* --dev-seed, for every thread */
static bool opt_dev_seed_fixed;
static bool verbose;
static uint64_t selftest_seed;	/* --selftest-fail-iter: a case that "fails" (tests shrinking) */

/* ------------------------------------------------------------ profile */

/* where the time goes, printed at the end ("fuzz: time:") */
enum { T_GEN, T_ROOM, T_COLLECT, T_CHECK, T_REOPEN, T_HEALTH, T_ROTATE, T_N };
static const char *const t_name[T_N] = { "generate", "of which ring-full waits", "collect",
					  "check", "reopen", "health", "rotate" };
static __thread uint64_t t_ns[T_N], t_cnt[T_N];

/* the machine's CPU time so far, in jiffies: all of it, and idle */
static void cpu_jiffies(unsigned long long *all, unsigned long long *idle)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int k;

	*all = *idle = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (k = 0; k < 8; k++)
			*all += v[k];
		*idle = v[3] + v[4];
	}
	fclose(f);
}

/* charge the time since *@t0 to @k; *@t0 becomes now */
static void tadd(int k, uint64_t *t0)
{
	uint64_t now = vsc_now_ns();

	t_ns[k] += now - *t0;
	t_cnt[k]++;
	*t0 = now;
}

/* ------------------------------------------------------------- memory */

/*
 * Under QEMU's TCG, glibc's memset (rep stosb from 2 KiB on) runs a byte at
 * a time, 350 MB/s: filling data-out buffers took half the fuzzer's time.
 * Sixteen bytes a store instead (the empty asm keeps the compiler from
 * turning the loop back into a memset call).
 */
typedef uint64_t v16 __attribute__((vector_size(16)));

static v16 v16_of(uint8_t v)
{
	uint64_t w = 0x0101010101010101ULL * v;

	return (v16){ w, w };
}

static void fill(void *dst, uint8_t v, size_t n)
{
	uint8_t *p = dst;
	v16 pat = v16_of(v);

	for (; n && ((uintptr_t)p & 15); n--)
		*p++ = v;
	for (; n >= 64; n -= 64, p += 64) {
		v16 *q = (v16 *)(void *)p;

		q[0] = pat;
		q[1] = pat;
		q[2] = pat;
		q[3] = pat;
		__asm__ volatile("" : : "r"(q) : "memory");
	}
	for (; n; n--)
		*p++ = v;
}

/* every one of the @n bytes at @p is @v */
static bool all_byte(const uint8_t *p, size_t n, uint8_t v)
{
	v16 pat = v16_of(v), acc = { 0, 0 };

	for (; n && ((uintptr_t)p & 15); n--)
		if (*p++ != v)
			return false;
	for (; n >= 64; n -= 64, p += 64) {
		const v16 *q = (const v16 *)(const void *)p;

		acc |= (q[0] ^ pat) | (q[1] ^ pat) | (q[2] ^ pat) | (q[3] ^ pat);
		if (acc[0] | acc[1])
			return false;
	}
	for (; n; n--)
		if (*p++ != v)
			return false;
	return true;
}

/* ------------------------------------------------------------- random */

/*
 * A case's identity: its draws come from @seed, except that from draw
 * cut[k] on they come from alt[k] (splices, cuts ascending).  A corpus case
 * spliced at a cut keeps its shape up to there and varies after it.
 */
#define MAX_SPLICES 4
struct ident {
	uint64_t seed;
	unsigned int n;			/* splices */
	uint32_t cut[MAX_SPLICES];
	uint64_t alt[MAX_SPLICES];
};

struct rng {
	uint64_t s;
	uint32_t draws;			/* made so far */
	unsigned int k;			/* the next splice */
	const struct ident *id;		/* NULL: the seed alone */
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_init(struct rng *r, uint64_t seed, const struct ident *id)
{
	r->s = seed;
	r->draws = 0;
	r->k = 0;
	r->id = id;
}

static uint64_t rnd(struct rng *r)
{
	if (r->id && r->k < r->id->n && r->draws == r->id->cut[r->k])
		r->s = r->id->alt[r->k++];
	r->draws++;
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

/* " --splices C:A,..." for a replay command line, or "" */
static const char *splices_opt(const struct ident *id)
{
	static __thread char b[MAX_SPLICES * 34 + 16];
	size_t o = 0;
	unsigned int k;

	b[0] = 0;
	for (k = 0; k < id->n; k++)
		o += (size_t)snprintf(b + o, sizeof(b) - o, "%s%u:%llu", k ? "," : " --splices ",
				      id->cut[k], (unsigned long long)id->alt[k]);
	return b;
}

/* ------------------------------------------------------------ outcomes */

#define MAX_OUTCOMES 128
struct outcome {
	char name[48];
	unsigned long n;
};

static __thread struct outcome outcomes[MAX_OUTCOMES];

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

enum kind { K_SCSI, K_RAW, K_CTL, K_EVT, K_AVAIL, K_LUNTOGGLE, K_HEALTH };
static const char *const kind_name[] = { "scsi", "raw", "ctl", "evt", "avail", "lun", "health" };

struct seg {
	uint32_t len;
	bool write;
	int addr_mode;		/* 0 normal, 1 outside memory, 2 crossing the end */
};

struct fcase {
	uint64_t seed;
	struct ident id;		/* seed and splices */
	uint32_t draws;			/* the generator's */
	uint64_t iter;
	enum kind kind;
	unsigned int vq;
	char desc[768];
	size_t dlen;
	/* buffers */
	struct vsc_buf *buf[MAX_BUFS];
	uint8_t *copy[MAX_BUFS];	/* readable buffers: expected content */
	int16_t byte[MAX_BUFS];		/* or every byte is this one (data-out), -1 if not */
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
	/* vq errors cured in place (see rescue()) */
	bool rescued;			/* the device got a filler in its place */
	struct vsc_buf *fill[3];	/* the filler's table, request and response */
	/* K_AVAIL: acts once the rest of the batch is posted */
	bool avail_jump;		/* else: a head out of range */
	uint16_t avail_val;		/* how far it jumps, or the head */
	bool applied, cured;
	uint16_t avail_slot;		/* avail idx when applied: the slot it spoils */
	uint16_t spare;			/* descriptor kept for the filler of that slot */
	unsigned int tries;		/* refusals of its filler */
};

/* The batch being run: what rescue() and make_room() work on */
static __thread struct {
	struct fcase **cs;
	unsigned int n;			/* cases generated so far */
	uint64_t seen[3];		/* vq error counts handled */
	bool broken[3];			/* a vq error no rescue cured: the device must go */
	unsigned int errors, rescues;
} B;

#define WATCHDOG_S	120		/* a batch (or replay) longer than this hangs */
static void watch(unsigned int s);
static uint64_t rotate_ns;			/* --rotate-ms, else ROTATE_MS per device */
#define ROTATE_MS	2000

/*
 * This long without progress: stop waiting (--stall-ms, STALL_MS by default).
 * A debug kernel under TCG takes seconds to pin a 32 MiB buffer;
 * tests/fuzz/run.sh gives it more (FUZZ_STALL_MS).
 */
#define STALL_MS	3000
static uint64_t stall_ns = STALL_MS * 1000000ULL;
#define HEALTH_EVERY	4		/* batches per health check */

static bool make_room(struct vsc_dev *d, unsigned int vq, unsigned int need);

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

/*
 * A guarded arena buffer for a case. Device-readable: @content, else @byte
 * (>= 0) in every byte (data-out, checked by a scan: no copy to keep), else
 * zeros. Device-writable: 0xcc where a response can land (gather_resp()
 * looks for it), which is all of a small buffer but only the head of a
 * large one: nothing reads the rest, and filling megabytes per case was
 * most of the fuzzer's time.
 */
#define WFILL_ALL	4096
#define WFILL_HEAD	128		/* >= RESP_SZ */

static struct vsc_buf *c_buf(struct vsc_dev *d, struct fcase *c, size_t len, bool write,
			     const uint8_t *content, int byte, unsigned int misalign)
{
	unsigned int k = c->nbuf;
	struct vsc_buf *b;

	if (k >= MAX_BUFS)
		return NULL;
	b = vsc_buf_alloc(d, len ? len : 1, VSC_BUF_GUARD, misalign);
	if (!b)
		return NULL;
	c->buf[k] = b;
	c->copy[k] = NULL;
	c->byte[k] = -1;
	c->nbuf++;
	if (write) {
		fill(b->p, 0xcc, b->len > WFILL_ALL ? WFILL_HEAD : b->len);
	} else if (!content && byte >= 0) {
		fill(b->p, (uint8_t)byte, b->len);
		c->byte[k] = (int16_t)byte;
	} else {
		if (content)
			memcpy(b->p, content, len);
		else
			fill(b->p, 0, b->len);
		if (len) {
			c->copy[k] = malloc(len);
			if (c->copy[k])
				memcpy(c->copy[k], b->p, len);
		}
	}
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
	for (k = 0; k < 3; k++)
		if (dev_alive && !c->op.inflight && c->fill[k])
			vsc_buf_free(d, c->fill[k]);
	c->nbuf = 0;
}

static const uint8_t canary[VSC_CANARY_LEN] = { [0 ... VSC_CANARY_LEN - 1] = VSC_CANARY_BYTE };

/* vsc_buf_check() a word at a time (c_buf()'s buffers are all guarded) */
static int canary_check(const struct vsc_buf *b, long *where)
{
	if (!memcmp(b->p - VSC_CANARY_LEN, canary, VSC_CANARY_LEN) &&
	    !memcmp(b->p + b->len, canary, VSC_CANARY_LEN))
		return 0;
	return vsc_buf_check(b, where);
}

/* Check buffers after the device is done with them: "" or a reason. */
static const char *c_check(struct fcase *c)
{
	static __thread char why[160];
	unsigned int k;
	long where;

	for (k = 0; k < c->nbuf; k++) {
		const struct vsc_buf *b = c->buf[k];

		if (canary_check(b, &where)) {
			snprintf(why, sizeof(why), "canary damaged around buffer %u (offset %ld)", k,
				 where);
			return why;
		}
		if ((c->copy[k] && memcmp(c->copy[k], b->p, b->len)) ||
		    (c->byte[k] >= 0 && !all_byte(b->p, b->len, (uint8_t)c->byte[k]))) {
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
 * Build buffers for a stream of bytes @data (len), or of @byte repeated,
 * cut into @nseg segments; appends descriptors. Returns false on
 * allocation failure.
 */
static bool stream(struct vsc_dev *d, struct fcase *c, struct rng *r, struct dl *l,
		   const uint8_t *data, int byte, size_t len, bool write, unsigned int nseg,
		   bool one_byte)
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
		b = c_buf(d, c, take, write, data ? data + pos : NULL, byte,
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
		t = c_buf(d, c, 16 * l->n, false, NULL, -1, 0);
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
		if (c->copy[c->nbuf - 1])
			memcpy(c->copy[c->nbuf - 1], t->p, 16 * l->n);
		if (!make_room(d, c->vq, 1) || vsc_raw_take(d, c->vq, 1, idx))
			return false;
		vsc_raw_set_desc(d, c->vq, idx[0], (uintptr_t)t->p, tlen, flags, 0);
		vsc_raw_publish(d, c->vq, idx[0], &c->op, 1, idx);
		d_add(c, " indirect(%u)", l->n);
	} else {
		if (!make_room(d, c->vq, l->n) || vsc_raw_take(d, c->vq, l->n, idx))
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
				/*
				 * One of its own (a chain shortened after the
				 * mutation may point past its end): never
				 * another chain's, say a filler's.
				 */
				fl |= VRING_DESC_F_NEXT;
				next = (uint16_t)(nx >= 1000 ? nx - 1000 : idx[nx % l->n]);
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
						c->byte[b] = -1;
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
	uint8_t hdr[sizeof(struct virtio_scsi_cmd_req_pi) + 16], cdb[32];
	bool pi = vsc_has_feature(d, VIRTIO_SCSI_F_T10_PI);
	size_t hlen = pi ? sizeof(struct virtio_scsi_cmd_req_pi) : sizeof(struct virtio_scsi_cmd_req);
	uint32_t dlen_out, dlen_in, resp_len = RESP_SZ;
	struct dl l = { 0 };
	unsigned int nsplit;
	bool ok = true, one = chance(r, 4), ind = chance(r, 35);
	int dout = -1;
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
	if (dlen_out)
		dout = (int)(rnd(r) & 0xff);	/* the data-out bytes, all alike */
	/* out stream: header, data-out (merged or not) */
	nsplit = chance(r, 50) ? 1 : 1 + below(r, 6);
	ok = stream(d, c, r, &l, hdr, -1, hlen, false, nsplit, one && hlen < 60);
	if (ok)
		ok = stream(d, c, r, &l, NULL, dout, dlen_out, false,
			    dlen_out > 65536 ? 1 + below(r, 8) : 1 + below(r, 12), false);
	/* in stream: response, data-in */
	if (ok) {
		unsigned int first = c->nbuf;

		ok = stream(d, c, r, &l, NULL, -1, resp_len, true,
			    chance(r, 50) ? 1 : 1 + below(r, 5), one && resp_len <= RESP_SZ);
		if (ok && c->nbuf > first) {
			c->resp = c->buf[first];
			c->resp_len = c->resp->len >= RESP_SZ ? RESP_SZ : 0;
		}
	}
	if (ok)
		ok = stream(d, c, r, &l, NULL, -1, dlen_in, true,
			    dlen_in > 65536 ? 1 + below(r, 8) : 1 + below(r, 12), false);
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
	/* a chain longer than the ring can only go indirect */
	if (!ind && l.n > vsc_vq_size(d, c->vq))
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
		b = c_buf(d, c, rlen, false, req, -1, 0);
		if (!b)
			return false;
		dl_add(&l, (uintptr_t)b->p, rlen, false);
	}
	if (resp) {
		b = c_buf(d, c, resp, true, NULL, -1, 0);
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
	b = c_buf(d, c, len, true, NULL, -1, 0);
	if (!b)
		return false;
	dl_add(&l, (uintptr_t)b->p, len, true);
	c->writable = len;
	c->resp = b;
	d_add(c, "evt buffer len=%u", len);
	return post(d, c, r, &l, false);
}

/* ------------------------------------------------------------- fixture */

/*
 * The devices fuzzed at once (--devices), each driven by a thread of its
 * own: while one waits for its device (a full small ring, a batch being
 * answered), another generates or checks. Each has a vhost target of its
 * own, WWPN, two TPGs and two backstores, so that one device's LUN resets,
 * event LUN toggles and health check never meet another's commands.
 */
#define MAX_DEVS	4
#define DEFAULT_DEVS	3

struct slot {
	unsigned int idx;
	char wwpn[32], init1[32], init2[32], bs16[16], bs4[16];
	/* its LUN toggles (lun_worker()) */
	pthread_mutex_t lun_mx;
	pthread_cond_t lun_cv;
	unsigned int lun_asked, lun_done;
	bool lun_linked;		/* as configfs has it (the toggler's) */
	bool lun_wanted;		/* once the toggles asked for are done */
	bool lun_thread_up;
	/* the watchdog: when its current batch is overdue (0: none running) */
	uint64_t deadline;
};

static struct slot slots[MAX_DEVS];
static unsigned int nslots = 1;
static __thread struct slot *S;	/* the calling thread's */

/* Slot 0 keeps the names a single device always had. */
static void slot_init(struct slot *sl, unsigned int k)
{
	sl->idx = k;
	snprintf(sl->wwpn, sizeof(sl->wwpn), "naa.5001405f0220a%02x", k + 1);
	snprintf(sl->init1, sizeof(sl->init1), "naa.5001405f0220f%u1", k);
	snprintf(sl->init2, sizeof(sl->init2), "naa.5001405f0220f%u2", k);
	snprintf(sl->bs16, sizeof(sl->bs16), k ? "f16_%u" : "f16", k);
	snprintf(sl->bs4, sizeof(sl->bs4), k ? "f4_%u" : "f4", k);
	pthread_mutex_init(&sl->lun_mx, NULL);
	pthread_cond_init(&sl->lun_cv, NULL);
}

static int fixture(void)
{
	unsigned int k;
	int r;

	vsc_tgt_teardown_all(false);
	for (k = 0; k < nslots; k++) {
		const struct slot *sl = &slots[k];

		if ((r = vsc_tgt_rd_create(HBA, sl->bs16, 16ULL << 20)) ||
		    (r = vsc_tgt_rd_create(HBA, sl->bs4, 4ULL << 20)) ||
		    (r = vsc_tgt_tpg_create(sl->wwpn, 1)) ||
		    (r = vsc_tgt_nexus_set(sl->wwpn, 1, sl->init1)) ||
		    (r = vsc_tgt_lun_link(sl->wwpn, 1, 0, HBA, sl->bs16)) ||
		    (r = vsc_tgt_lun_link(sl->wwpn, 1, 1, HBA, sl->bs4)) ||
		    (r = vsc_tgt_tpg_create(sl->wwpn, 2)) ||
		    (r = vsc_tgt_nexus_set(sl->wwpn, 2, sl->init2)) ||
		    (r = vsc_tgt_lun_link(sl->wwpn, 2, 0, HBA, sl->bs4)))
			return r;
	}
	return 0;
}

static void toggle_lun(struct slot *sl)
{
	if (sl->lun_linked)
		vsc_tgt_lun_unlink(sl->wwpn, 1, EVT_LUN);
	else
		vsc_tgt_lun_link(sl->wwpn, 1, EVT_LUN, HBA, sl->bs4);
	sl->lun_linked = !sl->lun_linked;
}

/*
 * A LUN toggle takes 24 ms under TCG, mostly waiting for RCU grace periods
 * in target_core: a thread of its own does it while the batch goes on
 * (the events it raises were never synchronous anyway). A batch waits for
 * its toggles before its checks, so the health check still follows them.
 */
static void *lun_worker(void *arg)
{
	struct slot *sl = arg;

	pthread_mutex_lock(&sl->lun_mx);
	for (;;) {
		while (sl->lun_done == sl->lun_asked)
			pthread_cond_wait(&sl->lun_cv, &sl->lun_mx);
		pthread_mutex_unlock(&sl->lun_mx);
		toggle_lun(sl);
		pthread_mutex_lock(&sl->lun_mx);
		sl->lun_done++;
		pthread_cond_broadcast(&sl->lun_cv);
	}
	return NULL;
}

static void lun_toggle_async(void)
{
	pthread_t t;

	S->lun_wanted = !S->lun_wanted;
	if (!S->lun_thread_up) {
		S->lun_thread_up = !pthread_create(&t, NULL, lun_worker, S);
		if (!S->lun_thread_up) {
			toggle_lun(S);
			return;
		}
		pthread_detach(t);
	}
	pthread_mutex_lock(&S->lun_mx);
	S->lun_asked++;
	pthread_cond_broadcast(&S->lun_cv);
	pthread_mutex_unlock(&S->lun_mx);
}

static void lun_wait(void)
{
	pthread_mutex_lock(&S->lun_mx);
	while (S->lun_done != S->lun_asked)
		pthread_cond_wait(&S->lun_cv, &S->lun_mx);
	pthread_mutex_unlock(&S->lun_mx);
}

/* -------------------------------------------------------------- device */

/*
 * A device now lives for many batches, and its arena's free lists keep
 * blocks of every size class it was asked for: a new device once the
 * arena is half handed out (a batch may need tens of MiB more).
 */
#define ARENA		(384UL << 20)
#define ARENA_RECYCLE	(ARENA / 2)

/*
 * The arena outlives its devices: a page touched the first time costs
 * 24 us under TCG, and a fresh arena per device touched tens of MiB.
 */
static __thread void *arena;

static void dev_close(struct vsc_dev *d)
{
	if (d)
		arena = vsc_close_keep_arena(d);
}

static struct vsc_dev *dev_open(uint64_t seed, char *why, size_t wl)
{
	struct rng r;

	if (dev_seed_fixed)
		seed = cur_dev_seed;
	cur_dev_seed = seed;
	rng_init(&r, seed ^ 0x5eed, NULL);
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
	o.arena_size = ARENA;
	d = arena ? vsc_open_arena(&o, arena) : vsc_open(&o);
	if (!d) {
		snprintf(why, wl, "vsc_open: errno %d", errno);
		return NULL;
	}
	ret = vsc_set_endpoint(d, S->wwpn);
	if (ret) {
		snprintf(why, wl, "SET_ENDPOINT: %d", ret);
		dev_close(d);
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
	uint64_t seed, start, iters, done, failures, reopen, vqerr, rescued, batches, rotations;
	unsigned int batch;
	/*
	 * This run's batches start at start + (k * stride + slot) * batch: with
	 * --devices N, device slot runs every Nth batch (stride N), so that a
	 * run covers the iterations it always did, shared out between them.
	 */
	unsigned int stride, slot;
	uint64_t next;			/* where this run's next batch starts */
	double seconds;
	bool shrinking;
	/* the iterations no passing health check covers yet, on the device of hseed */
	uint64_t hfirst, hseed;
	unsigned int unchecked;		/* batches */
	bool hfailed;			/* the last health check failed: for the range */
	uint64_t hfail_first, hfail_n, hfail_seed;
	/* iteration 0 is this case (--splices, and a shrink's replays) */
	bool forced;
	struct ident force;
	uint64_t newcov;		/* batches that reached new module edges */
};

/* event buffers stay posted across batches */
#define MAX_PEND 64
static __thread struct fcase *evt_pend[MAX_PEND];

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
	       "  replay: vsc-fuzz --module %s --seed %llu%s --iterations 1 --dev-seed %llu\n",
	       (unsigned long long)c->iter, (unsigned long long)c->seed, why, kind_name[c->kind],
	       c->desc, module, (unsigned long long)c->seed, splices_opt(&c->id),
	       (unsigned long long)cur_dev_seed);
	fflush(stdout);
}

/* chains the device still holds (it may answer them later): the device must go */
static bool any_stuck(void)
{
	unsigned int k;

	for (k = 0; k < B.n; k++) {
		struct fcase *c = B.cs[k];

		if (c->posted && !c->op.done && c->kind != K_EVT)
			return true;
		/* a filler still out, or a spoiled avail ring nobody put right */
		if (c->kind == K_AVAIL && (c->op.inflight || (c->applied && !c->cured)))
			return true;
	}
	return false;
}

/* ---------------------------------------------------------- vq errors */

/* The case whose chain starts at @head of @vq, still in flight */
static struct fcase *find_head(unsigned int vq, uint16_t head)
{
	unsigned int k;

	for (k = 0; k < B.n; k++) {
		struct fcase *c = B.cs[k];

		if (c->posted && c->vq == vq && c->op.inflight && c->op.head == head)
			return c;
	}
	return NULL;
}

/* The K_AVAIL case acting now: it moved the index, or spoiled @slot */
static struct fcase *find_avail(bool jump, uint16_t slot)
{
	unsigned int k;

	for (k = 0; k < B.n; k++) {
		struct fcase *c = B.cs[k];

		if (c->kind == K_AVAIL && c->applied && !c->cured && c->avail_jump == jump &&
		    (jump || c->avail_slot == slot))
			return c;
	}
	return NULL;
}

/*
 * Point descriptor @desc of @vq at a filler the device takes: one indirect
 * descriptor to a TUR (request queue) or an AN query (control queue), with
 * room for the answer, for a target no TPG has: answered BAD_TARGET at
 * once, without a trip through target_core. Its buffers go with @c.
 */
#define FILL_TGT	255
static bool filler(struct vsc_dev *d, struct fcase *c, unsigned int vq, uint16_t desc)
{
	uint8_t req[sizeof(struct virtio_scsi_cmd_req_pi)];
	struct vring_desc *t;
	uint32_t rlen, alen;
	unsigned int k;

	memset(req, 0, sizeof(req));
	if (vq == VSC_VQ_CTL) {
		struct virtio_scsi_ctrl_an_req *a = (void *)req;

		a->type = VIRTIO_SCSI_T_AN_QUERY;
		vsc_lun_encode(a->lun, FILL_TGT, 0);
		rlen = sizeof(*a);
		alen = sizeof(struct virtio_scsi_ctrl_an_resp);
	} else {
		/* both headers start with the LUN; an all-zero CDB is a TUR */
		vsc_lun_encode(req, FILL_TGT, 0);
		rlen = vsc_has_feature(d, VIRTIO_SCSI_F_T10_PI) ?
		       sizeof(struct virtio_scsi_cmd_req_pi) : sizeof(struct virtio_scsi_cmd_req);
		alen = RESP_SZ;
	}
	c->fill[0] = vsc_buf_alloc(d, 2 * sizeof(*t), VSC_BUF_ZERO, 0);
	c->fill[1] = vsc_buf_alloc(d, rlen, VSC_BUF_ZERO, 0);
	c->fill[2] = vsc_buf_alloc(d, alen, VSC_BUF_FILL, 0);
	for (k = 0; k < 3; k++)
		if (!c->fill[k])
			return false;
	memcpy(c->fill[1]->p, req, rlen);
	t = (void *)c->fill[0]->p;
	t[0].addr = (uintptr_t)c->fill[1]->p;
	t[0].len = rlen;
	t[0].flags = VRING_DESC_F_NEXT;
	t[0].next = 1;
	t[1].addr = (uintptr_t)c->fill[2]->p;
	t[1].len = alen;
	t[1].flags = VRING_DESC_F_WRITE;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vsc_raw_set_desc(d, vq, desc, (uintptr_t)t, 2 * sizeof(*t), VRING_DESC_F_INDIRECT, 0);
	c->rescued = true;
	return true;
}

/*
 * A vq error on @vq. The vhost core refused the chain in the slot at the
 * device's last_avail_idx (VHOST_GET_VRING_BASE) and tries that slot again
 * at the next kick: put a filler in place of what it refused (or, after an
 * avail index jump, put the index back) and the batch goes on. This costs
 * an ioctl where a new device cost 130 ms, and the chains behind the
 * refused one are tested instead of dropped. The case replaced has no
 * answer to check; its buffers still are. False if none of ours waits
 * there (the device took the chain and then complained, as vhost_scsi
 * may): the vq is broken and the device must go, as before.
 */
static bool rescue(struct vsc_dev *d, unsigned int vq)
{
	struct vhost_vring_state st = { .index = vq };
	uint16_t shadow = vsc_raw_avail_idx(d, vq), slot, head;
	unsigned int num = vsc_vq_size(d, vq);
	struct fcase *c;

	if (vq == VSC_VQ_EVT || !vsc_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC) ||
	    vsc_ioctl(d, VHOST_GET_VRING_BASE, &st))
		return false;
	slot = (uint16_t)st.num;
	if (slot == shadow)
		return false;
	if ((uint16_t)(shadow - slot) > num) {
		c = find_avail(true, 0);
		if (!c)
			return false;
		vsc_raw_set_avail_idx(d, vq, c->avail_slot);
		c->cured = true;
		return true;
	}
	head = vsc_raw_avail(d, vq)->ring[slot % num];
	if (head < num) {
		c = find_head(vq, head);
		if (!c)
			return false;
		/* refused again: a retry that read it half rewritten, say */
		if (c->rescued)
			return c->tries++ < 3;
		return filler(d, c, vq, head);
	}
	c = find_avail(false, slot);
	if (!c || !filler(d, c, vq, c->spare))
		return false;
	vsc_raw_track(d, vq, c->spare, &c->op, 1, &c->spare);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vsc_raw_put_avail(d, vq, slot, c->spare);
	c->cured = true;
	return true;
}

/* Handle the vq errors signalled since we last looked: true if one was cured. */
static bool vq_errors(struct vsc_dev *d)
{
	static const char *const vq_name[] = { "ctl", "evt", "req" };
	bool cured = false;
	unsigned int q;

	for (q = 0; q < 3; q++) {
		uint64_t e = vsc_vq_errors(d, q);

		if (e == B.seen[q])
			continue;
		B.seen[q] = e;
		if (B.broken[q])
			continue;
		B.errors++;
		outcome("vq-error:%s", vq_name[q]);
		if (!rescue(d, q)) {
			B.broken[q] = true;
			continue;
		}
		/* retries of the slot before it was put right are no news */
		B.seen[q] = vsc_vq_errors(d, q);
		B.rescues++;
		vsc_kick_force(d, q);
		cured = true;
	}
	return cured;
}

/*
 * Wait until @vq has @need free descriptors, kicking it and curing vq
 * errors meanwhile: a small ring fills long before a batch of 64 is
 * posted. False after stall_ns without progress, or on a broken vq.
 */
static bool make_room(struct vsc_dev *d, unsigned int vq, unsigned int need)
{
	uint64_t end = vsc_now_ns() + stall_ns, t0 = vsc_now_ns();

	if (vsc_free_descs(d, vq) >= need)
		return true;
	while (vsc_free_descs(d, vq) < need) {
		if (need > vsc_vq_size(d, vq) || B.broken[vq] || vsc_now_ns() > end)
			return false;
		vsc_kick_force(d, vq);
		if (vsc_reap_all_err(d, 10) > 0 || vq_errors(d))
			end = vsc_now_ns() + stall_ns;
	}
	tadd(T_ROOM, &t0);
	return true;
}

/*
 * K_AVAIL cases act after the rest of the batch is posted, one at a time:
 * the slot or index one spoils must be the last published, or putting it
 * right would mean moving the chains behind it.
 */
static bool apply_avail(struct vsc_dev *d)
{
	struct fcase *c = NULL;
	unsigned int k, num = vsc_vq_size(d, REQ);
	uint16_t slot;

	for (k = 0; k < B.n; k++) {
		if (B.cs[k]->kind != K_AVAIL)
			continue;
		if (B.cs[k]->applied && !B.cs[k]->cured)
			return false;
		if (!B.cs[k]->applied && !c)
			c = B.cs[k];
	}
	if (!c || B.broken[REQ] || !make_room(d, REQ, 1))
		return false;
	slot = vsc_raw_avail_idx(d, REQ);
	c->applied = true;
	c->avail_slot = slot;
	if (c->avail_jump) {
		vsc_raw_set_avail_idx(d, REQ, (uint16_t)(slot + num + 1 + c->avail_val));
	} else {
		vsc_raw_take(d, REQ, 1, &c->spare);
		vsc_raw_put_avail(d, REQ, slot, (uint16_t)(num + c->avail_val));
		vsc_raw_set_avail_idx(d, REQ, (uint16_t)(slot + 1));
	}
	vsc_kick_force(d, REQ);
	return true;
}

/* ------------------------------------------------------ coverage guidance */

/*
 * On a kernel with KCOV (the debug kernel) and --kcov, the fuzzer is
 * coverage-guided.  After each batch's checks its thread takes the module
 * edges the batch reached (kcov.c); the cases of a batch that reached new
 * ones join the corpus.  Then half of the new cases are corpus cases with a
 * splice: the same draws up to a random cut, fresh ones after it.  A corpus
 * file holds one case a line: "seed draws [cut:alt]...".  --corpus loads
 * one, --corpus-out appends what is found, --replay runs each case of a
 * file once (make check does, on every kernel).
 */
struct centry {
	struct ident id;
	uint32_t draws;
};

#define CORPUS_MAX	(1u << 16)
static struct centry *corpus;		/* guidance: corpus_mx */
static unsigned int ncorpus;
static pthread_mutex_t corpus_mx = PTHREAD_MUTEX_INITIALIZER;
static FILE *corpus_out;
static bool use_kcov;			/* --kcov */
static bool guided;			/* --kcov and KCOV works */
static const char *kcov_why;		/* why not, once */
static struct centry *replay;		/* --replay: iteration i is replay[i] */
static unsigned int nreplay;
static __thread struct kcov *kc;	/* the calling thread's coverage */

/* Identities of recent iterations, for the replays after a failure. */
#define IDRING 4096
static __thread struct {
	uint64_t seed, iter;
	struct ident id;
	bool used;
} idring[IDRING];

static bool ident_parse(const char *s, struct centry *e)
{
	char *end;

	memset(e, 0, sizeof(*e));
	e->id.seed = strtoull(s, &end, 0);
	if (end == s)
		return false;
	s = end;
	e->draws = (uint32_t)strtoul(s, &end, 0);
	if (end == s)
		return false;
	for (s = end; e->id.n < MAX_SPLICES; s = end) {
		unsigned long cut = strtoul(s, &end, 0);

		if (end == s || *end != ':' || (e->id.n && cut <= e->id.cut[e->id.n - 1]))
			break;
		e->id.cut[e->id.n] = (uint32_t)cut;
		s = end + 1;
		e->id.alt[e->id.n++] = strtoull(s, &end, 0);
	}
	return true;
}

static bool splices_parse(const char *s, struct ident *id)
{
	char *end;

	id->n = 0;
	while (*s && id->n < MAX_SPLICES) {
		id->cut[id->n] = (uint32_t)strtoul(s, &end, 0);
		if (*end != ':')
			return false;
		id->alt[id->n++] = strtoull(end + 1, &end, 0);
		if (*end && *end != ',')
			return false;
		s = *end ? end + 1 : end;
	}
	return !*s;
}

/* Reads a corpus file; the number of cases, or -errno. */
static int corpus_read(const char *path, struct centry **out)
{
	unsigned int n = 0, cap = 0;
	struct centry *v = NULL, e, *nv;
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f) && n < CORPUS_MAX) {
		if (line[0] == '#' || !ident_parse(line, &e))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = e;
	}
	fclose(f);
	*out = v;
	return (int)n;
}

static void corpus_add(const struct fcase *c)
{
	char sp[MAX_SPLICES * 34];
	unsigned int k;
	size_t o = 0;

	pthread_mutex_lock(&corpus_mx);
	if (ncorpus < CORPUS_MAX) {
		corpus[ncorpus].id = c->id;
		corpus[ncorpus++].draws = c->draws;
	}
	if (corpus_out) {
		sp[0] = 0;
		for (k = 0; k < c->id.n; k++)
			o += (size_t)snprintf(sp + o, sizeof(sp) - o, " %u:%llu", c->id.cut[k],
					      (unsigned long long)c->id.alt[k]);
		fprintf(corpus_out, "%llu %u%s\n", (unsigned long long)c->id.seed, c->draws, sp);
		fflush(corpus_out);
	}
	pthread_mutex_unlock(&corpus_mx);
}

/* A corpus case spliced at a random cut, its later draws from @base. */
static bool corpus_child(uint64_t base, struct ident *id)
{
	uint64_t x = base, v;
	struct centry e;
	uint32_t first;

	pthread_mutex_lock(&corpus_mx);
	if (!ncorpus) {
		pthread_mutex_unlock(&corpus_mx);
		return false;
	}
	e = corpus[splitmix(&x) % ncorpus];
	pthread_mutex_unlock(&corpus_mx);
	*id = e.id;
	v = splitmix(&x);
	/* a quarter cut anywhere (dropping the splices after it), else after the last */
	if ((v & 3) == 0 || id->n == MAX_SPLICES) {
		uint32_t cut = (uint32_t)((v >> 8) % (e.draws + 1ull));

		while (id->n && id->cut[id->n - 1] >= cut)
			id->n--;
		id->cut[id->n] = cut;
	} else {
		first = id->n ? id->cut[id->n - 1] + 1 : 0;
		id->cut[id->n] = first + (uint32_t)((v >> 8) % (e.draws >= first ?
							     e.draws - first + 1ull : 1));
	}
	id->alt[id->n++] = base;
	return true;
}

/* The identity of iteration @iter of @R: forced, replayed, recent, or new. */
static void ident_for(const struct run *R, uint64_t iter, struct ident *id)
{
	unsigned int slot = (unsigned int)(iter % IDRING);
	uint64_t base = case_seed(R->seed, iter), x = base;

	if (R->forced && iter == 0) {
		*id = R->force;
		return;
	}
	if (nreplay) {
		*id = replay[iter % nreplay].id;
		return;
	}
	if (idring[slot].used && idring[slot].seed == R->seed && idring[slot].iter == iter) {
		*id = idring[slot].id;
		return;
	}
	memset(id, 0, sizeof(*id));
	id->seed = base;
	if (guided && (splitmix(&x) & 1))
		corpus_child(splitmix(&x), id);
	idring[slot].seed = R->seed;
	idring[slot].iter = iter;
	idring[slot].id = *id;
	idring[slot].used = true;
}

/* The calling thread's coverage, before it opens its first device. */
static void kcov_start(void)
{
	static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
	char why[256];

	if (!use_kcov)
		return;
	kc = kcov_why ? NULL : kcov_open(why, sizeof(why));
	pthread_mutex_lock(&mx);
	if (!kc && !kcov_why)
		kcov_why = strdup(why);
	pthread_mutex_unlock(&mx);
}

/* After a batch's checks: its cases join the corpus if it reached new edges. */
static void kcov_batch(struct run *R, struct fcase **cs, unsigned int n)
{
	unsigned int k;

	if (!kc || R->shrinking || !kcov_collect(kc))
		return;
	R->newcov++;
	if (!guided)
		return;
	for (k = 0; k < n; k++)
		if (cs[k]->kind != K_HEALTH)
			corpus_add(cs[k]);
}

/* ------------------------------------------------------------ the batch */

static void gen_case(struct vsc_dev *d, struct fcase *c, const struct run *R, uint64_t iter)
{
	struct rng r;
	unsigned int w;

	/* a queue stopped at a refused chain idles until we look: look often */
	vq_errors(d);
	c->iter = iter;
	ident_for(R, iter, &c->id);
	c->seed = c->id.seed;
	rng_init(&r, c->seed, &c->id);
	w = below(&r, 100);
	c->kind = w < 55 ? K_SCSI : w < 70 ? K_RAW : w < 90 ? K_CTL : w < 97 ? K_EVT :
		  w < 98 ? K_AVAIL : K_LUNTOGGLE;
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
	case K_AVAIL:
		c->avail_jump = chance(&r, 50);
		c->avail_val = (uint16_t)(c->avail_jump ? below(&r, 1000) : below(&r, 60000));
		d_add(c, c->avail_jump ? "avail idx jump (+ring+1+%u)" :
		      "avail head out of range (ring+%u)", c->avail_val);
		c->must_answer = false;
		c->expect_vq_err = true;
		break;
	case K_LUNTOGGLE:
		lun_toggle_async();
		d_add(c, "lun %s", S->lun_wanted ? "link" : "unlink");
		c->must_answer = false;
		break;
	case K_HEALTH:	/* reports only */
		break;
	}
	if (!c->posted)
		c->must_answer = false;
	if (verbose)
		fprintf(stderr, "# %llu [%llu] %s %s\n", (unsigned long long)c->iter,
			(unsigned long long)c->seed, kind_name[c->kind], c->desc);
	if (chance(&r, 30))
		vsc_kick_force(d, c->vq);
	else
		vsc_kick(d, c->vq);	/* only if it went idle: a driver would */
	c->draws = r.draws;
}

/* anything the device still owes: answers, or a K_AVAIL case to act or be put right */
static bool pending(void)
{
	unsigned int k;

	for (k = 0; k < B.n; k++) {
		struct fcase *c = B.cs[k];

		if (c->kind == K_AVAIL) {
			if (!B.broken[REQ] && (!c->applied || !c->cured || c->op.inflight))
				return true;
		} else if (c->posted && c->kind != K_EVT && !c->op.done && !B.broken[c->vq]) {
			return true;
		}
	}
	return false;
}

/* collect: until nothing is pending, or stall_ns without progress */
static void collect(struct vsc_dev *d)
{
	uint64_t end = vsc_now_ns() + stall_ns;

	for (;;) {
		bool progress = vsc_reap_all_err(d, 50) > 0;

		progress |= vq_errors(d);
		progress |= apply_avail(d);
		if (progress)
			end = vsc_now_ns() + stall_ns;
		if (!pending() || vsc_now_ns() > end)
			break;
	}
	vq_errors(d);
}

/* event buffers posted by earlier batches that got an event since */
static int check_pend(struct run *R, struct vsc_dev *d)
{
	unsigned int k;
	int fails = 0;

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
	return fails;
}

/* The answer of a clean scsi case must hold a response if it has room for one. */
static int check_resp(struct run *R, struct fcase *c)
{
	struct virtio_scsi_cmd_resp rs;
	size_t room = gather_resp(c, &rs);
	char why[160];

	if (c->op.used_len && (room < RESP_SZ || c->op.used_len < RESP_SZ || rs.response == 0xcc)) {
		snprintf(why, sizeof(why), "used len %u but %s", c->op.used_len,
			 room < RESP_SZ ? "no room for a response" :
			 c->op.used_len < RESP_SZ ? "less than a response" : "no response written");
		report_fail(R, c, why);
		return 1;
	}
	if (!c->op.used_len && room >= RESP_SZ) {
		report_fail(R, c, "dropped (used len 0) with room for a response");
		return 1;
	}
	return 0;
}

/* One case after the batch: failures found */
static int check_case(struct run *R, struct vsc_dev *d, struct fcase *c)
{
	const char *bad;
	char why[160];

	if (c->kind == K_AVAIL || c->kind == K_LUNTOGGLE) {
		outcome("%s", kind_name[c->kind]);
		return 0;
	}
	if (!c->posted) {
		outcome("not-posted");
		return 0;
	}
	if (selftest_seed && c->seed == selftest_seed) {
		report_fail(R, c, "selftest failure (--selftest-fail-iter)");
		return 1;
	}
	if (!c->op.done) {
		/*
		 * Only a queue stopped at a chain no rescue could replace
		 * excuses a missing answer: behind a refused chain that was
		 * put right, the device owes every other one.
		 */
		if (B.broken[c->vq]) {
			outcome("%s:stuck-on-broken-vq", kind_name[c->kind]);
		} else if (c->must_answer) {
			outcome("%s:no-answer", kind_name[c->kind]);
			if (strcmp(module, "vhost_scsi")) {	/* upstream drops some: counted only */
				char why[80];

				snprintf(why, sizeof(why), "no answer within %.1f s on a queue that still works",
					 stall_ns / 1e9);
				report_fail(R, c, why);
				return 1;
			}
		}
		return 0;
	}
	bad = c_check(c);
	if (*bad) {
		report_fail(R, c, bad);
		return 1;
	}
	if (c->rescued) {	/* the answer is the filler's */
		outcome("%s:refused-then-filled", kind_name[c->kind]);
		return 0;
	}
	classify(d, c);
	if (c->op.used_len > c->writable) {
		snprintf(why, sizeof(why), "used len %u > %llu device-writable bytes",
			 c->op.used_len, (unsigned long long)c->writable);
		report_fail(R, c, why);
		return 1;
	}
	if (c->kind == K_SCSI && strcmp(module, "vhost_scsi"))
		return check_resp(R, c);
	return 0;
}

/* Free the batch's cases; event buffers still posted stay for later events. */
static void drop_cases(struct vsc_dev *d, bool dev_alive)
{
	unsigned int k;

	for (k = 0; k < B.n; k++) {
		struct fcase *c = B.cs[k];

		if (dev_alive && c->kind == K_EVT && c->posted && !c->op.done && pend_add(c))
			continue;
		c_free(d, c, dev_alive && !c->op.inflight);
		free(c);
	}
	B.n = 0;
	if (!dev_alive)
		pend_drop_all();
}

static struct vsc_dev *reopen(struct run *R, struct vsc_dev *d, uint64_t seed)
{
	char why[256];

	dev_close(d);
	d = dev_open(seed, why, sizeof(why));
	R->reopen++;
	if (!d) {
		printf("FAILURE: cannot reopen the device: %s\n", why);
		R->failures++;
	}
	return d;
}

/* What a replay of a range of @R needs to run only @R's batches of it */
static const char *stride_opt(const struct run *R)
{
	static __thread char b[48];

	if (R->stride <= 1)
		return "";
	snprintf(b, sizeof(b), " --devices 1 --stride %u", R->stride);
	return b;
}

/* The health check failed: say which cases ran since the last good one. */
static void report_health(struct run *R, uint64_t first, uint64_t n, uint64_t bseed,
			  const char *why)
{
	struct fcase hc = { .iter = first + n - 1, .seed = case_seed(R->seed, first + n - 1),
			    .kind = K_HEALTH };
	char msg[400];

	snprintf(hc.desc, sizeof(hc.desc), "(after iterations %llu..%llu; see the range line)",
		 (unsigned long long)first, (unsigned long long)(first + n - 1));
	snprintf(msg, sizeof(msg), "health check failed: %s", why);
	flockfile(stdout);	/* the range line right below, whatever other devices print */
	report_fail(R, &hc, msg);
	printf("  range: vsc-fuzz --module %s --seed %llu --start %llu --iterations %llu "
	       "--batch %u --dev-seed %llu%s\n", module, (unsigned long long)R->seed,
	       (unsigned long long)first, (unsigned long long)n, R->batch,
	       (unsigned long long)bseed, stride_opt(R));
	funlockfile(stdout);
}

/*
 * The health check for the iterations since the last one (up to @end), on
 * the device they ran on (@alive) or on the one that replaced it. 1 if it
 * fails: the range is kept for shrinking, and the device replaced.
 */
static int check_health(struct run *R, struct vsc_dev **dp, bool alive, uint64_t end)
{
	struct vsc_dev *d = *dp;
	uint64_t t0 = vsc_now_ns();
	char why[256];
	bool hok;

	hok = health(d, why, sizeof(why));
	if (!hok && alive && (vsc_vq_errors(d, REQ) > B.seen[REQ] ||
			      vsc_vq_errors(d, VSC_VQ_CTL) > B.seen[VSC_VQ_CTL])) {
		/* the vhost core stopped a queue after we looked: legitimate, reopen */
		outcome("late-vq-error");
		pend_drop_all();
		*dp = d = reopen(R, d, R->seed + end + 2);
		if (!d)
			return 0;
		hok = health(d, why, sizeof(why));
	}
	R->hfailed = !hok;
	if (!hok) {
		report_health(R, R->hfirst, end - R->hfirst, R->hseed, why);
		R->hfail_first = R->hfirst;
		R->hfail_n = end - R->hfirst;
		R->hfail_seed = R->hseed;
		pend_drop_all();
		*dp = reopen(R, d, R->seed + end + 1);
	}
	R->hfirst = R->next;
	R->hseed = cur_dev_seed;
	R->unchecked = 0;
	tadd(T_HEALTH, &t0);
	return !hok;
}

/* One batch, and the health check if @health (or the device had to go). */
static int run_batch(struct run *R, struct vsc_dev **dp, uint64_t first, unsigned int n,
		     unsigned int *taken, bool health)
{
	struct vsc_dev *d = *dp;
	bool alive = true;
	unsigned int k, q;
	int fails = 0;
	uint64_t t0 = vsc_now_ns();

	memset(&B, 0, sizeof(B));
	B.cs = calloc(n, sizeof(*B.cs));
	if (!B.cs)
		return -1;
	for (q = 0; q < 3; q++)
		B.seen[q] = vsc_vq_errors(d, q);
	for (k = 0; k < n; k++) {
		B.cs[k] = malloc(sizeof(*B.cs[k]));	/* 9 KiB: calloc would rep stosb */
		if (!B.cs[k])
			break;
		fill(B.cs[k], 0, sizeof(*B.cs[k]));
		B.n++;
		gen_case(d, B.cs[k], R, first + k);
	}
	*taken = n = B.n;
	if (!n) {
		free(B.cs);
		return -1;
	}
	R->unchecked++;
	for (q = 0; q < 3; q++)
		vsc_kick_force(d, q);
	tadd(T_GEN, &t0);
	collect(d);
	lun_wait();
	tadd(T_COLLECT, &t0);

	fails += check_pend(R, d);
	for (k = 0; k < n; k++)
		fails += check_case(R, d, B.cs[k]);
	if (vsc_stray_used(d, REQ) || vsc_stray_used(d, VSC_VQ_CTL)) {
		report_fail(R, B.cs[0], "used entries for heads not in flight (stray)");
		fails++;
	}
	R->vqerr += B.errors;
	R->rescued += B.rescues;
	kcov_batch(R, B.cs, n);
	tadd(T_CHECK, &t0);

	if (B.broken[VSC_VQ_CTL] || B.broken[VSC_VQ_EVT] || B.broken[REQ] || fails ||
	    any_stuck()) {
		/* a queue stopped at a chain we could not replace, or worse: new device */
		alive = false;
		drop_cases(d, false);
		*dp = d = reopen(R, d, R->seed + first);
		tadd(T_REOPEN, &t0);
		if (!d)
			goto out;
	} else {
		drop_cases(d, true);
	}
	if (health || !alive)
		fails += check_health(R, dp, alive, first + n);
out:
	free(B.cs);
	B.cs = NULL;
	return *dp ? fails : -1;
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
		struct run R2 = { .batch = 1, .shrinking = true, .hseed = dev_seed,
				  .forced = true };
		struct vsc_dev *d;
		int f;

		ident_for(R, first + k, &R2.force);
		R2.seed = R2.force.seed;
		d = dev_open(dev_seed, why, sizeof(why));
		if (!d)
			continue;
		watch(WATCHDOG_S);
		f = run_batch(&R2, &d, 0, 1, &t, true);
		watch(0);
		dev_close(d);
		cur_dev_seed = dev_seed;
		if (f > 0) {
			printf("shrink: minimal reproducer: vsc-fuzz --module %s --seed %llu%s "
			       "--iterations 1 --dev-seed %llu (iteration %llu of seed %llu fails "
			       "alone)\n", module, (unsigned long long)R2.seed,
			       splices_opt(&R2.force), (unsigned long long)dev_seed,
			       (unsigned long long)(first + k), (unsigned long long)R->seed);
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

/*
 * Shrink a failing health check's range, which holds a few batches: replay
 * them one at a time on fresh devices (health checked after each), then the
 * cases of the first one that fails alone.
 */
static void shrink_range(struct run *R, uint64_t first, uint64_t n, uint64_t dev_seed)
{
	bool was_fixed = dev_seed_fixed;
	unsigned int t, m;
	uint64_t b;
	char why[256];

	printf("shrink: replaying the %llu iterations since the last good health check "
	       "batch by batch (dev seed %llu)\n", (unsigned long long)n,
	       (unsigned long long)dev_seed);
	dev_seed_fixed = true;
	/* this run's batches only: every stride-th from first */
	for (b = first; b < first + n; b += (uint64_t)R->stride * R->batch) {
		struct run R2 = { .seed = R->seed, .batch = R->batch, .shrinking = true,
				  .stride = 1, .hfirst = b, .hseed = dev_seed };
		struct vsc_dev *d;
		int f;

		m = (unsigned int)(first + n - b < R->batch ? first + n - b : R->batch);
		R2.next = b + m;
		cur_dev_seed = dev_seed;
		d = dev_open(dev_seed, why, sizeof(why));
		if (!d)
			continue;
		watch(WATCHDOG_S);
		f = run_batch(&R2, &d, b, m, &t, true);
		watch(0);
		dev_close(d);
		if (f > 0) {
			dev_seed_fixed = was_fixed;
			cur_dev_seed = dev_seed;
			shrink(R, b, m);
			return;
		}
	}
	dev_seed_fixed = was_fixed;
	printf("shrink: no batch fails alone; replay the range: vsc-fuzz --module %s --seed %llu "
	       "--start %llu --iterations %llu --batch %u --dev-seed %llu%s\n", module,
	       (unsigned long long)R->seed, (unsigned long long)first, (unsigned long long)n,
	       R->batch, (unsigned long long)dev_seed, stride_opt(R));
}

/*
 * A new device between batches: every @period (a device per batch, as
 * before, cost 130 ms a time; one every few seconds still tries ring
 * sizes and features), and whenever its arena is half handed out. Unless
 * --dev-seed pins the device, the next one is drawn anew. True if none
 * can be had.
 */
static bool rotation_due(struct vsc_dev *d, uint64_t born, uint64_t period)
{
	return vsc_arena_reserved(d) >= ARENA_RECYCLE ||
	       (!dev_seed_fixed && period && vsc_now_ns() - born >= period);
}

static bool rotate(struct run *R, struct vsc_dev **dp, uint64_t first, uint64_t *born)
{
	uint64_t t0 = vsc_now_ns();
	char why[256];

	pend_drop_all();
	dev_close(*dp);
	*dp = dev_open(R->seed + first, why, sizeof(why));
	*born = vsc_now_ns();
	R->hseed = cur_dev_seed;
	R->rotations++;
	tadd(T_ROTATE, &t0);
	if (!*dp) {
		printf("FAILURE: cannot open a new device: %s\n", why);
		R->failures++;
		return true;
	}
	return false;
}

/*
 * After the first failure: the endpoint allows one device, so this one goes
 * to the replays that look for the culprit (the cases of the batch, or of
 * every batch since the last good health check); then a new one.
 */
static struct vsc_dev *after_failure(struct run *R, struct vsc_dev *d, uint64_t first,
				     unsigned int n, uint64_t bseed)
{
	char why[256];

	pend_drop_all();
	dev_close(d);
	if (R->hfailed) {
		shrink_range(R, R->hfail_first, R->hfail_n, R->hfail_seed);
	} else {
		cur_dev_seed = bseed;
		shrink(R, first, n);
	}
	d = dev_open(R->seed + first + 1, why, sizeof(why));
	R->hfirst = R->next;
	R->hseed = cur_dev_seed;
	R->unchecked = 0;
	return d;
}

/* ----------------------------------------------------------- watchdog */

/*
 * A batch (or a replay) that takes more than WATCHDOG_S hangs: main()
 * looks at every thread's deadline (alarm() is one per process).
 */

static void watch(unsigned int s)
{
	__atomic_store_n(&S->deadline, s ? vsc_now_ns() + s * 1000000000ULL : 0,
			 __ATOMIC_RELAXED);
}

static void watchdog_fire(unsigned int k)
{
	printf("FAILURE: watchdog: a batch on device %u took more than %u s (hang)\n", k,
	       WATCHDOG_S);
	printf("FAIL: fuzz/watchdog\n");
	fflush(stdout);
	_exit(1);
}

/* ---------------------------------------------------------------- main */

static struct run opt;			/* the options, for every thread */
static uint64_t run_t0;			/* when the threads started */
static pthread_mutex_t merge_mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t merge_cv = PTHREAD_COND_INITIALIZER;
static unsigned int nfinished;
static struct run total;		/* the threads' counts, added up */
static uint64_t total_t_ns[T_N], total_t_cnt[T_N];
static struct outcome total_outcomes[MAX_OUTCOMES];

/* A thread's counts into the totals, once it is done. */
static void merge(const struct run *R)
{
	unsigned int k, j;

	pthread_mutex_lock(&merge_mx);
	total.done += R->done;
	total.batches += R->batches;
	total.failures += R->failures;
	total.reopen += R->reopen;
	total.vqerr += R->vqerr;
	total.rescued += R->rescued;
	total.rotations += R->rotations;
	total.newcov += R->newcov;
	for (k = 0; k < T_N; k++) {
		total_t_ns[k] += t_ns[k];
		total_t_cnt[k] += t_cnt[k];
	}
	for (k = 0; k < MAX_OUTCOMES && outcomes[k].name[0]; k++) {
		for (j = 0; j < MAX_OUTCOMES && total_outcomes[j].name[0]; j++)
			if (!strcmp(total_outcomes[j].name, outcomes[k].name))
				break;
		if (j == MAX_OUTCOMES)
			continue;
		if (!total_outcomes[j].name[0])
			strcpy(total_outcomes[j].name, outcomes[k].name);
		total_outcomes[j].n += outcomes[k].n;
	}
	nfinished++;
	pthread_cond_broadcast(&merge_cv);
	pthread_mutex_unlock(&merge_mx);
}

/*
 * One device's thread: its batches are every stride-th of the run's, on
 * devices of its own target, with health checks, rotation and the replays
 * after a failure as a single device always had them.
 */
static void *slot_main(void *arg)
{
	struct run R = opt;
	struct vsc_dev *d;
	uint64_t i, born, bseed, step;
	bool shrunk = false;
	unsigned int taken = 0;
	char why[256];
	int k;

	S = arg;
	R.slot = S->idx;
	kcov_start();
	dev_seed_fixed = opt_dev_seed_fixed;
	cur_dev_seed = opt_dev_seed;
	step = (uint64_t)R.stride * R.batch;
	i = R.start + (uint64_t)R.slot * R.batch;
	if (R.iters && i >= R.start + R.iters)
		goto done;	/* nothing for this one (a short run) */
	d = dev_open(R.seed + i, why, sizeof(why));
	if (!d || !health(d, why, sizeof(why))) {
		printf("FAIL: fuzz/seed-%llu: initial device %u: %s\n", (unsigned long long)R.seed,
		       R.slot, why);
		fflush(stdout);
		_exit(1);
	}
	born = vsc_now_ns();
	R.hfirst = R.next = i;
	R.hseed = cur_dev_seed;
	for (;; i += step) {
		unsigned int n = R.batch;
		bool last;

		if (R.iters && i >= R.start + R.iters)
			break;
		if (R.iters && i + n > R.start + R.iters)
			n = (unsigned int)(R.start + R.iters - i);
		/* at least one batch each, however long the devices took to come up */
		if (R.seconds && R.batches && (double)(vsc_now_ns() - run_t0) / 1e9 >= R.seconds)
			break;
		R.next = i;
		if (rotation_due(d, born, rotate_ns)) {
			/* the batches on this device get their health check first */
			if (R.unchecked && check_health(&R, &d, true, i) && d && !shrunk) {
				d = after_failure(&R, d, i, 0, cur_dev_seed);
				shrunk = true;
			}
			if (!d || rotate(&R, &d, i, &born))
				break;
		}
		last = R.iters && i + step >= R.start + R.iters;
		R.next = i + step;
		watch(WATCHDOG_S);
		bseed = cur_dev_seed;
		k = run_batch(&R, &d, i, n, &taken, last || R.unchecked + 1 >= HEALTH_EVERY);
		watch(0);
		n = taken;
		if (k > 0 && !shrunk && d) {
			d = after_failure(&R, d, i, n, bseed);
			shrunk = true;
		}
		R.done += n;
		R.batches++;
		if (k < 0 || !d)
			break;
	}
	/* the last batches' health check, if the run ended before theirs */
	if (d && R.unchecked && check_health(&R, &d, true, i) && d && !shrunk)
		d = after_failure(&R, d, i, 0, cur_dev_seed);
	if (d)
		vsc_close(d);
	lun_wait();
	if (S->lun_linked)
		toggle_lun(S);
done:
	kcov_close(kc);
	merge(&R);
	return NULL;
}

/*
 * Loads the corpus that guides (@in), opens the file new finds go to
 * (@out), and the cases to replay (@rep).  Guidance needs KCOV.  Non-zero
 * (after saying why) on a file that cannot be read.
 */
static int corpus_setup(const char *in, const char *out, const char *rep)
{
	struct centry *v;
	int n;

	guided = use_kcov && !access("/sys/kernel/debug/kcov", R_OK | W_OK);
	if (use_kcov) {
		char why[256];

		if (!guided)
			kcov_why = "no /sys/kernel/debug/kcov (kernel without KCOV?)";
		else if (kcov_init(module, why, sizeof(why)))
			kcov_why = strdup(why);
		guided = !kcov_why;
	}
	corpus = calloc(CORPUS_MAX, sizeof(*corpus));
	if (!corpus)
		return 1;
	if (in) {
		n = corpus_read(in, &v);
		if (n < 0) {
			fprintf(stderr, "vsc-fuzz: %s: %s\n", in, strerror(-n));
			return 1;
		}
		memcpy(corpus, v, (size_t)n * sizeof(*v));
		ncorpus = (unsigned int)n;
		free(v);
	}
	if (out && !(corpus_out = fopen(out, "a"))) {
		fprintf(stderr, "vsc-fuzz: %s: %s\n", out, strerror(errno));
		return 1;
	}
	if (rep) {
		n = corpus_read(rep, &replay);
		if (n <= 0) {
			fprintf(stderr, "vsc-fuzz: %s: %s\n", rep, n ? strerror(-n) : "no cases");
			return 1;
		}
		nreplay = (unsigned int)n;
	}
	return 0;
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
		{ "rotate-ms", required_argument, NULL, 'R' },
		{ "devices", required_argument, NULL, 'N' },
		{ "stride", required_argument, NULL, 'I' },
		{ "kcov", no_argument, NULL, 'K' },
		{ "corpus", required_argument, NULL, 'C' },
		{ "corpus-out", required_argument, NULL, 'O' },
		{ "replay", required_argument, NULL, 'P' },
		{ "splices", required_argument, NULL, 'L' },
		{ "stall-ms", required_argument, NULL, 'W' },
		{ 0 }
	};
	pthread_t th[MAX_DEVS];
	unsigned long long j_all, j_idle, j_all2, j_idle2;
	unsigned int ndev = DEFAULT_DEVS, stride = 0, started;
	struct rusage ru;
	const char *corpus_in = NULL, *corpus_path = NULL, *replay_path = NULL;
	bool fix = true, rotate_set = false;
	uint64_t selftest_iter = 0;
	double dt;
	int c, k;

	opt.seed = 1;
	opt.batch = 64;
	while ((c = getopt_long(argc, argv, "m:s:t:n:S:b:FvX:D:R:N:I:KC:O:P:L:W:", lo, NULL)) != -1) {
		switch (c) {
		case 'm': module = optarg; break;
		case 's': opt.seed = strtoull(optarg, NULL, 0); break;
		case 't': opt.seconds = atof(optarg); break;
		case 'n': opt.iters = strtoull(optarg, NULL, 0); break;
		case 'S': opt.start = strtoull(optarg, NULL, 0); break;
		case 'b': opt.batch = (unsigned int)atoi(optarg); break;
		case 'F': fix = false; break;
		case 'v': verbose = true; break;
		case 'D':
			opt_dev_seed = strtoull(optarg, NULL, 0);
			opt_dev_seed_fixed = true;
			break;
		case 'X': selftest_iter = strtoull(optarg, NULL, 0) + 1; break;
		case 'R':
			rotate_ns = strtoull(optarg, NULL, 0) * 1000000ULL;
			rotate_set = true;
			break;
		case 'N': ndev = (unsigned int)atoi(optarg); break;
		case 'W':
			stall_ns = strtoull(optarg, NULL, 0) * 1000000ULL;
			if (!stall_ns) {
				fprintf(stderr, "vsc-fuzz: --stall-ms must be at least 1\n");
				return 2;
			}
			break;
		case 'I': stride = (unsigned int)atoi(optarg); break;
		case 'K': use_kcov = true; break;
		case 'C': corpus_in = optarg; break;
		case 'O': corpus_path = optarg; break;
		case 'P': replay_path = optarg; break;
		case 'L':
			if (!splices_parse(optarg, &opt.force)) {
				fprintf(stderr, "vsc-fuzz: --splices CUT:ALT[,CUT:ALT...]\n");
				return 2;
			}
			opt.forced = true;
			break;
		default:
			fprintf(stderr, "usage: vsc-fuzz [--module M] --seed S (--seconds N | "
				"--iterations N) [--start I] [--batch B] [--dev-seed D] "
				"[--rotate-ms T] [--devices N] [--stride K] [--kcov] [--corpus F] "
				"[--corpus-out F] [--replay F] [--splices C:A,...] [--stall-ms T] "
				"[-v]\n");
			return 2;
		}
	}
	opt.force.seed = opt.seed;
	if (corpus_setup(corpus_in, corpus_path, replay_path))
		return 2;
	if (nreplay && !opt.iters && !opt.seconds)
		opt.iters = nreplay;
	if (selftest_iter)
		selftest_seed = case_seed(opt.seed, selftest_iter - 1);
	if (!opt.seconds && !opt.iters)
		opt.iters = 1000;
	if (!opt.batch)
		opt.batch = 1;
	if (ndev < 1 || ndev > MAX_DEVS) {
		fprintf(stderr, "vsc-fuzz: --devices 1..%d\n", MAX_DEVS);
		return 2;
	}
	/* a run of one batch needs one device; more would idle */
	if (opt.iters && opt.iters <= opt.batch)
		ndev = 1;
	opt.stride = stride > ndev ? stride : ndev;
	/*
	 * Each device is replaced every ndev * ROTATE_MS: the run meets a new
	 * device every ROTATE_MS, as it did with one, and N devices do not pay
	 * N times the reopening (~130 ms each).
	 */
	if (!rotate_set)
		rotate_ns = (uint64_t)ndev * ROTATE_MS * 1000000ULL;
	nslots = ndev;
	for (k = 0; k < (int)nslots; k++)
		slot_init(&slots[k], (unsigned int)k);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * A batch's cases (9 KiB each) are freed together, and glibc gave the
	 * top of the heap back to the kernel after every batch: ~120 pages a
	 * batch faulted in again, 24 us each under TCG. Keep them.
	 */
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	if (fix && (k = fixture())) {
		printf("FAIL: fuzz/seed-%llu: fixture: %d\n", (unsigned long long)opt.seed, k);
		return 1;
	}
	cpu_jiffies(&j_all, &j_idle);
	run_t0 = vsc_now_ns();
	for (started = 0; started < nslots; started++)
		if (pthread_create(&th[started], NULL, slot_main, &slots[started]))
			break;
	if (!started) {
		printf("FAIL: fuzz/seed-%llu: no thread\n", (unsigned long long)opt.seed);
		return 1;
	}
	/* the watchdog, until every thread is done */
	pthread_mutex_lock(&merge_mx);
	while (nfinished < started) {
		struct timespec ts;
		uint64_t now = vsc_now_ns();

		for (k = 0; k < (int)started; k++) {
			uint64_t dl = __atomic_load_n(&slots[k].deadline, __ATOMIC_RELAXED);

			if (dl && now > dl)
				watchdog_fire((unsigned int)k);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&merge_cv, &merge_mx, &ts);
	}
	pthread_mutex_unlock(&merge_mx);
	for (k = 0; k < (int)started; k++)
		pthread_join(th[k], NULL);
	dt = (double)(vsc_now_ns() - run_t0) / 1e9;
	cpu_jiffies(&j_all2, &j_idle2);
	getrusage(RUSAGE_SELF, &ru);
	if (fix)
		vsc_tgt_teardown_all(false);

	printf("fuzz: module %s seed %llu: %llu iterations in %llu batches on %u devices at "
	       "once, %.1f s, %.1f it/s; %llu vq errors, %llu reopens, %llu failures; "
	       "%llu vq errors cured in place, %llu devices rotated\n", module,
	       (unsigned long long)opt.seed, (unsigned long long)total.done,
	       (unsigned long long)total.batches, started, dt,
	       dt > 0 ? (double)total.done / dt : 0.0,
	       (unsigned long long)total.vqerr, (unsigned long long)total.reopen,
	       (unsigned long long)total.failures, (unsigned long long)total.rescued,
	       (unsigned long long)total.rotations);
	printf("fuzz: time (added up over the devices' threads):");
	for (k = 0; k < T_N; k++)
		printf(" %s %.2f s/%llu", t_name[k], (double)total_t_ns[k] / 1e9,
		       (unsigned long long)total_t_cnt[k]);
	printf("; machine idle %.0f%%, fuzzer user %.1f s sys %.1f s",
	       j_all2 > j_all ? 100.0 * (double)(j_idle2 - j_idle) / (double)(j_all2 - j_all) : 0.0,
	       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	printf("\n");
	for (k = 0; k < MAX_OUTCOMES && total_outcomes[k].name[0]; k++)
		;
	if (use_kcov && kcov_why)
		printf("fuzz: coverage: none (%s)\n", kcov_why);
	else if (use_kcov)
		printf("fuzz: coverage: %u module edges; %llu batches reached new ones; corpus "
		       "%u cases\n", kcov_edges(), (unsigned long long)total.newcov, ncorpus);
	printf("fuzz: %d distinct outcomes:", k);
	for (c = 0; c < k; c++)
		printf(" %s=%lu", total_outcomes[c].name, total_outcomes[c].n);
	printf("\n");
	if (!total.done)
		printf("FAIL: fuzz/seed-%llu: no case ran\n", (unsigned long long)opt.seed);
	else if (total.failures)
		printf("FAIL: fuzz/seed-%llu: %llu failures (see FAILURE lines)\n",
		       (unsigned long long)opt.seed, (unsigned long long)total.failures);
	else
		printf("PASS: fuzz/seed-%llu\n", (unsigned long long)opt.seed);
	return total.failures || !total.done ? 1 : 0;
}
