// SPDX-License-Identifier: GPL-2.0
/*
 * vsc-tmf: task management, asynchronous notification and hotplug event
 * tests of a vhost-scsi fabric module (tcm_vhost or Debian's vhost_scsi),
 * run inside L1 after the module is loaded (see tests/tmf/run.sh).
 *
 *   vsc-tmf --module tcm_vhost|vhost_scsi [--slowdev DEV]... [--filter SUBSTR]...
 *           [--list] [--keep] [-v]
 *
 * Commands are kept in flight by iblock backstores on slow block devices
 * (dm-delay, tests/tmf/slowdev.sh): LUN 0 and LUN 1 of the test TPG. LUN 2
 * is a fast rd_mcp LUN. Without --slowdev the tests that need commands in
 * flight are skipped.
 *
 * The program builds its own configfs fixture (WWPN below, tpgt 1 with a
 * nexus) and removes it at the end (unless --keep). Each test runs in a
 * child process with a watchdog, so one hung test does not stop the run.
 *
 * Output: "PASS: tmf/<name>", "FAIL: tmf/<name>: <reason>",
 * "SKIP: tmf/<name>: <reason>", "XFAIL: tmf/<name>: upstream differs: <what>"
 * (only with --module vhost_scsi), "# ..." notes, and the final line
 * "N passed, N failed, N skipped, N xfail" (tests/client/vtest.h). Exit
 * status 1 if any test failed.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libvsc.h"
#include "vtest.h"

#define WWPN		"naa.5001405c0ffee001"
#define INITIATOR	"naa.5001405c0ffee0ff"
#define TPGT		1
#define TGT		1		/* the target byte selects the tpgt */
#define BAD_TGT		9
#define BAD_LUN		77
#define HBA_IB		"iblock_231"
#define HBA_RD		"rd_mcp_231"
#define LUN_SLOW0	0
#define LUN_SLOW1	1
#define LUN_FAST	2
#define HP_LUN0		10		/* hotplug LUNs 10.. */
#define HP_NUM		6
#define HP_BIG_LUN	16384		/* past the 14-bit event LUN field */
#define BS		512
#define PAT_BLOCKS	2048		/* LBAs 0..2047 hold a known pattern */
#define WR_LBA		4096		/* in-flight writes go here */
#define VERIFY_LBA	8192		/* write+read-verify after a TMF */
#define TMO		20000		/* ms: any single answer */
#define TEST_TMO	120		/* s: one whole test (watchdog) */

/* virtio-scsi TMF answers (FUNCTION_COMPLETE shares OK's value) */
#define S_COMPLETE	VIRTIO_SCSI_S_OK
#define S_SUCCEEDED	VIRTIO_SCSI_S_FUNCTION_SUCCEEDED
#define S_REJECTED	VIRTIO_SCSI_S_FUNCTION_REJECTED

static const char *slowdev[2];
static unsigned int nslow;
static bool keep;

/* ------------------------------------------------------------ framework */

/*
 * Tests: VT_TEST_F(NULL, name, flags, how upstream differs), run in this file's
 * order, each in a child process.  TMF_SLOW: needs commands in flight (slow
 * backstores); VT_F_BEYOND: a FAIL on vhost_scsi is XFAIL.
 */
#define TMF_SLOW	VT_F_PROG1
#define UP_ABORT "upstream 6.1 answers every TMF but LOGICAL_UNIT_RESET FUNCTION_REJECTED"

/* A note on stdout, whatever -v says. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	printf("# %s: ", vt_name());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static const char *resp_name(uint8_t r)
{
	static char buf[4][40];
	static unsigned int k;
	char *b = buf[k++ % 4];

	snprintf(b, 40, "%s(%u)", vsc_response_name(r), r);
	return b;
}

/* ----------------------------------------------------------- devices */

/* A device offering @features (within VSC_FEATURES_ALL), endpoint set. */
static struct vsc_dev *open_dev_features(uint64_t features)
{
	struct vsc_opts o = {
		.ring_size = 256,
		.num_req_queues = 2,
		.features = features,
	};
	bool hotplug = features & VSC_F(VIRTIO_SCSI_F_HOTPLUG);
	struct vsc_dev *d = vsc_open(&o);
	int r;

	if (!d) {
		FAIL("vsc_open: %s", vt_errstr(-errno));
		return NULL;
	}
	if (hotplug && !vsc_has_feature(d, VIRTIO_SCSI_F_HOTPLUG)) {
		vt_skip("the device does not offer VIRTIO_SCSI_F_HOTPLUG");
		vsc_close(d);
		return NULL;
	}
	r = vsc_set_endpoint(d, WWPN);
	if (r) {
		FAIL("SET_ENDPOINT %s: %s", WWPN, vt_errstr(r));
		vsc_close(d);
		return NULL;
	}
	return d;
}

static struct vsc_dev *open_dev(bool hotplug)
{
	return open_dev_features(hotplug ? VSC_FEATURES_ALL
					 : VSC_FEATURES_ALL & ~VSC_F(VIRTIO_SCSI_F_HOTPLUG));
}

static void close_dev(struct vsc_dev *d)
{
	if (!d)
		return;
	if (vsc_canary_check_all(d))
		FAIL("canary damaged in a device-writable buffer");
	vsc_close(d);
}

/* ---------------------------------------------------------- SCSI helpers */

/* The known content of LBA @lba of LUN @lun (LBAs below PAT_BLOCKS). */
static void pattern(uint8_t *p, uint16_t lun, uint64_t lba, uint32_t blocks)
{
	uint32_t b, w;

	for (b = 0; b < blocks; b++)
		for (w = 0; w < BS / 8; w++) {
			uint64_t v = 0x7a5e000000000000ULL | ((uint64_t)lun << 40) |
				     ((lba + b) << 8) | w;

			memcpy(p + (size_t)b * BS + w * 8, &v, 8);
		}
}

static bool good(const struct vsc_result *r)
{
	return r->response == VIRTIO_SCSI_S_OK && r->status == SAM_STAT_GOOD;
}

/* I/O continues: write random data, read it back, compare. */
static bool verify_rw(struct vsc_dev *d, uint16_t lun, uint64_t lba, uint32_t blocks)
{
	size_t len = (size_t)blocks * BS;
	uint8_t *w = malloc(len), *r = malloc(len);
	bool ok = false;

	if (!w || !r)
		goto out;
	vt_fill(w, len);
	memset(r, 0, len);
	if (!vt_clear_ua(d, TGT, lun) ||
	    !vt_rw(d, VSC_VQ_REQ(0), TGT, lun, true, 10, lba, blocks, w, NULL) ||
	    !vt_rw(d, VSC_VQ_REQ(0), TGT, lun, false, 10, lba, blocks, r, NULL))
		goto out;
	if (memcmp(w, r, len)) {
		FAIL("lun %u lba %llu: data read back differs from data written", lun,
		     (unsigned long long)lba);
		goto out;
	}
	ok = true;
out:
	free(w);
	free(r);
	return ok;
}

/* ----------------------------------------------- commands in flight */

struct flight {
	unsigned int n;
	struct vsc_req *r;
	uint16_t *lun;
	bool *is_read;
	uint64_t *lba;
	uint32_t *blocks;
	bool *affected;		/* the TMF may abort it */
	bool *before;		/* answered when the TMF's answer was seen */
	uint8_t **wbuf;
};

static void flight_free(struct vsc_dev *d, struct flight *f)
{
	unsigned int i;

	for (i = 0; i < f->n; i++) {
		vsc_req_release(d, &f->r[i]);
		free(f->wbuf[i]);
	}
	free(f->r);
	free(f->lun);
	free(f->is_read);
	free(f->lba);
	free(f->blocks);
	free(f->affected);
	free(f->before);
	free(f->wbuf);
	memset(f, 0, sizeof(*f));
}

static void flight_init(struct flight *f, unsigned int max)
{
	memset(f, 0, sizeof(*f));
	f->r = calloc(max, sizeof(*f->r));
	f->lun = calloc(max, sizeof(*f->lun));
	f->is_read = calloc(max, sizeof(*f->is_read));
	f->lba = calloc(max, sizeof(*f->lba));
	f->blocks = calloc(max, sizeof(*f->blocks));
	f->affected = calloc(max, sizeof(*f->affected));
	f->before = calloc(max, sizeof(*f->before));
	f->wbuf = calloc(max, sizeof(*f->wbuf));
	if (!f->r || !f->lun || !f->is_read || !f->lba || !f->blocks || !f->affected ||
	    !f->before || !f->wbuf) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
}

/* Adds one READ (of the pattern area) or WRITE (random data) and posts it. */
static int flight_add(struct vsc_dev *d, struct flight *f, unsigned int vq, uint16_t lun,
		      bool is_read, uint32_t blocks, uint64_t tag)
{
	unsigned int i = f->n;
	struct vsc_req *r = &f->r[i];
	uint8_t cdb[16];
	uint64_t lba;
	int e;

	if (is_read)
		lba = ((uint64_t)i * 67) % (PAT_BLOCKS - blocks);
	else
		lba = WR_LBA + (uint64_t)i * blocks;
	vsc_req_init(d, r, vq, TGT, lun, cdb, vsc_cdb_rw(cdb, !is_read, 10, lba, blocks));
	if (tag)
		r->tag = tag;
	if (is_read) {
		r->din_len = (size_t)blocks * BS;
	} else {
		f->wbuf[i] = malloc((size_t)blocks * BS);
		if (!f->wbuf[i])
			return -ENOMEM;
		vt_fill(f->wbuf[i], (size_t)blocks * BS);
		r->dout = f->wbuf[i];
		r->dout_len = (size_t)blocks * BS;
	}
	e = vsc_req_submit(d, r);
	if (e)
		return e;
	f->lun[i] = lun;
	f->is_read[i] = is_read;
	f->lba[i] = lba;
	f->blocks[i] = blocks;
	f->n++;
	return 0;
}

