// SPDX-License-Identifier: GPL-2.0
/*
 * Faults: backend I/O errors (a dm "error" window swapped in under I/O,
 * backend_errors_reach_the_guest, at the end), and allocation failures,
 * through the kernel's fault injection (failslab and fail_page_alloc; only
 * the debug kernel of make check-debug has them, elsewhere these tests are
 * skipped):
 *  - each allocation of open(2) and of SET_ENDPOINT fails in turn
 *    (/proc/thread-self/fail-nth);
 *  - allocations of the threads that serve the device fail at random
 *    (make-it-fail) while it serves commands and TMFs.
 * Every command must still be answered, the device must work once the
 * faults stop, and kmemleak finds nothing at the end of the VM.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bi.h"

#define FAIL_NTH "/proc/thread-self/fail-nth"
#define FAULT_DIRS 2
#define FAULT_ATTRS_MAX 6
/* More than a setup step makes: one still failing there stops the test. */
#define MAX_NTH 2000
#define NELEM(a) (int)(sizeof(a) / sizeof((a)[0]))

static const char *const fault_dirs[FAULT_DIRS] = {
	"/sys/kernel/debug/failslab", "/sys/kernel/debug/fail_page_alloc",
};

struct fault_attr_val {
	const char *attr, *val;
};

/* The attributes changed, and their values before. */
struct fault_saved {
	char path[FAULT_DIRS * FAULT_ATTRS_MAX][96];
	char old[FAULT_DIRS * FAULT_ATTRS_MAX][32];
	int n;
};

/* A one-line attribute without its newline. */
static int read_small(const char *path, char *buf, size_t len)
{
	int r = vsc_cfs_read(path, buf, len);

	if (!r)
		buf[strcspn(buf, "\n")] = 0;
	return r;
}

/* Set @n attributes of both fault kinds, keeping the old values in @s. */
static bool faults_set(struct fault_saved *s, const struct fault_attr_val *av, int n)
{
	int i, a;

	s->n = 0;
	for (i = 0; i < FAULT_DIRS; i++)
		for (a = 0; a < n && a < FAULT_ATTRS_MAX; a++) {
			char *p = s->path[s->n];

			snprintf(p, sizeof(s->path[0]), "%s/%s", fault_dirs[i], av[a].attr);
			if (read_small(p, s->old[s->n], sizeof(s->old[0])))
				return false;
			s->n++;
			if (vsc_cfs_write(p, av[a].val))
				return false;
		}
	return true;
}

static void faults_restore(struct fault_saved *s)
{
	while (s->n--)
		vsc_cfs_write(s->path[s->n], s->old[s->n]);
}

static bool faults_offered(void)
{
	return !access(FAIL_NTH, W_OK) && !access(fault_dirs[0], F_OK) &&
	       !access(fault_dirs[1], F_OK);
}

/* GFP_KERNEL allocations may fail too (by default only atomic ones do). */
static const struct fault_attr_val fault_any_gfp[] = {
	{ "ignore-gfp-wait", "N" }, { "verbose", "0" },
};

/* Arm fail-nth for this thread's @nth next allocation. */
static bool nth_arm(unsigned int nth)
{
	char arm[16];

	snprintf(arm, sizeof(arm), "%u", nth);
	if (!vsc_cfs_write(FAIL_NTH, arm))
		return true;
	vt_fail(0, "cannot write %s", FAIL_NTH);
	return false;
}

/* Disarm; true if the armed failure was injected. */
static bool nth_injected(void)
{
	char left[16] = "";

	read_small(FAIL_NTH, left, sizeof(left));
	vsc_cfs_write(FAIL_NTH, "0");
	return !strcmp(left, "0");
}

/* Setup steps whose allocations fail in turn. */
enum fault_step { STEP_OPEN, STEP_ENDPOINT };

/*
 * @step with its @nth allocation failing: open(2) of the device, or
 * SET_ENDPOINT on a device set up without faults.  Either it fails
 * cleanly, or the device then serves I/O.  Sets *@injected, counts in
 * @refused / @served.
 */