static void kick_all(struct vsc_dev *d)
{
	vsc_kick(d, VSC_VQ_REQ(0));
	vsc_kick(d, VSC_VQ_REQ(1));
}

/* Gives the device time to take the commands to the backstore. */
static void settle_ms(unsigned int ms)
{
	usleep(ms * 1000);
}

static unsigned int count_done(const struct flight *f)
{
	unsigned int i, n = 0;

	for (i = 0; i < f->n; i++)
		n += f->r[i].op.done;
	return n;
}

/*
 * Submits @c, kicks, and polls only the control queue until the answer is
 * there. Then looks at the request queues once (without waiting): what is
 * done now was on the used ring before the TMF's answer.
 */
static int tmf_run(struct vsc_dev *d, struct vsc_ctl *c, struct flight *f)
{
	uint64_t deadline = vsc_now_ns() + (uint64_t)TMO * 1000000;
	unsigned int i;
	int e;

	e = vsc_ctl_submit(d, c);
	if (e)
		return e;
	vsc_kick(d, VSC_VQ_CTL);
	while (!c->op.done) {
		if (vsc_now_ns() > deadline) {
			vsc_ctl_release(d, c);
			return -ETIMEDOUT;
		}
		e = vsc_reap(d, VSC_VQ_CTL, 100);
		if (e < 0)
			return e;
	}
	if (f) {
		vsc_reap(d, VSC_VQ_REQ(0), 0);
		vsc_reap(d, VSC_VQ_REQ(1), 0);
		for (i = 0; i < f->n; i++)
			f->before[i] = f->r[i].op.done;
	}
	e = c->canary_err;
	vsc_ctl_release(d, c);
	return e;
}

/*
 * Waits for every command, then checks each got exactly one answer:
 *  - an affected command (when @took_effect): ABORTED, or GOOD if it finished
 *    first, and in both cases on the used ring before the TMF's answer;
 *  - any other command: GOOD;
 *  - a GOOD READ returns the pattern.
 */
static bool flight_check(struct vsc_dev *d, struct flight *f, bool took_effect,
			 unsigned int *n_aborted, unsigned int *n_good)
{
	uint8_t *exp = NULL;
	unsigned int i, ab = 0, gd = 0;
	int e;

	e = vsc_drain(d, VSC_VQ_REQ(0), TMO);
	if (!e)
		e = vsc_drain(d, VSC_VQ_REQ(1), TMO);
	CHECK(!e, "%u of %u commands never answered (%u+%u in flight)", f->n - count_done(f),
	      f->n, vsc_inflight(d, VSC_VQ_REQ(0)), vsc_inflight(d, VSC_VQ_REQ(1)));
	/* a second answer for the same head would show up as a stray used entry */
	usleep(300 * 1000);
	vsc_reap(d, VSC_VQ_REQ(0), 0);
	vsc_reap(d, VSC_VQ_REQ(1), 0);
	CHECK(!vsc_stray_used(d, VSC_VQ_REQ(0)) && !vsc_stray_used(d, VSC_VQ_REQ(1)),
	      "%u+%u used entries for heads not in flight (a command answered twice?)",
	      vsc_stray_used(d, VSC_VQ_REQ(0)), vsc_stray_used(d, VSC_VQ_REQ(1)));

	for (i = 0; i < f->n; i++) {
		struct vsc_req *r = &f->r[i];
		const char *what = f->is_read[i] ? "READ" : "WRITE";

		CHECK(!r->canary_err, "cmd %u (%s lun %u): canary damaged", i, what, f->lun[i]);
		if (r->res.response == VIRTIO_SCSI_S_ABORTED ||
		    r->res.response == VIRTIO_SCSI_S_RESET) {
			/* the spec: ABORTED after ABORT TASK (SET), RESET after a reset */
			CHECK(f->affected[i] && took_effect,
			      "cmd %u (%s lun %u, tag %llu) %s but the TMF did not cover it",
			      i, what, f->lun[i], (unsigned long long)r->tag,
			      vsc_response_name(r->res.response));
			ab++;
		} else {
			CHECK(good(&r->res), "cmd %u (%s lun %u, tag %llu): %s, want %s", i, what,
			      f->lun[i], (unsigned long long)r->tag, vt_res(&r->res),
			      f->affected[i] && took_effect ? "ABORTED or GOOD" : "GOOD");
			gd++;
			if (f->is_read[i]) {
				size_t len = (size_t)f->blocks[i] * BS;

				free(exp);
				exp = malloc(len);
				CHECK(exp, "out of memory");
				pattern(exp, f->lun[i], f->lba[i], f->blocks[i]);
				CHECK(!memcmp(exp, r->din, len),
				      "cmd %u (READ lun %u lba %llu) GOOD but its data is wrong",
				      i, f->lun[i], (unsigned long long)f->lba[i]);
			}
		}
		if (f->affected[i] && took_effect)
			CHECK(f->before[i],
			      "cmd %u (%s lun %u, tag %llu, %s) answered AFTER the TMF's answer",
			      i, what, f->lun[i], (unsigned long long)r->tag,
			      vsc_response_name(r->res.response));
	}
	free(exp);
	{
		unsigned int k, n_ab = 0, n_rs = 0;

		for (k = 0; k < f->n; k++) {
			n_ab += f->r[k].res.response == VIRTIO_SCSI_S_ABORTED;
			n_rs += f->r[k].res.response == VIRTIO_SCSI_S_RESET;
		}
		if (n_ab || n_rs)
			note("cancelled commands answered: %u ABORTED, %u RESET", n_ab, n_rs);
	}
	if (n_aborted)
		*n_aborted = ab;
	if (n_good)
		*n_good = gd;
	return true;
}

static bool is_complete(uint8_t resp)
{
	return resp == S_COMPLETE || resp == S_SUCCEEDED;
}

/*
 * The shape of most TMF tests: commands in flight on LUN 0 (and LUN 1),
 * one TMF, then exactly-one-answer, ordering and continued I/O checks.
 *
 * @affect_lun0/@affect_lun1: the TMF covers that LUN's commands when it is
 * carried out; @allowed: bitmask of acceptable TMF responses.
 */
struct tmf_case {
	uint32_t sub;
	uint16_t tmf_lun;
	bool affect_lun0, affect_lun1;
	unsigned int n0, n1;		/* commands on LUN 0 / LUN 1 */
	uint32_t allowed;		/* 1u << response */
	bool use_tag_of_first;		/* TMF tag = tag of the first command */
	uint64_t tag;
};

static void tmf_under_load(const struct tmf_case *tc)
{
	struct vsc_dev *d = open_dev(false);
	struct flight f;
	struct vsc_ctl c;
	unsigned int i, ab = 0, gd = 0;
	bool took;
	int e;

	if (!d)
		return;
	if (!vt_clear_ua(d, TGT, LUN_SLOW0) || !vt_clear_ua(d, TGT, LUN_SLOW1)) {
		close_dev(d);
		return;
	}
	flight_init(&f, tc->n0 + tc->n1);
	for (i = 0; i < tc->n0 && !vt_failed(); i++) {
		e = flight_add(d, &f, VSC_VQ_REQ(i & 1), LUN_SLOW0, !(i % 3 == 2), 16,
			       0x5100 + i);
		if (e)
			FAIL("submit lun 0 cmd %u: %s", i, vt_errstr(e));
		f.affected[f.n - 1] = tc->affect_lun0;
	}
	for (i = 0; i < tc->n1 && !vt_failed(); i++) {
		e = flight_add(d, &f, VSC_VQ_REQ(i & 1), LUN_SLOW1, !(i % 3 == 2), 16,
			       0x5200 + i);
		if (e)
			FAIL("submit lun 1 cmd %u: %s", i, vt_errstr(e));
		f.affected[f.n - 1] = tc->affect_lun1;
	}
	if (vt_failed())
		goto out;
	kick_all(d);
	settle_ms(150);
	if (count_done(&f))
		note("%u of %u commands already answered before the TMF (backstore not slow?)",
		     count_done(&f), f.n);

	vsc_tmf_init(&c, tc->sub, TGT, tc->tmf_lun, tc->use_tag_of_first ? f.r[0].tag : tc->tag);
	e = tmf_run(d, &c, &f);
	if (e == -EFAULT) {
		FAIL("TMF %s: answer overflowed its response buffer", vsc_tmf_name(tc->sub));
		goto out;
	}
	if (e) {
		FAIL("TMF %s with %u commands in flight: no answer: %s", vsc_tmf_name(tc->sub), f.n,
		     vt_errstr(e));
		goto out;
	}
	if (c.response >= 32 || !(tc->allowed & (1u << c.response)))
		FAIL("TMF %s: %s is not an allowed answer", vsc_tmf_name(tc->sub),
		     resp_name(c.response));
	took = is_complete(c.response);
	if (!flight_check(d, &f, took, &ab, &gd))
		goto out;
	note("%s: %s; %u commands: %u ABORTED/RESET, %u GOOD, %u answered before the TMF",
	     vsc_tmf_name(tc->sub), resp_name(c.response), f.n, ab, gd,
	     (unsigned int)({ unsigned int k, m = 0; for (k = 0; k < f.n; k++) m += f.before[k]; m; }));
	if (c.response == S_REJECTED)
		note("%s answered FUNCTION_REJECTED (documented outcome: not supported)",
		     vsc_tmf_name(tc->sub));
	if (vt_failed())
		goto out;
	/* I/O continues on both slow LUNs */
	if (verify_rw(d, LUN_SLOW0, VERIFY_LBA, 8))
		verify_rw(d, LUN_SLOW1, VERIFY_LBA, 8);
out:
	flight_free(d, &f);
	close_dev(d);
}

#define RESP(x) (1u << (x))

/* ---------------------------------------------------------------- tests */

/* ABORT_TASK of one READ among several in flight on LUN 0. */
VT_TEST_F(NULL, abort_task_inflight, TMF_SLOW | VT_F_BEYOND, UP_ABORT)
{
	struct vsc_dev *d = open_dev(false);
	struct flight f;
	struct vsc_ctl c;
	unsigned int i, victim = 2, ab = 0, gd = 0;
	int e;

	if (!d)
		return;
	if (!vt_clear_ua(d, TGT, LUN_SLOW0))
		goto out_close;
	flight_init(&f, 6);
	for (i = 0; i < 6 && !vt_failed(); i++) {
		e = flight_add(d, &f, VSC_VQ_REQ(0), LUN_SLOW0, true, 16, 0xa000 + i);
		if (e)
			FAIL("submit %u: %s", i, vt_errstr(e));
	}
	if (vt_failed())
		goto out;
	f.affected[victim] = true;
	kick_all(d);
	settle_ms(150);
	ASSERT(!f.r[victim].op.done, "the victim finished before the abort (backstore not slow)");

	vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_ABORT_TASK, TGT, LUN_SLOW0, f.r[victim].tag);
	e = tmf_run(d, &c, &f);
	if (e) {
		FAIL("ABORT_TASK with the task in flight: %s", vt_errstr(e));
		goto out;
	}
	if (!is_complete(c.response)) {
		FAIL("ABORT_TASK of a task in flight: %s, want FUNCTION_COMPLETE/SUCCEEDED",
		     resp_name(c.response));
		flight_check(d, &f, false, NULL, NULL);
		goto out;
	}
	if (!flight_check(d, &f, true, &ab, &gd))
		goto out;
	note("ABORT_TASK -> %s; victim %s; %u ABORTED %u GOOD", resp_name(c.response),
	     vsc_response_name(f.r[victim].res.response), ab, gd);
	if (f.r[victim].res.response != VIRTIO_SCSI_S_ABORTED)
		note("the victim finished before the abort took effect (answered GOOD)");
	ASSERT(ab <= 1, "%u commands ABORTED by one ABORT_TASK", ab);
	verify_rw(d, LUN_SLOW0, VERIFY_LBA, 8);
out:
	flight_free(d, &f);
out_close:
	close_dev(d);
}

/* ABORT_TASK of a command that already finished: nothing to abort. */
VT_TEST_F(NULL, abort_task_finished, VT_F_BEYOND, UP_ABORT)
{
	struct vsc_dev *d = open_dev(false);
	struct vsc_result res;
	struct vsc_req r;
	uint8_t cdb[16], resp;
	uint64_t tag;
	int e;

	if (!d)
		return;
	if (!vt_clear_ua(d, TGT, LUN_FAST))
		goto out;
	vsc_req_init(d, &r, VSC_VQ_REQ(0), TGT, LUN_FAST, cdb, vsc_cdb_rw(cdb, false, 10, 0, 8));
	r.din_len = 8 * BS;
	tag = r.tag = 0xf1f1;
	e = vsc_cmd_layout(d, &r, NULL, &res, TMO);
	if (e || !good(&res)) {
		FAIL("READ: %s %s", vt_errstr(e), vt_res(&res));
		goto out;
	}
	if (!vt_tmf(d, VIRTIO_SCSI_T_TMF_ABORT_TASK, TGT, LUN_FAST, tag, &resp))
		goto out;
	if (resp != S_COMPLETE)
		FAIL("ABORT_TASK of a finished task: %s, want FUNCTION_COMPLETE(0)",
		     resp_name(resp));
	else
		verify_rw(d, LUN_FAST, VERIFY_LBA, 8);
out:
	close_dev(d);
}

/*
 * A test that would crash or hang the VM on upstream is skipped there, saying
 * @why; TMF_UPSTREAM_UNSAFE=1 runs it anyway (with --keep, and no module
 * unload afterwards).
 */
static bool upstream_unsafe(const char *why)
{
	const char *e = getenv("TMF_UPSTREAM_UNSAFE");

	if (!vt_upstream() || (e && *e == '1'))
		return false;
	vt_skip("%s; TMF_UPSTREAM_UNSAFE=1 runs it", why);
	return true;
}

/*
 * Debian 6.1 vhost_scsi: every LUN RESET that reaches target_core leaves the
 * TPG's list of preallocated TMFs corrupted; the next LUN unlinks of that TPG
 * take a general protection fault in vhost_scsi_port_unlink (LIST_POISON) and
 * the VM is lost at teardown.
 */
static bool upstream_lun_reset_unsafe(void)
{
	return upstream_unsafe("would crash the VM on upstream: after a LUN RESET, the next LUN "
			       "unlinks of the TPG take a GPF in vhost_scsi_port_unlink (TMF "
			       "list corrupted)");
}

/* A slow READ of LUN 0 at @lba, cancelled by TMF @sub while the backstore has it. */
static bool cancel_slow_read(struct vsc_dev *d, uint32_t sub, uint64_t lba, uint64_t tag)
{
	struct vsc_req r;
	uint8_t cdb[16], resp;
	bool ok = false;
	int e;

	vsc_req_init(d, &r, VSC_VQ_REQ(0), TGT, LUN_SLOW0, cdb, vsc_cdb_rw(cdb, false, 10, lba, 8));
	r.din_len = 8 * BS;
	r.tag = tag;
	e = vsc_req_submit(d, &r);
	if (e) {
		FAIL("submit the slow READ for %s: %s", vsc_tmf_name(sub), vt_errstr(e));
		return false;
	}
	vsc_kick(d, VSC_VQ_REQ(0));
	settle_ms(150);
	if (!vt_tmf(d, sub, TGT, LUN_SLOW0, sub == VIRTIO_SCSI_T_TMF_ABORT_TASK ? tag : 0, &resp))
		goto out;
	e = vsc_wait(d, &r.op, TMO);
	if (e) {
		FAIL("the READ %s cancelled: %s", vsc_tmf_name(sub), vt_errstr(e));
		goto out;
	}
	note("%s -> %s, the READ -> %s", vsc_tmf_name(sub), resp_name(resp),
	     vsc_response_name(r.res.response));
	ok = true;
out:
	vsc_req_release(d, &r);
	return ok;
}

/*
 * target_core counts the commands an ORDERED one must wait for, and a
 * command aborted (ABORT TASK, LUN RESET) while the backstore had it never
 * leaves that count (6.1 and 6.12): an ORDERED command after such an abort
 * would wait for ever, every later command of the LUN behind it, and a LUN
 * RESET or the device's teardown with them.  A guest's ORDERED command must
 * still be answered, and the LUN keep working.
 */
VT_TEST_F(NULL, ordered_after_abort, TMF_SLOW | VT_F_BEYOND,
	  "upstream hands ORDERED to target_core")
{
	struct vsc_dev *d;
	struct vsc_result res;
	struct vsc_req ord;
	uint8_t cdb[16];
	uint8_t *exp = malloc(8 * BS), *got = malloc(8 * BS);
	int e;

	if (upstream_unsafe("would hang the VM on upstream: it passes ORDERED to target_core, "
			    "where it waits for ever once a command was aborted (here by a LUN "
			    "RESET, itself unsafe on upstream 6.1)") || !exp || !got)
		goto out_free;
	d = open_dev(false);
	if (!d)
		goto out_free;
	if (!vt_clear_ua(d, TGT, LUN_SLOW0))
		goto out;
	/* READs the backstore holds, cancelled while it does */
	if (!cancel_slow_read(d, VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, 0x0de0) ||
	    /* a LUN RESET cancels one the same way (upstream rejects ABORT_TASK) */
	    !cancel_slow_read(d, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 8, 0x0de1) ||
	    !vt_clear_ua(d, TGT, LUN_SLOW0))
		goto out;
	/* now an ORDERED READ */
	vsc_req_init(d, &ord, VSC_VQ_REQ(0), TGT, LUN_SLOW0, cdb,
		     vsc_cdb_rw(cdb, false, 10, 16, 8));
	ord.din_len = 8 * BS;
	ord.task_attr = VIRTIO_SCSI_S_ORDERED;
	e = vsc_cmd_layout(d, &ord, got, &res, TMO);
	if (e || !good(&res)) {
		FAIL("ORDERED READ after an abort: %s %s", vt_errstr(e), e ? "" : vt_res(&res));
		goto out;
	}
	pattern(exp, LUN_SLOW0, 16, 8);
	if (memcmp(exp, got, 8 * BS))
		FAIL("ORDERED READ: GOOD but its data is wrong");
	else
		verify_rw(d, LUN_SLOW0, VERIFY_LBA, 8);
out:
	close_dev(d);
out_free:
	free(exp);
	free(got);
}