static bool step_with_fault(enum fault_step step, unsigned int nth, bool *injected,
			    unsigned int *refused, unsigned int *served)
{
	struct vsc_opts o = bi_opts(64, 0);
	struct vsc_dev *d;
	bool ok = true;
	int fd, r;

	*injected = false;
	if (step == STEP_OPEN) {
		if (!nth_arm(nth))
			return false;
		fd = open("/dev/vhost-scsi", O_RDWR | O_CLOEXEC);
		*injected = nth_injected();
		if (fd >= 0)
			close(fd);
		*refused += fd < 0;
		*served += fd >= 0;
		return true;
	}
	d = bi_open(&o);
	if (!d || !nth_arm(nth)) {
		bi_close(d);
		return false;
	}
	r = vsc_set_endpoint(d, BI_WWPN_A);
	*injected = nth_injected();
	if (!r)
		ok = bi_healthy(d, "a device whose SET_ENDPOINT survived a failed allocation");
	*refused += r != 0;
	*served += r == 0;
	bi_close(d);
	return ok;
}

/* Every allocation of @step fails in turn, for at most 240 s. */
static void alloc_faults(enum fault_step step, const char *what)
{
	unsigned int nth, refused = 0, served = 0;
	uint64_t end = vsc_now_ns() + 240ULL * 1000000000;
	struct fault_saved saved;
	bool injected = true, ok;
	struct vsc_dev *d;

	if (!faults_offered())
		SKIP("no fault injection in this kernel (make check-debug has it)");
	vt_alarm(400);
	ok = faults_set(&saved, fault_any_gfp, NELEM(fault_any_gfp));
	for (nth = 1; ok && injected && nth <= MAX_NTH && vsc_now_ns() < end; nth++)
		ok = step_with_fault(step, nth, &injected, &refused, &served);
	faults_restore(&saved);
	ASSERT(ok, "%s with allocation %u failing: the device then failed", what, nth - 1);
	vt_note("%s: %u allocations failed in turn%s; refused %u, served anyway %u", what,
		nth - 1 - !injected, injected ? " (stopped: time)" : "", refused, served);
	ASSERT(nth > 3, "%s made %u allocations: fault injection did not reach it", what, nth - 1);
	d = bi_open_ep(NULL, BI_WWPN_A);
	ASSERT(d, "a device after the faults");
	ASSERT(bi_healthy(d, "after the faults"), "unhealthy after the faults");
	bi_close(d);
}

VT_TEST(NULL, open_alloc_faults)
{
	alloc_faults(STEP_OPEN, "open");
}

VT_TEST(NULL, endpoint_alloc_faults)
{
	alloc_faults(STEP_ENDPOINT, "SET_ENDPOINT");
}

/*
 * Mark (@val "1") or unmark the threads that serve this process's devices
 * for fault injection: the vhost worker (vhost-PID, in this thread group
 * from 6.4 on, a kthread before) and tcm_vhost's threads (vhost-PID-*).
 * Returns how many were found.
 */
static int mark_threads(const char *val)
{
	static const char *const dirs[] = { "/proc", "/proc/self/task" };
	char want[32], path[320], comm[32];
	struct dirent *de;
	size_t len;
	int i, n = 0;

	len = snprintf(want, sizeof(want), "vhost-%d", getpid());
	for (i = 0; i < 2; i++) {
		DIR *dir = opendir(dirs[i]);

		while (dir && (de = readdir(dir))) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			snprintf(path, sizeof(path), "%s/%s/comm", dirs[i], de->d_name);
			if (read_small(path, comm, sizeof(comm)) || strncmp(comm, want, len) ||
			    (comm[len] && comm[len] != '-'))
				continue;
			snprintf(path, sizeof(path), "%s/%s/make-it-fail", dirs[i], de->d_name);
			n += !vsc_cfs_write(path, val);
		}
		if (dir)
			closedir(dir);
	}
	return n;
}