VT_TEST_F(NULL, abort_task_set, TMF_SLOW | VT_F_BEYOND, UP_ABORT)
{
	struct tmf_case tc = {
		.sub = VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, .tmf_lun = LUN_SLOW0,
		.affect_lun0 = true, .n0 = 9, .n1 = 3,
		.allowed = RESP(S_COMPLETE) | RESP(S_SUCCEEDED) | RESP(S_REJECTED),
	};

	tmf_under_load(&tc);
}

VT_TEST_F(NULL, clear_task_set, TMF_SLOW | VT_F_BEYOND, UP_ABORT)
{
	struct tmf_case tc = {
		.sub = VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET, .tmf_lun = LUN_SLOW0,
		.affect_lun0 = true, .n0 = 9, .n1 = 3,
		.allowed = RESP(S_COMPLETE) | RESP(S_SUCCEEDED) | RESP(S_REJECTED),
	};

	tmf_under_load(&tc);
}

VT_TEST_F(NULL, lun_reset_load, TMF_SLOW | VT_F_BEYOND,
	  "upstream LUN RESET with commands in flight")
{
	struct tmf_case tc = {
		.sub = VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, .tmf_lun = LUN_SLOW0,
		.affect_lun0 = true, .n0 = 48, .n1 = 12,
		.allowed = RESP(S_COMPLETE) | RESP(S_SUCCEEDED),
	};

	if (upstream_lun_reset_unsafe())
		return;
	tmf_under_load(&tc);
}

/*
 * A TMF that target_core aborts: @sub (ABORT_TASK for the second of @n slow
 * READs, or ABORT_TASK_SET for all of them) waits for its slow commands
 * when a LOGICAL_UNIT_RESET of the same LUN arrives; the reset aborts the
 * pending ABORT_TASKs without answering them (no queue_tm_rsp, only
 * release_cmd).  Each TMF must still get exactly one answer, and the device
 * must tear down afterwards.
 */
static void tmf_then_lun_reset(uint8_t sub, unsigned int n, uint64_t tag_base)
{
	const char *name = vsc_tmf_name(sub);
	struct vsc_ctl tmf = { 0 }, reset = { 0 };
	struct vsc_dev *d;
	struct flight f;
	uint64_t deadline;
	unsigned int i;
	int e;

	if (upstream_lun_reset_unsafe())
		return;
	d = open_dev(false);
	if (!d)
		return;
	if (!vt_clear_ua(d, TGT, LUN_SLOW0)) {
		close_dev(d);
		return;
	}
	flight_init(&f, n);
	for (i = 0; i < n && !vt_failed(); i++) {
		e = flight_add(d, &f, VSC_VQ_REQ(0), LUN_SLOW0, true, 16, tag_base + i);
		if (e)
			FAIL("submit %u: %s", i, vt_errstr(e));
		f.affected[f.n - 1] = true;
	}
	if (vt_failed())
		goto out;
	kick_all(d);
	settle_ms(150);
	vsc_tmf_init(&tmf, sub, TGT, LUN_SLOW0,
		     sub == VIRTIO_SCSI_T_TMF_ABORT_TASK ? f.r[1].tag : 0);
	vsc_tmf_init(&reset, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, TGT, LUN_SLOW0, 0);
	e = vsc_ctl_submit(d, &tmf);
	if (e) {
		FAIL("submit %s: %s", name, vt_errstr(e));
		goto out;
	}
	vsc_kick(d, VSC_VQ_CTL);
	settle_ms(100);	/* its ABORT_TASKs now wait for the slow READs */
	e = vsc_ctl_submit(d, &reset);
	if (e) {
		FAIL("submit LOGICAL_UNIT_RESET: %s", vt_errstr(e));
		goto out;
	}
	vsc_kick(d, VSC_VQ_CTL);
	deadline = vsc_now_ns() + (uint64_t)TMO * 1000000;
	while ((!tmf.op.done || !reset.op.done) && vsc_now_ns() < deadline) {
		e = vsc_reap(d, VSC_VQ_CTL, 100);
		if (e < 0)
			break;
	}
	if (!tmf.op.done || !reset.op.done) {
		FAIL("no answer within %d ms to %s%s", TMO,
		     tmf.op.done ? "" : name, reset.op.done ? "" : " LOGICAL_UNIT_RESET");
		goto out;
	}
	/* what is on the used rings now was answered before the TMFs */
	vsc_reap(d, VSC_VQ_REQ(0), 0);
	vsc_reap(d, VSC_VQ_REQ(1), 0);
	for (i = 0; i < f.n; i++)
		f.before[i] = f.r[i].op.done;
	/* a second answer to either TMF would be a stray used entry */
	usleep(300 * 1000);
	vsc_reap(d, VSC_VQ_CTL, 0);
	if (vsc_stray_used(d, VSC_VQ_CTL))
		FAIL("%u control used entries for heads not in flight (a TMF answered twice?)",
		     vsc_stray_used(d, VSC_VQ_CTL));
	if (tmf.canary_err || reset.canary_err)
		FAIL("a TMF answer overflowed its 1-byte response (canary damaged)");
	if (!is_complete(reset.response))
		FAIL("LOGICAL_UNIT_RESET: %s", resp_name(reset.response));
	if (tmf.response != S_COMPLETE && tmf.response != S_SUCCEEDED &&
	    tmf.response != S_REJECTED && tmf.response != VIRTIO_SCSI_S_FAILURE)
		FAIL("%s: %s is not an allowed answer", name, resp_name(tmf.response));
	note("%s -> %s, LOGICAL_UNIT_RESET -> %s", name, resp_name(tmf.response),
	     resp_name(reset.response));
	if (!flight_check(d, &f, true, NULL, NULL))
		goto out;
	verify_rw(d, LUN_SLOW0, VERIFY_LBA, 8);
out:
	vsc_ctl_release(d, &tmf);
	vsc_ctl_release(d, &reset);
	flight_free(d, &f);
	close_dev(d);
}

/*
 * target_core answers a reset or an abort without waiting for the commands
 * it found already complete, whose answers may still be on their way to the
 * fabric.  A guest must still see every command the TMF covers that was in
 * flight when it sent the TMF answered first: Linux's error handler reuses
 * them once the TMF succeeds.  Many rounds on the fast LUN, where commands complete while
 * the TMF runs: READs on both queues, then, as soon as the device has taken
 * them, a LOGICAL_UNIT_RESET or an ABORT_TASK of the last one.
 */
#define RACE_ROUNDS	2000	/* the old code failed within ~450; TMF_RACE_ROUNDS */
#define RACE_CMDS	24

/*
 * Waits until the device has taken off both request rings everything put
 * there (VHOST_GET_VRING_BASE reads where it is, under the queue's mutex):
 * a command still on a ring when the TMF comes was not in flight for it.
 */
static bool wait_taken(struct vsc_dev *d)
{
	uint64_t deadline = vsc_now_ns() + (uint64_t)TMO * 1000000;
	struct vhost_vring_state s;
	unsigned int q;
	int e;

	for (q = VSC_VQ_REQ(0); q <= VSC_VQ_REQ(1); q++) {
		for (;;) {
			s.index = q;
			e = vsc_ioctl(d, VHOST_GET_VRING_BASE, &s);
			if (e) {
				FAIL("VHOST_GET_VRING_BASE %u: %s", q, vt_errstr(e));
				return false;
			}
			if ((uint16_t)s.num == vsc_raw_avail_idx(d, q))
				break;
			if (vsc_now_ns() > deadline) {
				FAIL("vq %u: requests not taken within %d ms", q, TMO);
				return false;
			}
			sched_yield();
		}
	}
	return true;
}

static bool race_round(struct vsc_dev *d, unsigned int round)
{
	bool reset = round & 1;
	struct vsc_ctl c = { 0 };
	struct flight f;
	unsigned int i, late = 0;
	uint64_t deadline;
	bool ok = false;
	int e;

	flight_init(&f, RACE_CMDS);
	for (i = 0; i < RACE_CMDS; i++) {
		e = flight_add(d, &f, VSC_VQ_REQ(i & 1), LUN_FAST, true, 8,
			       0x6000 + (uint64_t)round * RACE_CMDS + i);
		if (e) {
			FAIL("round %u: submit %u: %s", round, i, vt_errstr(e));
			goto out;
		}
	}
	vsc_tmf_init(&c, reset ? VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET :
				 VIRTIO_SCSI_T_TMF_ABORT_TASK,
		     TGT, LUN_FAST, f.r[RACE_CMDS - 1].tag);
	kick_all(d);
	if (!wait_taken(d))
		goto out;
	e = tmf_run(d, &c, &f);
	if (e) {
		FAIL("round %u: %s: %s", round, vsc_tmf_name(c.subtype), vt_errstr(e));
		goto out;
	}
	/* a reset covers every command of the LUN, an abort its one task */
	for (i = reset ? 0 : RACE_CMDS - 1; i < RACE_CMDS; i++)
		late += !f.before[i];
	if (late) {
		FAIL("round %u: %u of the %u commands it covers answered after the %s's answer",
		     round, late, reset ? RACE_CMDS : 1, vsc_tmf_name(c.subtype));
		goto out;
	}
	deadline = vsc_now_ns() + (uint64_t)TMO * 1000000;
	while (count_done(&f) < f.n && vsc_now_ns() < deadline) {
		vsc_reap(d, VSC_VQ_REQ(0), 20);
		vsc_reap(d, VSC_VQ_REQ(1), 0);
	}
	ok = count_done(&f) == f.n;
	if (!ok)
		FAIL("round %u: %u commands not answered", round, f.n - count_done(&f));
out:
	flight_free(d, &f);
	return ok;
}

VT_TEST_F(NULL, tmf_answer_follows_completions, VT_F_BEYOND, UP_ABORT)
{
	struct vsc_dev *d;
	unsigned int round, rounds;

	if (upstream_lun_reset_unsafe())
		return;
	d = open_dev(false);
	if (!d)
		return;
	if (!vt_clear_ua(d, TGT, LUN_FAST))
		goto out;
	rounds = getenv("TMF_RACE_ROUNDS") ? (unsigned int)atoi(getenv("TMF_RACE_ROUNDS")) : RACE_ROUNDS;
	for (round = 0; round < rounds && !vt_failed(); round++) {
		if (!race_round(d, round))
			break;
		if ((round & 1) && !vt_clear_ua(d, TGT, LUN_FAST))
			break;
	}
	if (!vt_failed())
		verify_rw(d, LUN_FAST, VERIFY_LBA, 8);
out:
	close_dev(d);
}

#define SIGNAL_DELAY VSC_TVH_PARAM("signal_delay_us")

/*
 * signal_delay_us holds back a queue's signal while more of its commands
 * are in flight, but only until its deadline: a READ of the fast LUN that
 * finishes while a READ of the slow one (1 s) is in flight on the same
 * queue gets its call within ~1 ms, not when the slow one finishes.  The
 * client takes no EVENT_IDX, so every signal the device sends is a call.
 */
VT_TEST_F(NULL, held_signal_comes_by_its_deadline, TMF_SLOW | VT_F_BEYOND,
	  "has no signal_delay_us parameter")
{
	struct vsc_dev *d = open_dev_features(VSC_FEATURES_ALL & ~VSC_F(VIRTIO_SCSI_F_HOTPLUG) &
					      ~VSC_F(VIRTIO_RING_F_EVENT_IDX));
	long long held0, held1;
	uint64_t calls0, calls1;
	bool slow_done;
	struct flight f;
	char was[16];
	int e;

	if (!d)
		return;
	flight_init(&f, 2);
	if (!vt_clear_ua(d, TGT, LUN_SLOW0) || !vt_clear_ua(d, TGT, LUN_FAST))
		goto out;
	if (vsc_cfs_read(SIGNAL_DELAY, was, sizeof(was)) || vsc_cfs_write(SIGNAL_DELAY, "1000")) {
		FAIL("cannot set %s", SIGNAL_DELAY);
		goto out;
	}
	held0 = vsc_tpg_stat(WWPN, TPGT, "vq2", "signals_held");
	e = flight_add(d, &f, VSC_VQ_REQ(0), LUN_SLOW0, true, 8, 0);
	if (!e) {
		vsc_kick(d, VSC_VQ_REQ(0));
		settle_ms(100);
		calls0 = vsc_vq_calls(d, VSC_VQ_REQ(0));
		e = flight_add(d, &f, VSC_VQ_REQ(0), LUN_FAST, true, 8, 0);
	}
	if (!e) {
		vsc_kick(d, VSC_VQ_REQ(0));
		e = vsc_wait(d, &f.r[1].op, 500);
	}
	settle_ms(50);
	vsc_reap(d, VSC_VQ_REQ(0), 0);
	calls1 = vsc_vq_calls(d, VSC_VQ_REQ(0));
	slow_done = f.r[0].op.done;
	held1 = vsc_tpg_stat(WWPN, TPGT, "vq2", "signals_held");
	vsc_cfs_write(SIGNAL_DELAY, was);
	if (e) {
		FAIL("READs of the slow and the fast LUN: %s", vt_errstr(e));
		goto out;
	}
	if (slow_done) {
		FAIL("the slow READ finished within 150 ms: backstore not slow");
		goto out;
	}
	if (held1 <= held0) {
		FAIL("signals_held went %lld -> %lld: the fast READ's signal was not held", held0, held1);
		goto out;
	}
	if (calls1 <= calls0)
		FAIL("no call for the fast READ 50 ms after its answer: its held signal waits for the slow one");
	if (vsc_wait(d, &f.r[0].op, TMO))
		FAIL("the slow READ never finished");
out:
	flight_free(d, &f);
	close_dev(d);
}

VT_TEST_F(NULL, abort_set_then_lun_reset, TMF_SLOW | VT_F_BEYOND, UP_ABORT)
{
	tmf_then_lun_reset(VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, 6, 0x5300);
}

VT_TEST_F(NULL, abort_task_then_lun_reset, TMF_SLOW | VT_F_BEYOND, UP_ABORT)
{
	tmf_then_lun_reset(VIRTIO_SCSI_T_TMF_ABORT_TASK, 4, 0x5400);
}

VT_TEST_F(NULL, i_t_nexus_reset_load, TMF_SLOW | VT_F_BEYOND, UP_ABORT)
{
	struct tmf_case tc = {
		.sub = VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET, .tmf_lun = LUN_SLOW0,
		.affect_lun0 = true, .affect_lun1 = true, .n0 = 24, .n1 = 24,
		.allowed = RESP(S_COMPLETE) | RESP(S_SUCCEEDED) | RESP(S_REJECTED),
	};

	tmf_under_load(&tc);
}

/* QUERY TASK of a task in flight: SUCCEEDED (it exists) or REJECTED; never aborts. */
VT_TEST_F(NULL, query_task, TMF_SLOW | VT_F_BEYOND, UP_ABORT)
{
	struct tmf_case tc = {
		.sub = VIRTIO_SCSI_T_TMF_QUERY_TASK, .tmf_lun = LUN_SLOW0,
		.n0 = 4, .n1 = 0, .use_tag_of_first = true,
		.allowed = RESP(S_SUCCEEDED) | RESP(S_REJECTED),
	};
	struct vsc_dev *d;
	uint8_t resp;

	tmf_under_load(&tc);
	if (vt_failed())
		return;
	/* a task that does not exist: FUNCTION_COMPLETE, or REJECTED */
	d = open_dev(false);
	if (!d || !vt_tmf(d, VIRTIO_SCSI_T_TMF_QUERY_TASK, TGT, LUN_FAST, 0xdeadbeef, &resp)) {
		close_dev(d);
		return;
	}
	if (resp != S_COMPLETE && resp != S_REJECTED)
		FAIL("QUERY_TASK of no task: %s, want FUNCTION_COMPLETE or REJECTED",
		     resp_name(resp));
	close_dev(d);
}

VT_TEST_F(NULL, query_task_set, TMF_SLOW | VT_F_BEYOND, UP_ABORT)
{
	struct tmf_case tc = {
		.sub = VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, .tmf_lun = LUN_SLOW0,
		.n0 = 4, .n1 = 2,
		.allowed = RESP(S_SUCCEEDED) | RESP(S_REJECTED),
	};

	tmf_under_load(&tc);
}

/* No ACA condition exists: CLEAR ACA must not disturb commands in flight. */
VT_TEST_F(NULL, clear_aca, TMF_SLOW | VT_F_BEYOND, UP_ABORT)
{
	struct tmf_case tc = {
		.sub = VIRTIO_SCSI_T_TMF_CLEAR_ACA, .tmf_lun = LUN_SLOW0,
		.n0 = 4, .n1 = 2,
		.allowed = RESP(S_COMPLETE) | RESP(S_SUCCEEDED) | RESP(S_REJECTED),
	};

	tmf_under_load(&tc);
}

VT_TEST_F(NULL, bad_target, VT_F_BEYOND,
	  "upstream answers a TMF to an unknown target with a command response")
{
	struct vsc_dev *d = open_dev(false);
	static const uint32_t subs[] = {
		VIRTIO_SCSI_T_TMF_ABORT_TASK, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET,
		VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET, VIRTIO_SCSI_T_TMF_QUERY_TASK,
	};
	unsigned int i;
	uint8_t resp;

	if (!d)
		return;
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]) && !vt_failed(); i++) {
		if (!vt_tmf(d, subs[i], BAD_TGT, 0, 0x77, &resp))
			break;
		if (resp != VIRTIO_SCSI_S_BAD_TARGET)
			FAIL("TMF %s to target %u: %s, want BAD_TARGET", vsc_tmf_name(subs[i]),
			     BAD_TGT, resp_name(resp));
	}
	if (!vt_failed())
		verify_rw(d, LUN_FAST, VERIFY_LBA, 8);
	close_dev(d);
}

static void bad_lun(uint32_t sub)
{
	struct vsc_dev *d = open_dev(false);
	uint8_t resp;

	if (!d)
		return;
	if (vt_tmf(d, sub, TGT, BAD_LUN, 0x77, &resp) && resp != VIRTIO_SCSI_S_INCORRECT_LUN)
		FAIL("TMF %s to LUN %u: %s, want INCORRECT_LUN", vsc_tmf_name(sub), BAD_LUN,
		     resp_name(resp));
	if (!vt_failed())
		verify_rw(d, LUN_FAST, VERIFY_LBA, 8);
	close_dev(d);
}

VT_TEST(NULL, bad_lun_reset)
{
	if (upstream_lun_reset_unsafe())
		return;
	bad_lun(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET);
}

VT_TEST_F(NULL, bad_lun_abort, VT_F_BEYOND, UP_ABORT)
{
	bad_lun(VIRTIO_SCSI_T_TMF_ABORT_TASK);
}