/* One command or TMF of the mix; true if it was answered. */
static bool io_one(struct vsc_dev *d, unsigned int k, uint8_t *buf, unsigned int *good)
{
	struct vsc_result res;
	uint8_t cdb[16];
	struct vsc_ctl c;
	unsigned int len;
	int r;

	if (k % 4 == 3) {
		vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_ABORT_TASK, BI_TGT, BI_LUN_RD, 0x5a5a + k);
		r = vsc_ctl_sync(d, &c, BI_TMO);
		*good += !r && c.response == VIRTIO_SCSI_S_OK;	/* FUNCTION COMPLETE */
		return !r;
	}
	/* 1 MiB (more pages than inline_sg: the command allocates) or 4 KiB */
	len = k % 4 == 2 ? 4096 : 1 << 20;
	vsc_cdb_rw(cdb, k % 4 == 0, 16, 0, len / 512);
	r = vsc_cmd(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, cdb, 16, k % 4 ? NULL : buf,
		    k % 4 ? 0 : len, k % 4 ? buf : NULL, k % 4 ? len : 0, &res, BI_TMO);
	*good += !r && res.response == VIRTIO_SCSI_S_OK && res.status == 0;
	return !r;
}

/* Faults set on the serving threads: 10% of their allocations fail. */
static const struct fault_attr_val fault_threads[] = {
	{ "ignore-gfp-wait", "N" }, { "verbose", "0" }, { "task-filter", "Y" },
	{ "interval", "1" }, { "times", "-1" }, { "probability", "10" },
};

VT_TEST(NULL, io_alloc_faults)
{
	static uint8_t buf[1 << 20];
	struct fault_saved saved;
	unsigned int k, good = 0, rounds = 400;
	struct vsc_dev *d;
	bool ok;
	int marked;

	if (!faults_offered())
		SKIP("no fault injection in this kernel (make check-debug has it)");
	vt_alarm(300);
	d = bi_open_ep(NULL, BI_WWPN_A);
	ASSERT(d, "open");
	ASSERT(bi_healthy(d, "before the faults"), "unhealthy before the faults");
	vt_fill(buf, sizeof(buf));
	ok = faults_set(&saved, fault_threads, NELEM(fault_threads));
	marked = ok ? mark_threads("1") : 0;
	for (k = 0; ok && marked && k < rounds; k++)
		ok = io_one(d, k, buf, &good);
	mark_threads("0");
	faults_restore(&saved);
	ASSERT(marked, "no thread serving this process's device found");
	ASSERT(ok, "command %u of the mix not answered while allocations failed", k);
	vt_note("%d threads with faults; %u of %u commands and TMFs answered as without faults",
		marked, good, rounds);
	ASSERT(good < rounds, "no answer showed a failed allocation: the faults did not reach the module");
	ASSERT(bi_healthy(d, "after the faults"), "unhealthy after the faults");
	bi_close(d);
	d = bi_open_ep(NULL, BI_WWPN_A);
	ASSERT(d && bi_healthy(d, "a fresh device after the faults"), "fresh device unhealthy");
	bi_close(d);
}

/*
 * Backend I/O errors.  The LUN is an iblock backstore on a dm device (a
 * linear map of a loop file); while a client keeps EW_SLOTS 64 KiB WRITEs
 * in flight, the table is swapped for one with an "error" segment (the
 * window), and later back.  Each swap suspends the device first and posts
 * a full set of WRITEs that the suspended device holds, so those are in
 * flight when the table changes (and are mapped by the new one).
 *
 * target_core answers a command whose bio failed with CHECK CONDITION,
 * NOT READY, LOGICAL UNIT COMMUNICATION FAILURE (08/00): iblock_bio_done()
 * counts the error, iblock_complete_cmd() completes with
 * SAM_STAT_CHECK_CONDITION, target_complete_cmd() turns that into
 * TCM_LOGICAL_UNIT_COMMUNICATION_FAILURE, whose sense is NOT READY 08/00
 * (target_core_transport.c's sense_info_table, 6.1 and 6.12 alike).
 *
 * Checked: every WRITE and READ that touches the window while the error
 * table is live gets that answer, every one outside it GOOD (a WRITE in
 * flight at a swap may get either); every chunk whose last WRITE was
 * answered GOOD reads back as written once the window is gone; the device
 * and the fabric serve normally afterwards.
 */