/* The TMFs served from the commands in flight check their LUN too. */
VT_TEST_F(NULL, bad_lun_groups, VT_F_BEYOND, UP_ABORT)
{
	static const uint32_t subs[] = {
		VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET,
		VIRTIO_SCSI_T_TMF_QUERY_TASK, VIRTIO_SCSI_T_TMF_QUERY_TASK_SET,
	};
	unsigned int k;

	for (k = 0; k < sizeof(subs) / sizeof(subs[0]) && !vt_failed(); k++)
		bad_lun(subs[k]);
}

static bool an(struct vsc_dev *d, bool subscribe, uint8_t tgt, uint32_t events,
	       uint8_t want, const char *what)
{
	struct vsc_ctl c;
	int e;

	vsc_an_init(&c, subscribe, tgt, 0, events);
	e = tmf_run(d, &c, NULL);
	CHECK(e != -EFAULT, "%s: answer overflowed the AN response (canary damaged)", what);
	CHECK(!e, "%s: %s", what, vt_errstr(e));
	CHECK(c.response == want, "%s: %s, want %s", what, resp_name(c.response),
	      resp_name(want));
	if (want == VIRTIO_SCSI_S_OK)
		CHECK(c.event_actual == 0, "%s: event_actual 0x%x, want 0", what, c.event_actual);
	return true;
}

VT_TEST_F(NULL, an_query_subscribe, VT_F_BEYOND,
	  "upstream answers AN to an unknown target with a command response")
{
	struct vsc_dev *d = open_dev(false);

	if (!d)
		return;
	if (an(d, false, TGT, 0xfe, VIRTIO_SCSI_S_OK, "AN query") &&
	    an(d, true, TGT, 0xfe, VIRTIO_SCSI_S_OK, "AN subscribe") &&
	    an(d, false, BAD_TGT, 0xfe, VIRTIO_SCSI_S_BAD_TARGET, "AN query, unknown target") &&
	    an(d, true, BAD_TGT, 0xfe, VIRTIO_SCSI_S_BAD_TARGET, "AN subscribe, unknown target"))
		verify_rw(d, LUN_FAST, VERIFY_LBA, 8);
	close_dev(d);
}

/* A TMF request shorter than its header: answered FAILURE, within the 1-byte response. */
VT_TEST_F(NULL, short_tmf, VT_F_BEYOND,
	  "upstream answers a short control request with a command response")
{
	struct vsc_dev *d = open_dev(false);
	static const uint32_t lens[] = { 4, 12, 23 };
	unsigned int i;
	struct vsc_ctl c;
	int e;

	if (!d)
		return;
	for (i = 0; i < 3 && !vt_failed(); i++) {
		vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, TGT, LUN_FAST, 0);
		c.req_len = lens[i];
		e = tmf_run(d, &c, NULL);
		if (e == -EFAULT)
			FAIL("%u-byte TMF request: answer overflowed the 1-byte response", lens[i]);
		else if (e)
			FAIL("%u-byte TMF request: no answer: %s", lens[i], vt_errstr(e));
		else if (c.response != VIRTIO_SCSI_S_FAILURE)
			FAIL("%u-byte TMF request: %s, want FAILURE", lens[i],
			     resp_name(c.response));
	}
	if (!vt_failed())
		verify_rw(d, LUN_FAST, VERIFY_LBA, 8);
	close_dev(d);
}

/* ------------------------------------------------------------- events */

static char hp_name[HP_NUM][16];

static bool hp_link(unsigned int k)
{
	int e = vsc_tgt_lun_link(WWPN, TPGT, HP_LUN0 + k, HBA_RD, hp_name[k]);

	CHECK(!e, "link lun_%u: %s", HP_LUN0 + k, vt_errstr(e));
	return true;
}

static bool hp_unlink(unsigned int k)
{
	int e = vsc_tgt_lun_unlink(WWPN, TPGT, HP_LUN0 + k);

	CHECK(!e, "unlink lun_%u: %s", HP_LUN0 + k, vt_errstr(e));
	return true;
}

/* Removes whatever hotplug LUNs a test left linked. */
static void hp_cleanup(void)
{
	unsigned int k;
	char p[256];

	for (k = 0; k < HP_NUM; k++) {
		snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/%s/tpgt_%u/lun/lun_%u", WWPN, TPGT,
			 HP_LUN0 + k);
		if (vsc_path_exists(p))
			vsc_tgt_lun_unlink(WWPN, TPGT, HP_LUN0 + k);
	}
	snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/%s/tpgt_%u/lun/lun_%u", WWPN, TPGT,
		 HP_BIG_LUN);
	if (vsc_path_exists(p))
		vsc_tgt_lun_unlink(WWPN, TPGT, HP_BIG_LUN);
}

static uint16_t evt_lun_decode(const uint8_t *l)
{
	return (uint16_t)(((l[2] & 0x3f) << 8) | l[3]);
}

/* Checks one delivered event: type (with @flags), reason, LUN bytes. */
static bool evt_expect(struct vsc_evt *e, uint32_t type, uint32_t reason, uint16_t lun,
		       const char *what)
{
	CHECK(e, "%s: no event", what);
	if (vt_upstream() && e->op.used_len == 0) {
		/* Debian 6.1 vhost_scsi returns event buffers with used len 0 */
		static bool noted;

		if (!noted)
			note("upstream differs: event buffers come back with used len 0 (not 16); "
			     "contents checked");
		noted = true;
	} else {
		CHECK(e->op.used_len == 16, "%s: event used len %u, want 16", what,
		      e->op.used_len);
	}
	CHECK(e->event == type, "%s: event 0x%x, want 0x%x", what, e->event, type);
	if ((type & ~VIRTIO_SCSI_T_EVENTS_MISSED) == VIRTIO_SCSI_T_NO_EVENT) {
		static const uint8_t zero[8];

		if (memcmp(e->lun, zero, 8))
			note("NO_EVENT carries lun bytes %02x %02x %02x %02x (upstream: all zero)",
			     e->lun[0], e->lun[1], e->lun[2], e->lun[3]);
		return true;
	}
	CHECK(e->reason == reason, "%s: reason %u, want %u", what, e->reason, reason);
	CHECK(e->lun[0] == 1 && e->lun[1] == TGT, "%s: lun bytes %02x %02x, want 01 %02x",
	      what, e->lun[0], e->lun[1], TGT);
	CHECK(evt_lun_decode(e->lun) == lun, "%s: LUN %u in the event, want %u", what,
	      evt_lun_decode(e->lun), lun);
	CHECK(!e->lun[4] && !e->lun[5] && !e->lun[6] && !e->lun[7],
	      "%s: lun[4..7] not zero", what);
	return true;
}

static void evt_dump(struct vsc_evt *e, const char *what)
{
	vt_note("%s: len %u event 0x%x reason %u lun %02x %02x %02x %02x", what, e->op.used_len,
	      e->event, e->reason, e->lun[0], e->lun[1], e->lun[2], e->lun[3]);
}

/* Posts @n 16-byte event buffers; false, after a FAIL, if posting fails. */
static bool evt_post(struct vsc_dev *d, struct vsc_evt *ev, unsigned int n)
{
	int r = vsc_evt_post(d, ev, n, 16);

	CHECK(!r, "post %u event buffers: %s", n, vt_errstr(r));
	return true;
}

/*
 * Waits for the next event in @ev[0..n-1] and checks it as evt_expect() does:
 * the event, or NULL after a FAIL.
 */
static struct vsc_evt *evt_next_expect(struct vsc_dev *d, struct vsc_evt *ev, unsigned int n,
				       uint32_t type, uint32_t reason, uint16_t lun,
				       const char *what)
{
	struct vsc_evt *e = vsc_evt_next(d, ev, n, TMO);

	if (e)
		evt_dump(e, what);
	return evt_expect(e, type, reason, lun, what) ? e : NULL;
}

/* Waits until GET_EVENTS_MISSED reads @want (the event work is asynchronous). */
static bool wait_missed(struct vsc_dev *d, uint32_t want, uint32_t *got)
{
	int k, e;

	for (k = 0; k < 40; k++) {
		e = vsc_get_events_missed(d, got);
		CHECK(!e, "GET_EVENTS_MISSED: %s", vt_errstr(e));
		if (*got == want)
			return true;
		usleep(50 * 1000);
	}
	return false;
}

/* REPORT LUNS lists @lun? */
static bool lun_listed(struct vsc_dev *d, uint16_t lun, bool *listed)
{
	uint8_t cdb[12], buf[1024];
	struct vsc_result res;
	uint32_t len, i;
	int e, k;

	for (k = 0; k < 4; k++) {
		e = vsc_cmd(d, VSC_VQ_REQ(0), TGT, 0, cdb, vsc_cdb_report_luns(cdb, 0, sizeof(buf)),
			    NULL, 0, buf, sizeof(buf), &res, TMO);
		CHECK(!e, "REPORT LUNS: %s", vt_errstr(e));
		if (good(&res))
			break;
	}
	CHECK(good(&res), "REPORT LUNS: %s", vt_res(&res));
	len = vsc_get_be32(buf);
	*listed = false;
	for (i = 8; i + 8 <= len + 8 && i + 8 <= sizeof(buf); i += 8)
		if (((vsc_get_be16(buf + i) & 0x3fff)) == lun)
			*listed = true;
	return true;
}

VT_TEST_F(NULL, hotplug_link_unlink, VT_F_BEYOND,
	  "upstream 6.1 delivers events queued together in reverse (LIFO) order")
{
	struct vsc_dev *d = open_dev(true);
	struct vsc_evt ev[8], *e;
	bool listed;

	if (!d)
		return;
	if (!evt_post(d, ev, 8))
		goto out;
	if (!hp_link(0))
		goto out;
	if (!evt_next_expect(d, ev, 8, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN,
			     HP_LUN0, "link"))
		goto out;
	if (!lun_listed(d, HP_LUN0, &listed))
		goto out;
	if (!listed) {
		FAIL("REPORT LUNS after the RESCAN event does not list LUN %u", HP_LUN0);
		goto out;
	}
	if (!hp_unlink(0))
		goto out;
	if (!evt_next_expect(d, ev, 8, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_REMOVED,
			     HP_LUN0, "unlink"))
		goto out;
	/* a second LUN, two events back to back */
	if (!hp_link(1) || !hp_unlink(1))
		goto out;
	if (!evt_next_expect(d, ev, 8, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN,
			     HP_LUN0 + 1, "link lun 11"))
		goto out;
	if (!evt_next_expect(d, ev, 8, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_REMOVED,
			     HP_LUN0 + 1, "unlink lun 11"))
		goto out;
	e = vsc_evt_next(d, ev, 8, 500);
	if (e) {
		FAIL("unexpected extra event 0x%x reason %u", e->event, e->reason);
		goto out;
	}
	if (!lun_listed(d, HP_LUN0, &listed))
		goto out;
	if (listed)
		FAIL("REPORT LUNS still lists LUN %u after unlink", HP_LUN0);
	else
		verify_rw(d, LUN_FAST, VERIFY_LBA, 8);
out:
	hp_cleanup();
	vsc_evt_release(d, ev, 8);
	close_dev(d);
}

/* The exact LUN bytes of an event: as QEMU's virtio-scsi and upstream encode them. */
VT_TEST(NULL, hotplug_lun_bytes)
{
	struct vsc_dev *d = open_dev(true);
	struct vsc_evt ev[2], *e;
	uint8_t want[8];

	if (!d)
		return;
	if (!evt_post(d, ev, 2))
		goto out;
	if (!hp_link(2))
		goto out;
	e = evt_next_expect(d, ev, 2, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN,
			    HP_LUN0 + 2, "link");
	if (!e)
		goto out;
	vsc_lun_encode(want, TGT, HP_LUN0 + 2);
	if (memcmp(want, e->lun, 8))
		FAIL("event lun bytes %02x %02x %02x %02x %02x %02x %02x %02x, want "
		     "%02x %02x %02x %02x 00 00 00 00 (the request encoding; upstream and QEMU "
		     "set 0x40 in lun[2] only for LUNs >= 256)",
		     e->lun[0], e->lun[1], e->lun[2], e->lun[3], e->lun[4], e->lun[5], e->lun[6],
		     e->lun[7], want[0], want[1], want[2], want[3]);
	hp_unlink(2);
	e = vsc_evt_next(d, ev, 2, TMO);
	if (!vt_failed())
		evt_expect(e, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_REMOVED,
			   HP_LUN0 + 2, "unlink");
out:
	hp_cleanup();
	vsc_evt_release(d, ev, 2);
	close_dev(d);
}

/*
 * A LUN number the 14-bit LUN field of an event cannot carry: its link and
 * unlink post nothing (an event would name another LUN), and the next event
 * the guest gets is the next real one.
 */
VT_TEST_BEYOND(NULL, hotplug_lun_beyond_14_bits,
	       "upstream posts events for LUN 16384 that name LUN 0")
{
	struct vsc_dev *d = open_dev(true);
	struct vsc_evt ev[2];
	int e;

	if (!d)
		return;
	if (!evt_post(d, ev, 2))
		goto out;
	e = vsc_tgt_lun_link(WWPN, TPGT, HP_BIG_LUN, HBA_RD, hp_name[1]);
	if (e) {
		FAIL("link lun_%u: %s", HP_BIG_LUN, vt_errstr(e));
		goto out;
	}
	e = vsc_tgt_lun_unlink(WWPN, TPGT, HP_BIG_LUN);
	if (e) {
		FAIL("unlink lun_%u: %s", HP_BIG_LUN, vt_errstr(e));
		goto out;
	}
	if (hp_link(2))
		evt_next_expect(d, ev, 2, VIRTIO_SCSI_T_TRANSPORT_RESET,
				VIRTIO_SCSI_EVT_RESET_RESCAN, HP_LUN0 + 2,
				"first event after lun_16384 came and went");
out:
	hp_cleanup();
	vsc_evt_release(d, ev, 2);
	close_dev(d);
}

/*
 * More events than buffers: events_missed gets set; the next event the guest
 * gets carries the EVENTS_MISSED flag; the flag is then cleared.
 */
VT_TEST(NULL, events_missed_overflow)
{
	struct vsc_dev *d = open_dev(true);
	struct vsc_evt ev[2];
	uint32_t missed = 0;
	int r;

	if (!d)
		return;
	if (!evt_post(d, ev, 2))
		goto out;
	if (!hp_link(0) || !hp_link(1) || !hp_link(2))
		goto out;
	if (!evt_next_expect(d, ev, 2, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN,
			     HP_LUN0, "1st link"))
		goto out;
	if (!evt_next_expect(d, ev, 2, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN,
			     HP_LUN0 + 1, "2nd link"))
		goto out;
	if (!wait_missed(d, 1, &missed)) {
		FAIL("3 events for 2 buffers: GET_EVENTS_MISSED %u, want 1", missed);
		goto out;
	}
	/* one buffer back, without a kick: the next real event takes it */
	r = vsc_evt_repost(d, &ev[0]);
	if (r) {
		FAIL("repost: %s", vt_errstr(r));
		goto out;
	}
	if (!hp_unlink(2))
		goto out;
	if (!evt_next_expect(d, ev, 2, VIRTIO_SCSI_T_TRANSPORT_RESET | VIRTIO_SCSI_T_EVENTS_MISSED,
			     VIRTIO_SCSI_EVT_RESET_REMOVED, HP_LUN0 + 2,
			     "event after a missed one"))
		goto out;
	if (!wait_missed(d, 0, &missed))
		FAIL("events_missed still %u after the flagged event", missed);
out:
	hp_cleanup();
	vsc_evt_release(d, ev, 2);
	close_dev(d);
}

/* Missed events, then the guest adds a buffer and kicks: NO_EVENT | EVENTS_MISSED. */
VT_TEST(NULL, events_missed_kick)
{
	struct vsc_dev *d = open_dev(true);
	struct vsc_evt ev[1], more[2], *e;
	uint32_t missed = 0;

	memset(more, 0, sizeof(more));
	if (!d)
		return;
	if (!evt_post(d, ev, 1))
		goto out;
	if (!hp_link(3) || !hp_link(4))
		goto out;
	if (!evt_next_expect(d, ev, 1, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN,
			     HP_LUN0 + 3, "1st link"))
		goto out;
	if (!wait_missed(d, 1, &missed)) {
		FAIL("2 events for 1 buffer: GET_EVENTS_MISSED %u, want 1", missed);
		goto out;
	}
	if (!evt_post(d, more, 2))
		goto out;
	vsc_kick_force(d, VSC_VQ_EVT);
	if (!evt_next_expect(d, more, 2, VIRTIO_SCSI_T_NO_EVENT | VIRTIO_SCSI_T_EVENTS_MISSED, 0, 0,
			     "event-queue kick with events missed"))
		goto out;
	if (!wait_missed(d, 0, &missed)) {
		FAIL("events_missed still %u after NO_EVENT|EVENTS_MISSED", missed);
		goto out;
	}
	e = vsc_evt_next(d, more, 2, 500);
	if (e)
		FAIL("unexpected second event 0x%x after the kick", e->event);
out:
	hp_cleanup();
	vsc_evt_release(d, ev, 1);
	vsc_evt_release(d, more, 2);
	close_dev(d);
}

VT_TEST(NULL, set_get_events_missed)
{
	struct vsc_dev *d = open_dev(true);
	struct vsc_evt ev[1];
	uint32_t v = 7;
	int r;

	if (!d)
		return;
	memset(ev, 0, sizeof(ev));
	r = vsc_get_events_missed(d, &v);
	if (r || v != 0) {
		FAIL("GET_EVENTS_MISSED on a fresh device: %s value %u, want 0", vt_errstr(r), v);
		goto out;
	}
	r = vsc_set_events_missed(d, 1);
	if (!r)
		r = vsc_get_events_missed(d, &v);
	if (r || v != 1) {
		FAIL("SET 1 then GET_EVENTS_MISSED: %s value %u, want 1", vt_errstr(r), v);
		goto out;
	}
	r = vsc_set_events_missed(d, 0);
	if (!r)
		r = vsc_get_events_missed(d, &v);
	if (r || v != 0) {
		FAIL("SET 0 then GET_EVENTS_MISSED: %s value %u, want 0", vt_errstr(r), v);
		goto out;
	}
	/* set by ioctl, then a kick with a buffer: NO_EVENT | EVENTS_MISSED */
	r = vsc_set_events_missed(d, 1);
	if (r) {
		FAIL("SET_EVENTS_MISSED 1: %s", vt_errstr(r));
		goto out;
	}
	if (!evt_post(d, ev, 1))
		goto out;
	vsc_kick_force(d, VSC_VQ_EVT);
	if (!evt_next_expect(d, ev, 1, VIRTIO_SCSI_T_NO_EVENT | VIRTIO_SCSI_T_EVENTS_MISSED, 0, 0,
			     "kick after SET_EVENTS_MISSED 1"))
		goto out;
	if (!wait_missed(d, 0, &v))
		FAIL("events_missed %u after the flagged event, want 0", v);
out:
	vsc_evt_release(d, ev, 1);
	close_dev(d);
}