#define REQ			VSC_VQ_REQ(0)
#define NOT_READY		0x02
#define ASC_LU_COMM_FAILURE	0x08

#define EW_CHUNK	128			/* sectors one pumped WRITE covers: 64 KiB */
#define EW_NCHUNK	(BI_ERR_SECTORS / EW_CHUNK)
#define EW_WIN		4096			/* the window: sectors [4096, 8192) */
#define EW_WLEN		4096
#define EW_W0		(EW_WIN / EW_CHUNK)		/* its first chunk */
#define EW_W1		((EW_WIN + EW_WLEN) / EW_CHUNK)	/* the chunk after it */
#define EW_SLOTS	16
#define EW_LEN		(EW_CHUNK * 512)

enum ew_expect { EW_GOOD, EW_CC, EW_ANY };

struct ew_slot {
	struct vsc_req q;
	bool busy;
	unsigned int chunk;
	uint32_t gen;
	enum ew_expect expect;
};

struct ew {
	struct vsc_dev *d;
	struct ew_slot s[EW_SLOTS];
	bool chunk_busy[EW_NCHUNK];
	int64_t known[EW_NCHUNK];	/* generation last answered GOOD; -1: undefined */
	uint32_t gen;
	uint64_t seed;
	bool err_live;			/* the table that maps a WRITE posted now */
	unsigned int answered, good, cc, cc_win_held, any;
	uint8_t buf[EW_LEN], rbuf[EW_LEN];
};

static bool ew_in_window(unsigned int chunk)
{
	return chunk >= EW_W0 && chunk < EW_W1;
}

/* What generation @gen of @chunk holds: 64 KiB from a seed of both. */
static void ew_pattern(const struct ew *e, uint8_t *p, unsigned int chunk, uint32_t gen)
{
	uint64_t x = e->seed ^ ((uint64_t)chunk << 32) ^ gen;
	size_t i;

	for (i = 0; i < EW_LEN; i += 8) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		memcpy(p + i, &z, 8);
	}
	memcpy(p, &chunk, sizeof(chunk));	/* readable in a hexdump */
	memcpy(p + 4, &gen, sizeof(gen));
}

/* A chunk no WRITE is in flight on: in the window one time in three. */
static unsigned int ew_pick(struct ew *e, bool window)
{
	for (;;) {
		unsigned int c;

		if (window || vt_rand() % 3 == 0)
			/* not the window's first and last chunk: the probes use them */
			c = EW_W0 + 1 + vt_rand() % (EW_W1 - EW_W0 - 2);
		else
			do
				c = vt_rand() % EW_NCHUNK;
			while (c + 1 >= EW_W0 && c <= EW_W1);
		if (!e->chunk_busy[c])
			return c;
	}
}

static bool ew_submit(struct ew *e, struct ew_slot *s, unsigned int chunk)
{
	uint8_t cdb[16];
	int r;

	s->chunk = chunk;
	s->gen = ++e->gen;
	ew_pattern(e, e->buf, chunk, s->gen);
	vsc_req_init(e->d, &s->q, REQ, BI_TGT, BI_LUN_ERR, cdb,
		     vsc_cdb_rw(cdb, true, 16, (uint64_t)chunk * EW_CHUNK, EW_CHUNK));
	s->q.dout = e->buf;	/* copied at submit */
	s->q.dout_len = EW_LEN;
	r = vsc_req_submit(e->d, &s->q);
	CHECK(!r, "submit WRITE of chunk %u: %s", chunk, vt_errstr(r));
	s->expect = ew_in_window(chunk) && e->err_live ? EW_CC : EW_GOOD;
	s->busy = true;
	e->chunk_busy[chunk] = true;
	return true;
}

static bool ew_is_cc(const struct vsc_result *r)
{
	return r->response == VIRTIO_SCSI_S_OK && vt_sense_is(r, NOT_READY, ASC_LU_COMM_FAILURE) &&
	       r->ascq == 0;
}