/*
 * Event buffers of the wrong size: one too small for an event (12 bytes) comes
 * back unused (used len 0) and the event goes to the next buffer. A larger one
 * (32 bytes) is a valid buffer (the spec asks for at least one event's room):
 * it gets the event with used len 16.
 */
VT_TEST_F(NULL, evt_wrong_size, VT_F_BEYOND,
	  "upstream swallows an event buffer that is not exactly 16 bytes and sets events_missed")
{
	struct vsc_dev *d = open_dev(true);
	struct vsc_evt ev[3], *e;
	uint32_t missed = 0;
	int r, k;

	if (!d)
		return;
	memset(ev, 0, sizeof(ev));
	ev[0].len = 12;
	ev[1].len = 32;
	ev[2].len = 16;
	for (k = 0; k < 3; k++) {
		r = vsc_evt_repost(d, &ev[k]);
		if (r) {
			FAIL("post buffer %d: %s", k, vt_errstr(r));
			goto out;
		}
	}
	vsc_kick_force(d, VSC_VQ_EVT);
	usleep(200 * 1000);
	/* two events: the 12-byte buffer is skipped, 32 and 16 get one each */
	if (!hp_link(5) || !hp_unlink(5))
		goto out;
	for (k = 0; k < 3; k++) {
		e = vsc_evt_next(d, ev, 3, 5000);
		if (!e) {
			vsc_get_events_missed(d, &missed);
			FAIL("only %d of 3 event buffers came back (events_missed %u)", k, missed);
			goto out;
		}
		evt_dump(e, "wrong size");
		if (e == &ev[0]) {
			if (e->op.used_len != 0) {
				FAIL("12-byte event buffer returned with used len %u, want 0",
				     e->op.used_len);
				goto out;
			}
		} else if (!evt_expect(e, VIRTIO_SCSI_T_TRANSPORT_RESET,
				       e == &ev[1] ? VIRTIO_SCSI_EVT_RESET_RESCAN
						   : VIRTIO_SCSI_EVT_RESET_REMOVED,
				       HP_LUN0 + 5, e == &ev[1] ? "event in the 32-byte buffer"
							       : "event in the 16-byte buffer")) {
			goto out;
		}
	}
	if (ev[1].op.seq < ev[0].op.seq)
		FAIL("an event was delivered before the 12-byte buffer was returned");
	else if (vsc_get_events_missed(d, &missed) == 0 && missed)
		FAIL("events_missed %u although every event found a buffer", missed);
out:
	hp_cleanup();
	vsc_evt_release(d, ev, 3);
	close_dev(d);
}

/* Without VIRTIO_SCSI_F_HOTPLUG no event is delivered. */
VT_TEST(NULL, no_hotplug_no_events)
{
	struct vsc_dev *d = open_dev(false);
	struct vsc_evt ev[2], *e;

	if (!d)
		return;
	if (vsc_has_feature(d, VIRTIO_SCSI_F_HOTPLUG)) {
		FAIL("HOTPLUG acked although not requested");
		goto out_close;
	}
	if (!evt_post(d, ev, 2))
		goto out;
	if (!hp_link(0) || !hp_unlink(0))
		goto out;
	e = vsc_evt_next(d, ev, 2, 1500);
	if (e)
		FAIL("event 0x%x reason %u delivered without VIRTIO_SCSI_F_HOTPLUG", e->event,
		     e->reason);
out:
	hp_cleanup();
	vsc_evt_release(d, ev, 2);
out_close:
	close_dev(d);
}


/* ------------------------------------------------------------- fixture */

static int fixture_setup(void)
{
	unsigned int k;
	int e;

	for (k = 0; k < 2; k++) {
		char name[16];

		snprintf(name, sizeof(name), "tmfslow%u", k);
		if (k < nslow)
			e = vsc_tgt_iblock_create(HBA_IB, name, slowdev[k]);
		else
			e = vsc_tgt_rd_create(HBA_RD, name, 16ULL << 20);
		if (e) {
			fprintf(stderr, "backstore %s: %s\n", name, vt_errstr(e));
			return e;
		}
	}
	e = vsc_tgt_rd_create(HBA_RD, "tmffast", 16ULL << 20);
	for (k = 0; k < HP_NUM && !e; k++) {
		snprintf(hp_name[k], sizeof(hp_name[k]), "tmfhp%u", k);
		e = vsc_tgt_rd_create(HBA_RD, hp_name[k], 1ULL << 20);
	}
	if (!e)
		e = vsc_tgt_tpg_create(WWPN, TPGT);
	if (!e)
		e = vsc_tgt_lun_link(WWPN, TPGT, LUN_SLOW0, nslow > 0 ? HBA_IB : HBA_RD, "tmfslow0");
	if (!e)
		e = vsc_tgt_lun_link(WWPN, TPGT, LUN_SLOW1, nslow > 1 ? HBA_IB : HBA_RD, "tmfslow1");
	if (!e)
		e = vsc_tgt_lun_link(WWPN, TPGT, LUN_FAST, HBA_RD, "tmffast");
	if (!e)
		e = vsc_tgt_nexus_set(WWPN, TPGT, INITIATOR);
	if (e) {
		fprintf(stderr, "fixture: %s\n", vt_errstr(e));
		return e;
	}
	return 0;
}

/* Known data in LBAs 0..PAT_BLOCKS-1 of both slow LUNs. */
static int fixture_pattern(void)
{
	size_t len = (size_t)PAT_BLOCKS * BS;
	uint8_t *buf = malloc(len);
	struct vsc_dev *d;
	uint16_t lun;
	int ret = 0;

	vt_start("tmf/fixture");
	d = open_dev(false);
	if (!d || !buf) {
		fprintf(stderr, "fixture: %s\n", vt_reason());
		free(buf);
		return -1;
	}
	for (lun = LUN_SLOW0; lun <= LUN_SLOW1; lun++) {
		pattern(buf, lun, 0, PAT_BLOCKS);
		if (!vt_clear_ua(d, TGT, lun) ||
		    !vt_rw(d, VSC_VQ_REQ(0), TGT, lun, true, 10, 0, PAT_BLOCKS, buf, NULL)) {
			fprintf(stderr, "fixture: pattern lun %u: %s\n", lun, vt_reason());
			ret = -1;
			break;
		}
	}
	/* how slow is it? one 4 KiB read */
	if (!ret) {
		uint64_t t0 = vsc_now_ns();

		if (vt_rw(d, VSC_VQ_REQ(0), TGT, LUN_SLOW0, false, 10, 0, 8, buf, NULL))
			printf("# tmf: slow LUN read latency %llu ms\n",
			       (unsigned long long)((vsc_now_ns() - t0) / 1000000));
	}
	vsc_close(d);
	free(buf);
	return ret;
}

static void fixture_teardown(void)
{
	unsigned int k;
	char p[256];

	hp_cleanup();
	for (k = 0; k < 3; k++)
		vsc_tgt_lun_unlink(WWPN, TPGT, k);
	vsc_tgt_nexus_drop(WWPN, TPGT);
	vsc_tgt_tpg_remove(WWPN, TPGT);
	snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/%s", WWPN);
	rmdir(p);
	for (k = 0; k < HP_NUM; k++)
		vsc_tgt_backstore_remove(HBA_RD, hp_name[k]);
	vsc_tgt_backstore_remove(HBA_RD, "tmffast");
	for (k = 0; k < 2; k++) {
		snprintf(p, sizeof(p), "tmfslow%u", k);
		vsc_tgt_backstore_remove(k < nslow ? HBA_IB : HBA_RD, p);
	}
}

/* --------------------------------------------------------------- runner */

static bool setup(void)
{
	uint64_t t0 = vsc_now_ns();
	int e = fixture_setup() || fixture_pattern();

	printf("# tmf: fixture ready in %llu ms\n",
	       (unsigned long long)((vsc_now_ns() - t0) / 1000000));
	if (e) {
		vt_start("tmf/fixture");
		vt_fail(0, "cannot build the test fixture");
	}
	return !e;
}

static void teardown(void)
{
	if (!keep)
		fixture_teardown();
}

static uint64_t test_t0;

static void before(const struct vt_test *t)
{
	if ((t->flags & TMF_SLOW) && nslow < 2)
		vt_skip("needs two slow backstores (--slowdev)");
	test_t0 = vsc_now_ns();
}

/* In the test's child process. */
static void after(const struct vt_test *t)
{
	(void)t;
	if (vt_verbose)
		note("%llu ms", (unsigned long long)((vsc_now_ns() - test_t0) / 1000000));
}

static bool option(int c, const char *arg)
{
	switch (c) {
	case 's':
		if (nslow < 2)
			slowdev[nslow++] = arg;
		return true;
	case 'k':
		keep = true;
		return true;
	}
	return false;
}

const struct vt_suite vt_suite = {
	.name = "tmf",
	.usage = "[--slowdev DEV]... [--keep]",
	.timeout = TEST_TMO,
	.cmd_tmo = TMO,
	.flags = VT_S_FORK,
	.opts = { "s:k", (const struct option[]){
		{ "slowdev", required_argument, NULL, 's' },
		{ "keep", no_argument, NULL, 'k' },
		{ 0 } }, option },
	.fixture = { setup, teardown },
	.test = { before, after },
};