/* Takes in the WRITEs answered so far. */
static bool ew_collect(struct ew *e)
{
	unsigned int k;

	for (k = 0; k < EW_SLOTS; k++) {
		struct ew_slot *s = &e->s[k];
		const struct vsc_result *r = &s->q.res;
		bool good, cc;

		if (!s->busy || !s->q.op.done)
			continue;
		good = r->response == VIRTIO_SCSI_S_OK && r->status == SAM_STAT_GOOD;
		cc = ew_is_cc(r);
		CHECK(!s->q.canary_err, "WRITE of chunk %u: guarded buffer damaged", s->chunk);
		CHECK(good || cc, "WRITE of chunk %u (%s the window): %s, want GOOD or CHECK CONDITION 2/08/00",
		      s->chunk, ew_in_window(s->chunk) ? "in" : "outside", vt_res(r));
		CHECK(!cc || s->expect != EW_GOOD,
		      "WRITE of chunk %u (%s the window, %s table) failed: %s", s->chunk,
		      ew_in_window(s->chunk) ? "in" : "outside", e->err_live ? "error" : "linear",
		      vt_res(r));
		CHECK(!good || s->expect != EW_CC,
		      "WRITE of chunk %u in the window answered GOOD while the error table was live",
		      s->chunk);
		e->known[s->chunk] = good ? (int64_t)s->gen : -1;
		e->good += good;
		e->cc += cc;
		e->any += s->expect == EW_ANY;
		e->answered++;
		vsc_req_release(e->d, &s->q);
		s->busy = false;
		e->chunk_busy[s->chunk] = false;
	}
	return true;
}

/* Fills every free slot (@window: with chunks of the window only), kicks. */
static bool ew_fill(struct ew *e, bool window)
{
	unsigned int k;

	for (k = 0; k < EW_SLOTS; k++)
		if (!e->s[k].busy && !ew_submit(e, &e->s[k], ew_pick(e, window && k % 2 == 0)))
			return false;
	vsc_kick_force(e->d, REQ);
	return true;
}

/* Keeps EW_SLOTS WRITEs in flight until @n more were answered. */
static bool ew_pump(struct ew *e, unsigned int n)
{
	unsigned int until = e->answered + n;

	while (e->answered < until) {
		int r;

		if (!ew_fill(e, false))
			return false;
		r = vsc_reap(e->d, REQ, BI_TMO);
		CHECK(r > 0, "no WRITE answered in %d ms (%s)", BI_TMO, r ? vt_errstr(r) : "none");
		if (!ew_collect(e))
			return false;
	}
	return true;
}

/* Waits for every WRITE in flight. */
static bool ew_drain(struct ew *e)
{
	unsigned int k, busy;

	do {
		int r = vsc_reap(e->d, REQ, BI_TMO);

		CHECK(r >= 0, "reap: %s", vt_errstr(r));
		if (!ew_collect(e))
			return false;
		for (busy = k = 0; k < EW_SLOTS; k++)
			busy += e->s[k].busy;
		CHECK(!busy || r > 0, "%u WRITEs not answered in %d ms", busy, BI_TMO);
	} while (busy);
	return true;
}

/*
 * Swap the table (@err: with the window) under WRITEs in flight: suspend,
 * post a full set (half of them to the window: the suspended device holds
 * them), load, resume.  *@held: commands unanswered when the table changed.
 */
static bool ew_switch(struct ew *e, bool err, unsigned int *held)
{
	unsigned int k, posted = 0;
	int r;

	CHECK(!bi_errdev_suspend(), "dmsetup suspend " BI_DM_ERR);
	/* in flight at the suspend: mapped by either table */
	for (k = 0; k < EW_SLOTS; k++)
		if (e->s[k].busy && ew_in_window(e->s[k].chunk))
			e->s[k].expect = EW_ANY;
	e->err_live = err;
	vsc_reap(e->d, REQ, 0);
	if (!ew_collect(e))
		return false;
	for (k = 0; k < EW_SLOTS; k++)
		posted += !e->s[k].busy;
	if (!ew_fill(e, true))
		return false;
	usleep(300000);
	*held = (uint16_t)(vsc_raw_avail_idx(e->d, REQ) - vsc_raw_used_idx(e->d, REQ));
	r = bi_errdev_load(err ? EW_WIN : 0, err ? EW_WLEN : 0);
	if (r) {
		bi_errdev_resume();
		CHECK(0, "dmsetup load (%s table): %s", err ? "error" : "linear", vt_errstr(r));
	}
	CHECK(!bi_errdev_resume(), "dmsetup resume " BI_DM_ERR);
	CHECK(*held >= posted && posted >= EW_SLOTS / 2,
	      "%u commands in flight at the table swap, %u posted while suspended", *held, posted);
	return true;
}

/*
 * One command to the LUN, answered as @want_cc says: CHECK CONDITION 2/08/00,
 * or GOOD.  @buf: data-out, or where data-in goes.
 */
static bool ew_probe(struct ew *e, bool write, uint64_t lba, uint32_t blocks, bool want_cc,
		     uint8_t *buf, const char *what)
{
	struct vsc_result res;
	uint8_t cdb[16];
	size_t len = (size_t)blocks * 512;
	int r;

	r = vsc_cmd(e->d, REQ, BI_TGT, BI_LUN_ERR, cdb, vsc_cdb_rw(cdb, write, 16, lba, blocks),
		    write ? buf : NULL, write ? len : 0, write ? NULL : buf, write ? 0 : len, &res,
		    BI_TMO);
	CHECK(!r, "%s %s: %s", write ? "WRITE" : "READ", what, vt_errstr(r));
	vt_note("%s %s (lba %llu, %u blocks): %s", write ? "WRITE" : "READ", what,
		(unsigned long long)lba, blocks, vt_res(&res));
	if (want_cc)
		CHECK(ew_is_cc(&res), "%s %s: %s, want CHECK CONDITION NOT READY 08/00",
		      write ? "WRITE" : "READ", what, vt_res(&res));
	else
		CHECK(res.response == VIRTIO_SCSI_S_OK && res.status == SAM_STAT_GOOD,
		      "%s %s: %s, want GOOD", write ? "WRITE" : "READ", what, vt_res(&res));
	return ew_collect(e);	/* the probe's wait took in pumped WRITEs too */
}

/* Probes while the error table is live (and WRITEs are in flight). */
static bool ew_probes(struct ew *e)
{
	uint8_t *w = e->buf, *r = e->rbuf;

	vt_fill(w, EW_LEN);
	if (!ew_probe(e, true, EW_WIN - 64, 128, true, w, "across the window's start") ||
	    !ew_probe(e, false, EW_WIN + EW_WLEN - 64, 128, true, r, "across the window's end") ||
	    !ew_probe(e, false, EW_WIN, 8, true, r, "inside the window") ||
	    !ew_probe(e, true, EW_WIN + 8, 8, true, w, "inside the window") ||
	    !ew_probe(e, false, EW_WIN - 8, 8, false, r, "just before the window") ||
	    !ew_probe(e, true, EW_WIN + EW_WLEN, 8, false, w, "just after the window"))
		return false;
	memset(r, 0, 8 * 512);
	if (!ew_probe(e, false, EW_WIN + EW_WLEN, 8, false, r, "just after the window"))
		return false;
	CHECK(!memcmp(w, r, 8 * 512), "the WRITE just after the window read back different data");
	/* the failed WRITEs left chunks EW_W0 - 1 and EW_W0 undefined; EW_W1 was rewritten */
	e->known[EW_W0 - 1] = e->known[EW_W0] = e->known[EW_W1] = -1;
	return true;
}

/* Every chunk whose last WRITE was answered GOOD reads back as written. */
static bool ew_verify(struct ew *e, unsigned int *checked, unsigned int *in_win)
{
	unsigned int c;

	*checked = *in_win = 0;
	for (c = 0; c < EW_NCHUNK; c++) {
		if (e->known[c] < 0)
			continue;
		memset(e->rbuf, 0, EW_LEN);
		CHECK(vt_rw(e->d, REQ, BI_TGT, BI_LUN_ERR, false, 16, (uint64_t)c * EW_CHUNK,
			    EW_CHUNK, e->rbuf, NULL), "READ of chunk %u: %s", c, vt_reason());
		ew_pattern(e, e->buf, c, (uint32_t)e->known[c]);
		CHECK(!memcmp(e->buf, e->rbuf, EW_LEN),
		      "chunk %u (%s the window): its last WRITE (generation %lld) was answered GOOD, it reads back other data (generation %u)",
		      c, ew_in_window(c) ? "in" : "outside", (long long)e->known[c],
		      *(uint32_t *)(e->rbuf + 4));
		(*checked)++;
		*in_win += ew_in_window(c);
	}
	return true;
}

VT_TEST(NULL, backend_errors_reach_the_guest)
{
	static struct ew e;
	unsigned int c, held_err, held_lin, checked, in_win, good_before;
	uint64_t t0 = vsc_now_ns();
	int r;

	vt_alarm(300);
	memset(&e, 0, sizeof(e));
	e.seed = vt_rand();
	r = bi_errdev_up();
	if (r)
		SKIP("no dm device on a loop file (%s)", vt_errstr(r));
	e.d = bi_open_ep(NULL, BI_WWPN_A);
	ASSERT(e.d, "open");
	if (!vt_clear_ua(e.d, BI_TGT, BI_LUN_ERR))
		return;
	/* every chunk written once, synchronously, with the linear table */
	for (c = 0; c < EW_NCHUNK; c++) {
		ew_pattern(&e, e.buf, c, ++e.gen);
		ASSERT(vt_rw(e.d, REQ, BI_TGT, BI_LUN_ERR, true, 16, (uint64_t)c * EW_CHUNK, EW_CHUNK,
			     e.buf, NULL), "initial WRITE of chunk %u: %s", c, vt_reason());
		e.known[c] = e.gen;
	}
	if (!ew_pump(&e, 48))
		return;
	ASSERT(e.cc == 0, "%u WRITEs failed with the linear table", e.cc);
	good_before = e.good;
	/* the window appears under WRITEs in flight */
	if (!ew_switch(&e, true, &held_err) || !ew_pump(&e, 48) || !ew_probes(&e) ||
	    !ew_pump(&e, 48))
		return;
	ASSERT(e.cc > 0, "no pumped WRITE failed while the window was live");
	/* and goes again */
	if (!ew_switch(&e, false, &held_lin) || !ew_pump(&e, 48) || !ew_drain(&e))
		return;
	if (!ew_verify(&e, &checked, &in_win))
		return;
	/* the window reads GOOD again */
	ASSERT(ew_probe(&e, false, EW_WIN - 64, 128, false, e.rbuf, "across the window's start, window gone"),
	       "window still failing");
	fprintf(stderr, "# backend_errors_reach_the_guest: %u pumped WRITEs: %u GOOD (%u before the window), "
		"%u CHECK CONDITION 2/08/00, %u in flight at a swap; in flight at the swaps: %u (to the error table), "
		"%u (back); %u chunks read back as last written (%u in the window); %llu ms\n",
		e.answered, e.good, good_before, e.cc, e.any, held_err, held_lin, checked, in_win,
		(unsigned long long)((vsc_now_ns() - t0) / 1000000));
	ASSERT(!vsc_canary_check_all(e.d), "guarded buffers damaged");
	ASSERT(bi_healthy(e.d, "after the error window"), "unhealthy after the error window");
	ASSERT(vt_clear_ua(e.d, BI_TGT, BI_LUN_ERR), "error-window LUN not GOOD afterwards");
	bi_close(e.d);
	bi_errdev_down();
	e.d = bi_open_ep(NULL, BI_WWPN_A);
	ASSERT(e.d && bi_healthy(e.d, "a fresh device after the error window"), "fresh device unhealthy");
}
