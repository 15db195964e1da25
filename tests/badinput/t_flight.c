// SPDX-License-Identifier: GPL-2.0
/*
 * Commands in flight: a guest keeping its ring full, more commands than
 * ring entries, LUN unlink / nexus drop under commands, the owner killed.
 * Commands are held in flight by a LUN on a dm device that we suspend.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bi.h"

#define REQ VSC_VQ_REQ(0)
#define RESP_SZ sizeof(struct virtio_scsi_cmd_resp)

/* ----------------------------------------------------- ring kept full */

struct flood {
	struct vsc_dev *d;
	volatile bool stop;
	unsigned long done;
	int err;
	unsigned int n;
	uint16_t lun2;	/* one command in 8 goes there if set */
	struct vsc_req *q;
};

static void flood_submit(struct flood *f, unsigned int k)
{
	uint8_t cdb[16];

	uint16_t lun = (k & 7) == 1 && f->lun2 ? f->lun2 : BI_LUN_RD;

	memset(cdb, 0, sizeof(cdb));
	if (k % 3)
		vsc_req_init(f->d, &f->q[k], REQ, BI_TGT, lun, cdb, vsc_cdb_tur(cdb));
	else {
		vsc_req_init(f->d, &f->q[k], REQ, BI_TGT, lun, cdb,
			     vsc_cdb_rw(cdb, false, 10, k, 1));
		f->q[k].din_len = 512;
	}
	if (vsc_req_submit(f->d, &f->q[k]))
		f->q[k].op.done = true;	/* retry later */
}

static void *flood_thread(void *arg)
{
	struct flood *f = arg;
	unsigned int k;

	for (k = 0; k < f->n; k++)
		flood_submit(f, k);
	vsc_kick_force(f->d, REQ);
	while (!f->stop) {
		int r = vsc_reap(f->d, REQ, 100);

		if (r < 0) {
			f->err = r;
			break;
		}
		for (k = 0; k < f->n; k++) {
			if (!f->q[k].op.done)
				continue;
			if (f->q[k].canary_err)
				f->err = -EFAULT;
			vsc_req_release(f->d, &f->q[k]);
			f->done++;
			flood_submit(f, k);
		}
		vsc_kick_force(f->d, REQ);
	}
	return NULL;
}

/* After flood_thread() has stopped: wait for its commands, then free them. */
static void flood_release(struct flood *f)
{
	unsigned int k;

	vsc_drain(f->d, REQ, BI_TMO);
	for (k = 0; k < f->n; k++)
		vsc_req_release(f->d, &f->q[k]);
	free(f->q);
	f->q = NULL;
}

/* 5. A guest keeping the ring full must not starve its other queues or other devices */
VT_TEST(NULL, ring_full_no_monopoly)
{
	struct vsc_opts o = bi_opts(256, 0);
	struct flood f = { 0 };
	struct vsc_dev *d2;
	pthread_t th;
	uint64_t end, t0, lat_ctl = 0, lat_d2 = 0, dt;
	unsigned int n_ctl = 0, n_d2 = 0;
	struct vsc_result res;
	uint8_t cdb[16];
	int r;

	f.d = bi_open_ep(&o, BI_WWPN_A);
	d2 = bi_open_ep(NULL, BI_WWPN_B);
	ASSERT(f.d && d2, "open");
	f.n = 120;	/* 2-3 descriptors each: the 256-entry ring stays full */
	f.q = calloc(f.n, sizeof(*f.q));
	ASSERT(f.q, "alloc");
	ASSERT(!pthread_create(&th, NULL, flood_thread, &f), "thread");
	usleep(300000);
	end = vsc_now_ns() + 4000000000ULL;
	while (vsc_now_ns() < end) {
		struct vsc_ctl c;

		vsc_an_init(&c, false, BI_TGT, 0, 0);
		t0 = vsc_now_ns();
		r = vsc_ctl_sync(f.d, &c, 5000);
		dt = vsc_now_ns() - t0;
		if (r) {
			vt_fail(__LINE__, "control queue of the flooded device not served: %s",
				vt_errstr(r));
			break;
		}
		n_ctl++;
		lat_ctl = dt > lat_ctl ? dt : lat_ctl;
		memset(cdb, 0, sizeof(cdb));
		t0 = vsc_now_ns();
		r = vsc_cmd(d2, REQ, BI_TGT, 0, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, &res, 5000);
		dt = vsc_now_ns() - t0;
		if (r) {
			vt_fail(__LINE__, "second device not served: %s", vt_errstr(r));
			break;
		}
		n_d2++;
		lat_d2 = dt > lat_d2 ? dt : lat_d2;
		usleep(20000);
	}
	f.stop = true;
	pthread_join(th, NULL);
	fprintf(stderr, "# ring_full_no_monopoly: flood %lu cmds; ctl %u answers max %llu ms; "
		"dev2 %u answers max %llu ms\n", f.done, n_ctl,
		(unsigned long long)(lat_ctl / 1000000), n_d2, (unsigned long long)(lat_d2 / 1000000));
	if (vt_failed()) {
		free(f.q);
		return;
	}
	ASSERT(!f.err, "flood: %s", vt_errstr(f.err));
	ASSERT(f.done > 100, "flooded queue itself made no progress (%lu)", f.done);
	ASSERT(n_ctl >= 5 && lat_ctl < 2000000000ULL, "control queue: %u answers, max %llu ms",
	       n_ctl, (unsigned long long)(lat_ctl / 1000000));
	ASSERT(n_d2 >= 5 && lat_d2 < 2000000000ULL, "second device: %u answers, max %llu ms",
	       n_d2, (unsigned long long)(lat_d2 / 1000000));
	vsc_drain(f.d, REQ, BI_TMO);
	for (r = 0; r < (int)f.n; r++)
		vsc_req_release(f.d, &f.q[r]);
	free(f.q);
	bi_healthy(f.d, "flooded device after");
	bi_healthy(d2, "second device after");
}

/* ------------------------------------------------ held in flight (dm) */

static struct vsc_buf *hold_chain(struct vsc_dev *d, struct vsc_buf **resp, uint16_t *head,
				  struct vsc_op *op)
{
	struct bi_desc ds[2];
	struct vsc_buf *h, *w;
	uint8_t cdb[16];

	memset(cdb, 0, sizeof(cdb));
	h = bi_req_hdr(d, BI_TGT, BI_LUN_HOLD, cdb, vsc_cdb_rw(cdb, false, 10, 0, 1), 0);
	w = bi_wbuf(d, RESP_SZ + 512);
	if (!h || !w)
		return NULL;
	ds[0] = (struct bi_desc){ (uintptr_t)h->p, (uint32_t)h->len, VRING_DESC_F_NEXT, BI_NEXT_AUTO };
	ds[1] = (struct bi_desc){ (uintptr_t)w->p, RESP_SZ + 512, VRING_DESC_F_WRITE, BI_NEXT_AUTO };
	if (bi_post_raw(d, REQ, ds, 2, op))
		return NULL;
	*head = vsc_raw_avail(d, REQ)->ring[(uint16_t)(vsc_raw_avail_idx(d, REQ) - 1) % vsc_vq_size(d, REQ)];
	*resp = w;
	return h;
}

static uint16_t wait_used(struct vsc_dev *d, uint16_t want, int ms)
{
	uint64_t end = vsc_now_ns() + (uint64_t)ms * 1000000;
	uint16_t n;

	while ((n = vsc_raw_used_idx(d, REQ)) != want && vsc_now_ns() < end)
		usleep(2000);
	return n;
}

/* 14. more in-flight commands than ring entries (reused heads) -> TASK SET FULL */
VT_TEST_F(NULL, inflight_over_ring_task_set_full, BI_F_NEEDS_HOLD, NULL)
{
	struct vsc_opts o = bi_opts(8, 0);
	struct vsc_dev *d = bi_open_ep(&o, BI_WWPN_A);
	struct vsc_buf *w;
	struct vring_used *u;
	struct vsc_result res;
	uint16_t head, n, k, base, full = 0, good = 0;

	ASSERT(d, "open");
	if (!vt_clear_ua(d, BI_TGT, BI_LUN_HOLD))
		return;
	base = vsc_raw_used_idx(d, REQ);	/* the TURs above used some entries */
	ASSERT(!bi_hold(true), "dmsetup suspend");
	ASSERT(hold_chain(d, &w, &head, NULL), "post");
	for (k = 1; k < 8; k++)
		vsc_raw_publish(d, REQ, head, NULL, 0, NULL);
	vsc_kick_force(d, REQ);
	usleep(700000);
	n = (uint16_t)(vsc_raw_used_idx(d, REQ) - base);
	bi_resp_decode(w->p, &res);
	ASSERT(n == 0, "%u of 8 held READs answered while the device is suspended: %s", n,
	       vt_res(&res));
	for (k = 0; k < 8; k++)
		vsc_raw_publish(d, REQ, head, NULL, 0, NULL);
	vsc_kick_force(d, REQ);
	n = (uint16_t)(wait_used(d, (uint16_t)(base + 6), 3000) - base);
	u = vsc_raw_used(d, REQ);
	bi_resp_decode(w->p, &res);
	vt_note("with 16 published on an 8-ring: %u answered while held, %s", n, vt_res(&res));
	if (n) {
		ASSERT(u->ring[base % 8].id == head, "used id %u", u->ring[base % 8].id);
		EXPECT_OR_DIFF(res.response == VIRTIO_SCSI_S_OK && res.status == SAM_STAT_TASK_SET_FULL,
			       "over-ring command answered with %s, want TASK SET FULL",
			       vt_res(&res));
	} else {
		vt_differs(__LINE__, "no answer for commands beyond the pool while held");
	}
	ASSERT(!bi_hold(false), "dmsetup resume");
	n = (uint16_t)(wait_used(d, (uint16_t)(base + 16), 10000) - base);
	for (k = 0; k < n && k < 8; k++) {	/* the last 8 are still in the ring */
		struct vring_used_elem *e = &u->ring[(uint16_t)(base + n - 1 - k) % 8];

		ASSERT(e->id == head, "used[%u].id %u", k, e->id);
		if (e->len == RESP_SZ + 512)
			good++;
		else
			full++;
	}
	vt_note("after resume: %u used (%u with data, %u without)", n, good, full);
	EXPECT_OR_DIFF(n == 16, "%u of 16 published requests answered (drops)", n);
	ASSERT(!vsc_canary_check_all(d), "canary");
	bi_fresh_healthy(&d, BI_WWPN_A);
}

struct unlink_arg {
	int r;
	volatile bool done;
	bool nexus;
};

static void *unlink_thread(void *p)
{
	struct unlink_arg *a = p;

	if (a->nexus)
		a->r = vsc_tgt_nexus_drop(BI_WWPN_A, 1);
	else
		a->r = vsc_tgt_lun_unlink(BI_WWPN_A, 1, BI_LUN_HOLD);
	a->done = true;
	return NULL;
}

static void held_reads(struct vsc_dev *d, struct vsc_req *q, unsigned int n)
{
	uint8_t cdb[16];
	unsigned int k;

	for (k = 0; k < n; k++) {
		vsc_req_init(d, &q[k], REQ, BI_TGT, BI_LUN_HOLD, cdb,
			     vsc_cdb_rw(cdb, false, 10, k, 1));
		q[k].din_len = 512;
		if (vsc_req_submit(d, &q[k]))
			q[k].op.done = true;
	}
	vsc_kick_force(d, REQ);
}

/*
 * Suspend the hold LUN and put @n READs in flight on it (UNIT ATTENTIONs
 * cleared first); they stay there until bi_hold(false).  False: failed.
 */
static bool held_reads_start(struct vsc_dev *d, struct vsc_req *q, unsigned int n)
{
	if (!vt_clear_ua(d, BI_TGT, BI_LUN_HOLD))
		return false;
	CHECK(!bi_hold(true), "dmsetup suspend");
	held_reads(d, q, n);
	usleep(300000);
	return true;
}

static void inflight_config_change(bool nexus)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct unlink_arg a = { .nexus = nexus };
	struct vsc_result res;
	struct vsc_req q[8];
	uint8_t cdb[16];
	pthread_t th;
	unsigned int k;
	int r;

	ASSERT(d, "open");
	if (!held_reads_start(d, q, 8))
		return;
	ASSERT(!pthread_create(&th, NULL, unlink_thread, &a), "thread");
	usleep(500000);
	/* the device keeps serving other LUNs meanwhile */
	memset(cdb, 0, sizeof(cdb));
	r = vsc_cmd(d, REQ, 2, 0, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, &res, 5000);
	bi_hold(false);
	pthread_join(th, NULL);
	ASSERT(!r, "TUR on another TPG while a %s waits: %s", nexus ? "nexus drop" : "LUN unlink",
	       vt_errstr(r));
	for (k = 0; k < 8; k++) {
		r = vsc_wait(d, &q[k].op, BI_TMO);
		ASSERT(!r, "held READ %u never answered", k);
		ASSERT(!q[k].canary_err, "canary");
		vt_note("held READ %u: %s", k, vt_res(&q[k].res));
		vsc_req_release(d, &q[k]);
	}
	if (nexus) {
		/* a nexus in use by a vhost device must not be dropped */
		ASSERT(a.r < 0, "nexus dropped while the device uses it");
		vt_note("nexus drop: %s", vt_errstr(a.r));
	} else {
		ASSERT(!a.r, "LUN unlink: %s", vt_errstr(a.r));
		bi_relink_hold();
		r = vsc_cmd(d, REQ, BI_TGT, BI_LUN_HOLD, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0,
			    &res, BI_TMO);
		ASSERT(!r, "TUR relinked LUN: %s", vt_errstr(r));
		vt_clear_ua(d, BI_TGT, BI_LUN_HOLD);
	}
	bi_healthy(d, "after");
}

/* 19. LUN unlink while commands are in flight */
VT_TEST_F(NULL, lun_unlink_inflight, BI_F_NEEDS_HOLD, NULL)
{
	inflight_config_change(false);
}

/* 19. nexus drop while commands are in flight */
VT_TEST_F(NULL, nexus_drop_inflight, BI_F_NEEDS_HOLD, NULL)
{
	inflight_config_change(true);
}

/*
 * 19''. rmmod while the module serves a device: the kernel refuses it, with
 * 8 READs held in flight and then under a stream of commands, and every
 * command is answered as if nothing had been tried.
 */
static int try_rmmod(void)
{
	return syscall(SYS_delete_module, vt_module, O_NONBLOCK) ? errno : 0;
}

VT_TEST_F(NULL, rmmod_refused_while_in_use, BI_F_NEEDS_HOLD, NULL)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct flood f = { .d = d, .n = 32 };
	struct vsc_req q[8];
	unsigned int k, tries;
	pthread_t th;
	int err;

	ASSERT(d, "open");
	if (!held_reads_start(d, q, 8))
		return;
	err = try_rmmod();
	bi_hold(false);
	ASSERT(err == EWOULDBLOCK, "rmmod %s with 8 READs in flight: %s, want EWOULDBLOCK",
	       vt_module, err ? strerror(err) : "unloaded");
	for (k = 0; k < 8; k++) {
		ASSERT(!vsc_wait(d, &q[k].op, BI_TMO), "held READ %u never answered", k);
		ASSERT(!q[k].canary_err && q[k].res.response == VIRTIO_SCSI_S_OK && !q[k].res.status,
		       "held READ %u: %s", k, vt_res(&q[k].res));
		vsc_req_release(d, &q[k]);
	}
	f.q = calloc(f.n, sizeof(*f.q));
	ASSERT(f.q, "alloc");
	ASSERT(!pthread_create(&th, NULL, flood_thread, &f), "thread");
	for (tries = 0; tries < 10; tries++) {
		usleep(50000);
		err = try_rmmod();
		if (err != EWOULDBLOCK)
			break;
	}
	f.stop = true;
	pthread_join(th, NULL);
	flood_release(&f);
	ASSERT(tries == 10, "rmmod %s under I/O, try %u: %s, want EWOULDBLOCK", vt_module,
	       tries + 1, err ? strerror(err) : "unloaded");
	ASSERT(!f.err, "I/O while rmmod was refused: %s", vt_errstr(f.err));
	ASSERT(f.done, "no command answered while rmmod was tried");
	vt_note("%lu commands answered while rmmod was refused 10 times", f.done);
	bi_healthy(d, "after");
}

/* 19'. LUN link/unlink racing a stream of commands to it */
VT_TEST(NULL, lun_unlink_under_io)
{
	struct vsc_opts o = bi_opts(256, 0);
	struct flood f = { 0 };
	pthread_t th;
	int k, r;

	f.d = bi_open_ep(&o, BI_WWPN_A);
	ASSERT(f.d, "open");
	f.n = 64;
	f.lun2 = BI_LUN_EVT;
	f.q = calloc(f.n, sizeof(*f.q));
	ASSERT(f.q, "alloc");
	bi_evt_link(false, BI_LUN_EVT);
	r = bi_evt_link(true, BI_LUN_EVT);
	ASSERT(!r, "link: %s", vt_errstr(r));
	ASSERT(!pthread_create(&th, NULL, flood_thread, &f), "thread");
	for (k = 0; k < 10; k++) {
		r = bi_evt_link(false, BI_LUN_EVT);
		if (r)
			break;
		usleep(50000);
		r = bi_evt_link(true, BI_LUN_EVT);
		if (r)
			break;
	}
	f.stop = true;
	pthread_join(th, NULL);
	bi_evt_link(false, BI_LUN_EVT);
	ASSERT(k == 10, "link/unlink round %d failed: %s", k, vt_errstr(r));
	ASSERT(!f.err, "flood: %s", vt_errstr(f.err));
	flood_release(&f);
	bi_healthy(f.d, "after");
}

/*
 * 22. the owner process killed with commands in flight.
 *
 * The owner is a child whose device lives in an arena shared with the
 * parent (MAP_SHARED, mapped before the fork), so the parent reads the
 * rings' indices the device writes: the commands in flight at the kill are
 * those the child posted (avail idx) and the device had not answered (used
 * idx), read just before SIGKILL.  After every round the endpoint must be
 * free and a new owner must do a verified WRITE+READ.  At least 16 must be
 * in flight at each kill with held READs, 8 under I/O alone.
 *
 * BI_KILL_ROUNDS sets the rounds of every owner_killed* test (default: 1
 * with held READs, 3 under I/O); one line on stderr gives the rounds and
 * the commands in flight at the kills.
 */
#define OWNER_ARENA	(8UL << 20)

/*
 * What the child shows the parent: where its rings keep their indices and
 * where its held READs get their answers (addresses in the shared arena),
 * and the UNIT ATTENTIONs it cleared on the hold LUN before posting them.
 */
struct owner_view {
	uint16_t *req_avail, *req_used;
	uint16_t *ctl_avail, *ctl_used;
	uint8_t *held_resp[16];
	unsigned int uas;
	uint8_t ua_asc, ua_ascq;
};

static unsigned int owner_inflight(const uint16_t *avail, const uint16_t *used)
{
	return (uint16_t)(__atomic_load_n(avail, __ATOMIC_ACQUIRE) -
			  __atomic_load_n(used, __ATOMIC_ACQUIRE));
}

static pid_t spawn_owner(bool held, bool tmf, int *rfd, void *arena, struct owner_view *v)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct vsc_opts o = bi_opts(128, 0);
		struct vsc_dev *d;
		struct flood f = { 0 };
		struct vsc_req q[16];
		struct vsc_ctl reset;
		char c = 'r';

		close(p[0]);
		o.arena_size = OWNER_ARENA;
		d = vsc_open_arena(&o, arena);
		if (!d || vsc_set_endpoint(d, BI_WWPN_A))
			_exit(3);
		v->req_avail = &vsc_raw_avail(d, REQ)->idx;
		v->req_used = &vsc_raw_used(d, REQ)->idx;
		v->ctl_avail = &vsc_raw_avail(d, VSC_VQ_CTL)->idx;
		v->ctl_used = &vsc_raw_used(d, VSC_VQ_CTL)->idx;
		if (held) {
			struct vsc_result res;
			uint8_t cdb[16];
			int k;

			/*
			 * A LUN RESET of the round before may leave a UNIT
			 * ATTENTION that a READ would take: TURs (answered by
			 * target_core, not the suspended backstore) first.
			 */
			for (k = 0; k < 10; k++) {
				if (vsc_cmd(d, REQ, BI_TGT, BI_LUN_HOLD, cdb, vsc_cdb_tur(cdb), NULL, 0,
					    NULL, 0, &res, BI_TMO))
					_exit(7);
				if (!vt_sense_is(&res, UNIT_ATTENTION, res.asc))
					break;
				v->uas++;
				v->ua_asc = res.asc;
				v->ua_ascq = res.ascq;
			}
			held_reads(d, q, 16);
			for (k = 0; k < 16; k++)
				v->held_resp[k] = q[k].bufs[2] ? q[k].bufs[2]->p : NULL;
		}
		if (tmf) {
			/*
			 * Waits for the held reads: answered after the kill.
			 * Only once they reached the backstore: the device may
			 * serve the control queue before the request queue (6.1,
			 * round 2 of 50: the LUN RESET found nothing to wait for).
			 */
			usleep(300000);
			vsc_tmf_init(&reset, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET,
				     BI_TGT, BI_LUN_HOLD, 0);
			if (vsc_ctl_submit(d, &reset))
				_exit(6);
			vsc_kick(d, VSC_VQ_CTL);
		}
		f.d = d;
		f.n = 48;
		f.q = calloc(f.n, sizeof(*f.q));
		if (!f.q)
			_exit(4);
		if (write(p[1], &c, 1) != 1)
			_exit(5);
		flood_thread(&f);	/* until killed */
		_exit(0);
	}
	close(p[1]);
	*rfd = p[0];
	return pid;
}

static int wait_child(pid_t pid, int ms)
{
	uint64_t end = vsc_now_ns() + (uint64_t)ms * 1000000;
	int st;

	while (vsc_now_ns() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

struct kill_stats {
	unsigned int rounds, min, max, ctl_min, ua_rounds;
	uint8_t ua_asc, ua_ascq;
	unsigned long sum;
};

/* The held READs answered so far, for a failure message. */
static const char *held_answered(const struct owner_view *v)
{
	static char buf[400];
	size_t n = 0;
	int k;

	buf[0] = 0;
	for (k = 0; k < 16 && n < sizeof(buf) - 80; k++) {
		struct vsc_result res;

		if (!v->held_resp[k] || bi_all_cc(v->held_resp[k], RESP_SZ))
			continue;
		bi_resp_decode(v->held_resp[k], &res);
		n += snprintf(buf + n, sizeof(buf) - n, "; held READ %d answered: %s", k, vt_res(&res));
	}
	return buf;
}

/*
 * One owner started and killed with commands in flight: at least @want on
 * the request queue (and with @tmf its LUN RESET on the control queue).
 * False: the test failed.
 */
static bool owner_kill_round(bool held, bool tmf, int round, unsigned int want,
			     struct owner_view *v, struct kill_stats *ks)
{
	unsigned int n = 0, ctl = 0, tries;
	const char *why;
	struct pollfd pf;
	void *arena;
	int fd = -1, r;
	pid_t pid;
	char c;

	arena = mmap(NULL, OWNER_ARENA, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(arena != MAP_FAILED, "mmap of a shared arena: %s", vt_errstr(-errno));
	memset(arena, 0, OWNER_ARENA);	/* backed, as vsc_open_arena() wants */
	memset(v, 0, sizeof(*v));
	if (held && bi_hold(true)) {
		munmap(arena, OWNER_ARENA);
		CHECK(0, "round %d: dmsetup suspend", round);
	}
	pid = spawn_owner(held, tmf, &fd, arena, v);
	if (pid <= 0) {
		bi_hold(false);
		munmap(arena, OWNER_ARENA);
		CHECK(0, "round %d: fork", round);
	}
	pf.fd = fd;
	pf.events = POLLIN;
	r = poll(&pf, 1, 10000);
	if (r != 1 || read(fd, &c, 1) != 1) {
		kill(pid, SIGKILL);
		bi_hold(false);
		wait_child(pid, 20000);
		close(fd);
		munmap(arena, OWNER_ARENA);
		CHECK(0, "round %d: child did not set up its device", round);
	}
	close(fd);
	usleep(held ? 400000 : 300000 + 200000 * (round % 3));
	/* a moment when enough are in flight (under I/O the count moves) */
	for (tries = 0; tries < 500; tries++) {
		n = owner_inflight(v->req_avail, v->req_used);
		ctl = owner_inflight(v->ctl_avail, v->ctl_used);
		if (n >= want && (!tmf || ctl))
			break;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	/* (the arena goes below) */
	why = n < want && held ? held_answered(v) : "";
	if (held) {
		usleep(500000);
		r = bi_hold(false);
		if (r) {
			wait_child(pid, 30000);
			munmap(arena, OWNER_ARENA);
			CHECK(0, "round %d: dmsetup resume", round);
		}
	}
	r = wait_child(pid, 30000);
	munmap(arena, OWNER_ARENA);
	CHECK(!r, "round %d: killed owner did not exit within 30 s (release stuck)", round);
	vt_note("round %d: %u commands in flight at the kill%s", round, n,
		tmf ? (ctl ? ", and the LUN RESET" : ", the LUN RESET answered") : "");
	CHECK(n >= want, "round %d: %u commands in flight at the kill, want at least %u%s", round,
	      n, want, why);
	CHECK(!tmf || ctl, "round %d: the LUN RESET was answered before the kill", round);
	ks->rounds++;
	ks->sum += n;
	ks->min = ks->rounds == 1 || n < ks->min ? n : ks->min;
	ks->max = n > ks->max ? n : ks->max;
	ks->ctl_min = ks->rounds == 1 || ctl < ks->ctl_min ? ctl : ks->ctl_min;
	if (v->uas) {
		vt_note("round %d: the owner cleared %u UNIT ATTENTION(s) (%02x/%02x) first",
			round, v->uas, v->ua_asc, v->ua_ascq);
		ks->ua_rounds++;
		ks->ua_asc = v->ua_asc;
		ks->ua_ascq = v->ua_ascq;
	}
	return true;
}

/* A new owner gets the endpoint and does a verified WRITE+READ. */
static bool owner_after(int round)
{
	char what[64];
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	bool ok;

	CHECK(d, "round %d: endpoint not free after the owner died", round);
	/* a LUN RESET leaves a UNIT ATTENTION on the hold LUN for the next round */
	if (bi_have_hold && !vt_clear_ua(d, BI_TGT, BI_LUN_HOLD)) {
		bi_close(d);
		return false;
	}
	snprintf(what, sizeof(what), "new owner after round %d", round);
	ok = bi_healthy(d, what);
	bi_close(d);
	return ok;
}

static void owner_killed(bool held, bool tmf)
{
	const char *env = getenv("BI_KILL_ROUNDS");
	int rounds = env && atoi(env) > 0 ? atoi(env) : held ? 1 : 3;
	struct kill_stats ks = { 0 };
	uint64_t t0 = vsc_now_ns();
	struct owner_view *v;
	struct vsc_dev *d;
	int round;
	bool ok = true;

	v = mmap(NULL, sizeof(*v), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT(v != MAP_FAILED, "mmap: %s", vt_errstr(-errno));
	d = bi_open_ep(NULL, BI_WWPN_A);
	ASSERT(d, "open");
	if (bi_have_hold && !vt_clear_ua(d, BI_TGT, BI_LUN_HOLD))
		return;
	bi_close(d);
	for (round = 0; ok && round < rounds; round++) {
		vt_alarm(90);	/* per round */
		ok = owner_kill_round(held, tmf, round, held ? 16 : 8, v, &ks) &&
		     owner_after(round);
	}
	munmap(v, sizeof(*v));
	fprintf(stderr, "# %s: %u of %d rounds; commands in flight at the kills: min %u, mean %.1f, max %u%s; %llu ms\n",
		vt_name(), ks.rounds, rounds, ks.min, ks.rounds ? (double)ks.sum / ks.rounds : 0.0,
		ks.max, tmf ? (ks.ctl_min ? ", each with its LUN RESET" : "") : "",
		(unsigned long long)((vsc_now_ns() - t0) / 1000000));
	if (ks.ua_rounds)
		fprintf(stderr, "# %s: in %u rounds the new owner found a UNIT ATTENTION on the hold LUN (last %02x/%02x) although the one before had cleared them\n",
			vt_name(), ks.ua_rounds, ks.ua_asc, ks.ua_ascq);
}

VT_TEST_F(NULL, owner_killed_inflight, BI_F_NEEDS_HOLD, NULL)
{
	owner_killed(true, false);
}

/*
 * A TMF that target_core answers after the owner died: from 6.10 on the
 * dead owner's vhost worker can no longer run the answer, and a TMF left
 * unfinished kept release (and every later attach) waiting forever.
 */
VT_TEST_F(NULL, owner_killed_tmf_inflight, BI_F_NEEDS_HOLD,
	  "a LUN RESET under held I/O can crash Debian's 6.1 vhost_scsi")
{
	owner_killed(true, true);
}

VT_TEST(NULL, owner_killed_under_io)
{
	owner_killed(false, false);
}

/*
 * 19''. one device's teardown waiting for a stuck backstore must not hold up
 * the others: while the owner of one endpoint closes with READs held in a
 * suspended dm device, another endpoint is attached and does I/O.  Debian's
 * vhost_scsi waits under its global mutex, so the second attach waits too.
 */
static void *close_thread(void *p)
{
	vsc_close(p);
	return NULL;
}

static void *resume_thread(void *p)
{
	volatile bool *done = p;
	int k;

	for (k = 0; k < 80 && !*done; k++)
		usleep(100000);
	bi_hold(false);		/* whatever the attach did, end the hold */
	return NULL;
}

VT_TEST_F(NULL, teardown_stuck_others_attach, BI_F_NEEDS_HOLD, NULL)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A), *d2;
	static volatile bool attached;
	pthread_t closer, resumer;
	struct vsc_req q[4];
	uint64_t t0, ms;

	ASSERT(d, "open");
	if (!held_reads_start(d, q, 4))
		return;
	attached = false;
	ASSERT(!pthread_create(&resumer, NULL, resume_thread, (void *)&attached), "thread");
	vt_untrack(d);
	ASSERT(!pthread_create(&closer, NULL, close_thread, d), "thread");
	usleep(500000);		/* the close is waiting for the held READs now */
	t0 = vsc_now_ns();
	d2 = bi_open_ep(NULL, BI_WWPN_B);
	ms = (vsc_now_ns() - t0) / 1000000;
	attached = true;
	pthread_join(resumer, NULL);
	pthread_join(closer, NULL);
	ASSERT(d2, "attach of %s failed while another device's teardown waited", BI_WWPN_B);
	EXPECT_OR_DIFF(ms < 4000,
		       "attaching %s took %llu ms: it waited for another device's teardown",
		       BI_WWPN_B, (unsigned long long)ms);
	vt_note("attach during a stuck teardown: %llu ms", (unsigned long long)ms);
	bi_healthy(d2, "second endpoint");
}

/*
 * 19c. #12.6: what one device may hold in bounce copies is bounded (64 MiB):
 * misaligned 4 MiB READs held in a suspended backstore fill it with 16, and
 * the 17th is answered BUSY at once instead of pinning more host memory.
 * Debian's vhost_scsi does not copy: it holds all 17 (the guest's own pages).
 */
#define BB_READS 17
#define BB_BLOCKS 8192

/* A 4 MiB READ of the hold LUN into a misaligned buffer (bounced), submitted. */
static int bounced_read_submit(struct vsc_dev *d, struct vsc_req *q)
{
	uint8_t cdb[16];

	vsc_req_init(d, q, REQ, BI_TGT, BI_LUN_HOLD, cdb, vsc_cdb_rw(cdb, false, 10, 0, BB_BLOCKS));
	q->din_len = BB_BLOCKS * 512;
	q->layout.misalign = 13;
	return vsc_req_submit(d, q);
}

VT_TEST_F(NULL, bounce_bound_busy, BI_F_NEEDS_HOLD | VT_F_UPSTREAM_SKIP,
	  "upstream passes misaligned segments to the block layer unbounced (see misaligned_iblock)")
{
	struct vsc_opts o = bi_opts(64, 0);
	struct vsc_req q[BB_READS];
	struct vsc_dev *d;
	int k, busy = 0, good = 0, r;

	o.arena_size = 256UL << 20;
	d = bi_open_ep(&o, BI_WWPN_A);
	ASSERT(d, "open");
	if (!vt_clear_ua(d, BI_TGT, BI_LUN_HOLD))
		return;
	ASSERT(!bi_hold(true), "dmsetup suspend");
	for (k = 0; k < BB_READS; k++) {
		r = bounced_read_submit(d, &q[k]);
		if (r) {
			bi_hold(false);
			ASSERT(0, "submit %d: %s", k, vt_errstr(r));
		}
		vsc_kick(d, REQ);
	}
	usleep(1500000);
	vsc_reap(d, REQ, 0);
	for (k = 0; k < BB_READS; k++)
		if (q[k].op.done)
			busy += q[k].res.response == VIRTIO_SCSI_S_OK && q[k].res.status == SAM_STAT_BUSY;
	ASSERT(!bi_hold(false), "dmsetup resume");
	for (k = 0; k < BB_READS; k++) {
		r = vsc_wait(d, &q[k].op, BI_TMO);
		ASSERT(!r, "READ %d never answered", k);
		ASSERT(!q[k].canary_err, "canary");
		good += q[k].res.response == VIRTIO_SCSI_S_OK && q[k].res.status == SAM_STAT_GOOD;
		vsc_req_release(d, &q[k]);
	}
	vt_note("%d of %d held 4 MiB misaligned READs answered BUSY while held, %d GOOD",
		busy, BB_READS, good);
	EXPECT_OR_DIFF(busy == 1 && good == BB_READS - 1,
		       "%d BUSY while held and %d GOOD of %d: want 1 and %d (64 MiB of copies per device)",
		       busy, good, BB_READS, BB_READS - 1);
	bi_healthy(d, "after");
}

/*
 * 19d. #12.6: the bounce copies a device holds for its guest are charged to
 * the owner's memory cgroup, although kernel threads allocate them: with
 * the owner in a child memcg, 8 held misaligned 4 MiB READs raise the
 * kernel memory charged to it by about their 32 MiB of copies.
 */
#define MC_READS 8
#define MC_CG VT_CG_ROOT "/tvh-memcg"

/* The kernel memory charged to MC_CG (memory.stat "kernel"), -1 if unknown. */
static long long memcg_kernel(void)
{
	static char buf[8192];
	const char *p;

	if (vsc_cfs_read(MC_CG "/memory.stat", buf, sizeof(buf)))
		return -1;
	p = strstr(buf, "\nkernel ");
	if (!p && !strncmp(buf, "kernel ", 7))
		p = buf - 1;
	return p ? strtoll(p + 8, NULL, 10) : -1;
}

/*
 * In MC_CG: its kernel memory before and while MC_READS bounced READs are
 * held (memory.current would also count the client's own data-in buffers).
 */
static bool bounce_held_in_memcg(long long *before, long long *held)
{
	struct vsc_opts o = bi_opts(64, 0);
	struct vsc_req q[MC_READS];
	struct vsc_dev *d;
	int k, n, r = 0;

	o.arena_size = 128UL << 20;
	d = bi_open_ep(&o, BI_WWPN_A);
	CHECK(d, "open");
	if (!vt_clear_ua(d, BI_TGT, BI_LUN_HOLD))
		return false;
	*before = memcg_kernel();
	CHECK(!bi_hold(true), "dmsetup suspend");
	for (n = 0; n < MC_READS && !r; n++)
		r = bounced_read_submit(d, &q[n]);
	vsc_kick(d, REQ);
	usleep(1000000);
	*held = memcg_kernel();
	bi_hold(false);
	for (k = 0; k < n - !!r; k++) {
		CHECK(!vsc_wait(d, &q[k].op, BI_TMO), "READ %d never answered", k);
		CHECK(q[k].res.response == VIRTIO_SCSI_S_OK && q[k].res.status == SAM_STAT_GOOD,
		      "held READ %d: %s", k, vt_res(&q[k].res));
		vsc_req_release(d, &q[k]);
	}
	CHECK(!r, "submit %d: %s", n - 1, vt_errstr(r));
	CHECK(bi_healthy(d, "after"), "unhealthy");
	bi_close(d);
	return true;
}

VT_TEST_F(NULL, bounce_charged_to_the_owners_memcg, BI_F_NEEDS_HOLD | VT_F_UPSTREAM_SKIP,
	  "upstream passes misaligned segments to the block layer unbounced (see misaligned_iblock)")
{
	long long before = -1, held = -1, want = MC_READS * BB_BLOCKS * 512LL * 3 / 4;
	bool ok;

	if (!vt_cgroup_mount())
		SKIP("no cgroup2");
	if (vsc_cfs_write(VT_CG_ROOT "/cgroup.subtree_control", "+memory"))
		SKIP("no memory controller");
	mkdir(MC_CG, 0755);
	ok = vt_cgroup_join(MC_CG);
	if (ok)
		ok = bounce_held_in_memcg(&before, &held);
	vt_cgroup_join(VT_CG_ROOT);
	vt_cgroup_remove(MC_CG);
	ASSERT(ok, "%s", vt_failed() ? "see above" : "cannot join " MC_CG);
	vt_note("kernel memory of the owner's memcg: %lld KiB, %lld KiB with %d misaligned 4 MiB READs held",
		before >> 10, held >> 10, MC_READS);
	ASSERT(before >= 0 && held >= 0, "no \"kernel\" line in %s/memory.stat", MC_CG);
	ASSERT(held - before >= want,
	       "the owner's memcg grew by %lld KiB while %d bounced 4 MiB READs were held: want at least %lld KiB",
	       (held - before) >> 10, MC_READS, want >> 10);
}

/* ---------------------------------------------- dirty log (CVE-2025-38074) */

/*
 * VHOST_SET_LOG_BASE takes a userspace address; bit p of the log is guest
 * page p. Guest physical == our virtual addresses, so a log base of
 * bm - (arena >> 15) lands the arena's bits in bm.
 */
static uint64_t log_base_for(struct vsc_dev *d, uint8_t *bm)
{
	return (uintptr_t)bm - ((uintptr_t)vsc_arena_base(d) >> 15);
}

/* A zeroed dirty log of @bmsz bytes set as @d's log base; NULL (test failed) on error. */
static uint8_t *log_start(struct vsc_dev *d, size_t bmsz)
{
	uint8_t *bm = aligned_alloc(4096, bmsz);
	uint64_t b;
	int r;

	if (!bm) {
		vt_fail(__LINE__, "alloc");
		return NULL;
	}
	memset(bm, 0, bmsz);
	b = log_base_for(d, bm);
	r = vsc_ioctl(d, VHOST_SET_LOG_BASE, &b);
	if (r) {
		vt_fail(__LINE__, "SET_LOG_BASE: %s", vt_errstr(r));
		free(bm);
		return NULL;
	}
	return bm;
}

static bool log_bit(struct vsc_dev *d, const uint8_t *bm, const void *addr)
{
	uint64_t page = ((uintptr_t)addr >> 12) - (((uintptr_t)vsc_arena_base(d) >> 15) << 3);

	return bm[page / 8] & (1u << (page % 8));
}

/*
 * A device on BI_WWPN_A that has not acked LOG_ALL, its hold LUN's UNIT
 * ATTENTIONs cleared and a zeroed 16 KiB dirty log set (*@bm); NULL if
 * the test failed or was skipped.
 */
static struct vsc_dev *log_dev_open(uint8_t **bm)
{
	struct vsc_opts o = bi_opts(64, 0);
	struct vsc_dev *d;

	o.features &= ~VSC_F(VHOST_F_LOG_ALL);
	d = bi_open_ep(&o, BI_WWPN_A);
	if (!d) {
		vt_fail(__LINE__, "open");
		return NULL;
	}
	if (!(vsc_features_offered(d) & VSC_F(VHOST_F_LOG_ALL))) {
		vt_skip("VHOST_F_LOG_ALL not offered");
		return NULL;
	}
	if (!vt_clear_ua(d, BI_TGT, BI_LUN_HOLD))
		return NULL;
	*bm = log_start(d, 16384);
	return *bm ? d : NULL;
}

/* 20. log base changed while completions write the log */
VT_TEST(NULL, log_base_changed_under_load)
{
	struct vsc_opts o = bi_opts(256, VSC_F(VHOST_F_LOG_ALL));
	struct flood f = { 0 };
	size_t bmsz = 16384;
	uint8_t *bm1, *bm2, *snap;
	uint64_t b;
	struct vsc_req q;
	pthread_t th;
	uint8_t cdb[16];
	int k, r;

	f.d = bi_open_ep(&o, BI_WWPN_A);
	ASSERT(f.d, "open");
	if (!vsc_has_feature(f.d, VHOST_F_LOG_ALL))
		SKIP("VHOST_F_LOG_ALL not offered");
	bm1 = aligned_alloc(4096, bmsz);
	bm2 = aligned_alloc(4096, bmsz);
	snap = malloc(bmsz);
	ASSERT(bm1 && bm2 && snap, "alloc");
	memset(bm1, 0, bmsz);
	memset(bm2, 0, bmsz);
	b = log_base_for(f.d, bm1);
	r = vsc_ioctl(f.d, VHOST_SET_LOG_BASE, &b);
	ASSERT(!r, "SET_LOG_BASE: %s", vt_errstr(r));

	/* a READ must mark its data-in page dirty */
	vsc_req_init(f.d, &q, REQ, BI_TGT, BI_LUN_RD, cdb, vsc_cdb_rw(cdb, false, 10, 40, 8));
	q.din_len = 4096;
	ASSERT(!vsc_req_submit(f.d, &q), "submit");
	vsc_kick(f.d, REQ);
	ASSERT(!vsc_wait(f.d, &q.op, BI_TMO), "READ not answered");
	EXPECT_OR_DIFF(log_bit(f.d, bm1, q.din) && log_bit(f.d, bm1, q.din + 4095),
		       "data-in pages of a READ not marked in the dirty log");
	vsc_req_release(f.d, &q);

	/* under load, flip the log base between two bitmaps */
	f.n = 96;
	f.q = calloc(f.n, sizeof(*f.q));
	ASSERT(f.q, "alloc");
	ASSERT(!pthread_create(&th, NULL, flood_thread, &f), "thread");
	for (k = 0; k < 400; k++) {
		b = log_base_for(f.d, k & 1 ? bm2 : bm1);
		r = vsc_ioctl(f.d, VHOST_SET_LOG_BASE, &b);
		if (r)
			break;
		usleep(2000);
	}
	b = log_base_for(f.d, bm2);
	vsc_ioctl(f.d, VHOST_SET_LOG_BASE, &b);
	f.stop = true;
	pthread_join(th, NULL);
	ASSERT(k == 400, "SET_LOG_BASE under load failed at %d: %s", k, vt_errstr(r));
	ASSERT(!f.err, "flood: %s", vt_errstr(f.err));
	ASSERT(f.done > 50, "flood made no progress (%lu)", f.done);
	flood_release(&f);

	/* after the switch, only the new log is written */
	memcpy(snap, bm1, bmsz);
	memset(bm2, 0, bmsz);
	vsc_req_init(f.d, &q, REQ, BI_TGT, BI_LUN_RD, cdb, vsc_cdb_rw(cdb, false, 10, 40, 8));
	q.din_len = 4096;
	ASSERT(!vsc_req_submit(f.d, &q), "submit");
	vsc_kick(f.d, REQ);
	ASSERT(!vsc_wait(f.d, &q.op, BI_TMO), "READ not answered");
	ASSERT(!memcmp(snap, bm1, bmsz), "the old dirty log was written after SET_LOG_BASE");
	EXPECT_OR_DIFF(log_bit(f.d, bm2, q.din), "new dirty log not written");
	vsc_req_release(f.d, &q);
	if (!bi_healthy(f.d, "after"))
		return;

	/* a log base the device cannot write: an error or nothing, never a crash */
	{
		uint8_t *gone = mmap(NULL, bmsz, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t e0 = vsc_vq_errors(f.d, REQ);

		ASSERT(gone != MAP_FAILED, "mmap");
		munmap(gone, bmsz);
		b = log_base_for(f.d, gone);
		r = vsc_ioctl(f.d, VHOST_SET_LOG_BASE, &b);
		vt_note("SET_LOG_BASE to unmapped memory: %s", vt_errstr(r));
		vsc_req_init(f.d, &q, REQ, BI_TGT, BI_LUN_RD, cdb, vsc_cdb_rw(cdb, false, 10, 40, 8));
		q.din_len = 4096;
		ASSERT(!vsc_req_submit(f.d, &q), "submit");
		vsc_kick(f.d, REQ);
		r = vsc_wait(f.d, &q.op, 3000);
		vt_note("READ with an unwritable log: %s, vq errors +%llu", r ? "no answer" : "answered",
			(unsigned long long)(vsc_vq_errors(f.d, REQ) - e0));
		vsc_req_release(f.d, &q);
	}
	free(bm1);
	free(bm2);
	free(snap);
	bi_fresh_healthy(&f.d, BI_WWPN_A);
}

/*
 * 20b. A READ whose data-in fills the longest chain there is (header,
 * response and 1022 data descriptors: 1024, one page each) is logged
 * whole: every page it wrote is marked, the chain's last one included.
 * The device keeps its own log scratch for a chain; one entry short, it
 * would lose the tail or write past its end (KASAN on check-debug's kernel).
 * Upstream 6.1 logs no data pages.
 */
#define LONGLOG_DATA 1022

VT_TEST(NULL, log_covers_the_longest_chain)
{
	struct vsc_opts o = bi_opts(1024, VSC_F(VHOST_F_LOG_ALL));
	static struct bi_desc ds[LONGLOG_DATA + 2];
	struct vsc_buf *h, *w, *data;
	unsigned int k, unmarked = 0;
	struct vsc_result res;
	struct vsc_dev *d;
	struct vsc_op op = { 0 };
	uint8_t cdb[16];
	uint8_t *bm;

	d = bi_open_ep(&o, BI_WWPN_A);
	ASSERT(d, "open");
	if (!vsc_has_feature(d, VHOST_F_LOG_ALL))
		SKIP("VHOST_F_LOG_ALL not offered");
	if (!vt_clear_ua(d, BI_TGT, BI_LUN_RD))
		return;
	bm = log_start(d, 16384);
	if (!bm)
		return;
	memset(cdb, 0, sizeof(cdb));
	h = bi_req_hdr(d, BI_TGT, BI_LUN_RD, cdb, vsc_cdb_rw(cdb, false, 10, 0, LONGLOG_DATA), 0);
	w = bi_wbuf(d, RESP_SZ);
	data = bi_wbuf(d, (size_t)LONGLOG_DATA * 4096);
	ASSERT(h && w && data, "alloc");
	ds[0] = (struct bi_desc){ (uintptr_t)h->p, (uint32_t)h->len, VRING_DESC_F_NEXT, BI_NEXT_AUTO };
	ds[1] = (struct bi_desc){ (uintptr_t)w->p, RESP_SZ, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
				  BI_NEXT_AUTO };
	for (k = 0; k < LONGLOG_DATA; k++)
		ds[k + 2] = (struct bi_desc){ (uintptr_t)data->p + (uintptr_t)k * 4096, 512,
					      VRING_DESC_F_WRITE |
					      (k + 1 < LONGLOG_DATA ? VRING_DESC_F_NEXT : 0),
					      BI_NEXT_AUTO };
	ASSERT(!bi_post_raw(d, REQ, ds, LONGLOG_DATA + 2, &op), "post the 1024-descriptor chain");
	vsc_kick(d, REQ);
	ASSERT(!vsc_wait(d, &op, BI_TMO), "the 1024-descriptor READ was not answered");
	bi_resp_decode(w->p, &res);
	ASSERT(res.response == VIRTIO_SCSI_S_OK && res.status == SAM_STAT_GOOD,
	       "1024-descriptor READ: %s", vt_res(&res));
	for (k = 0; k < LONGLOG_DATA; k++)
		unmarked += !log_bit(d, bm, data->p + (size_t)k * 4096);
	vt_note("1024-descriptor READ: %u of %u data pages not in the dirty log%s", unmarked,
		LONGLOG_DATA, log_bit(d, bm, w->p) ? "" : ", nor the response's");
	EXPECT_OR_DIFF(!unmarked && log_bit(d, bm, w->p),
		       "pages a 1024-descriptor READ wrote are missing from the dirty log");
	free(bm);
	bi_fresh_healthy(&d, BI_WWPN_A);
}

#define LOGSW_READS 4
#define LOGSW_FILL 0x5a

struct features_arg {
	struct vsc_dev *d;
	uint64_t features;
	int r;
	struct vsc_req *q;
	uint8_t seen[LOGSW_READS][512];	/* data-in as SET_FEATURES returned */
};

static void *set_features_thread(void *p)
{
	struct features_arg *a = p;
	unsigned int k;

	a->r = vsc_ioctl(a->d, VHOST_SET_FEATURES, &a->features);
	for (k = 0; k < LOGSW_READS; k++)
		memcpy(a->seen[k], a->q[k].din, sizeof(a->seen[k]));
	return NULL;
}

/*
 * 21. dirty logging switched on while READs are in flight, as a live
 * migration starts under I/O.  The VMM copies every page after
 * SET_FEATURES(LOG_ALL) returns and then only what the log marks, so a
 * page written after that return must be in the log.  (tcm_vhost makes
 * SET_FEATURES wait for the commands taken before logging; logging them
 * would do too.)  Upstream 6.1 logs no data pages.
 */
VT_TEST_F(NULL, log_all_switched_on_inflight, BI_F_NEEDS_HOLD, NULL)
{
	static struct features_arg a;
	uint8_t fill[512];
	struct vsc_dev *d;
	struct vsc_req q[LOGSW_READS];
	unsigned int k;
	pthread_t th;
	uint8_t *bm;
	int r;

	d = log_dev_open(&bm);
	if (!d)
		return;

	ASSERT(!bi_hold(true), "dmsetup suspend");
	held_reads(d, q, LOGSW_READS);
	/* the device writes nothing while suspended */
	memset(fill, LOGSW_FILL, sizeof(fill));
	for (k = 0; k < LOGSW_READS; k++) {
		ASSERT(q[k].din, "held READ %u not submitted", k);
		memcpy(q[k].din, fill, sizeof(fill));
	}
	usleep(300000);
	memset(&a, 0, sizeof(a));
	a.d = d;
	a.q = q;
	a.features = vsc_features(d) | VSC_F(VHOST_F_LOG_ALL);
	ASSERT(!pthread_create(&th, NULL, set_features_thread, &a), "thread");
	usleep(300000);
	ASSERT(!bi_hold(false), "dmsetup resume");
	pthread_join(th, NULL);
	ASSERT(!a.r, "SET_FEATURES with LOG_ALL while READs are in flight: %s", vt_errstr(a.r));
	for (k = 0; k < LOGSW_READS; k++) {
		r = vsc_wait(d, &q[k].op, BI_TMO);
		ASSERT(!r, "held READ %u never answered", k);
		ASSERT(q[k].res.response == VIRTIO_SCSI_S_OK && q[k].res.status == SAM_STAT_GOOD,
		       "held READ %u: %s", k, vt_res(&q[k].res));
		ASSERT(memcmp(q[k].din, fill, sizeof(fill)),
		       "READ %u returned the fill pattern: the test cannot tell when it wrote", k);
		if (memcmp(q[k].din, a.seen[k], sizeof(fill)))
			EXPECT_OR_DIFF(log_bit(d, bm, q[k].din),
				       "READ %u wrote its data-in page after SET_FEATURES(LOG_ALL) returned, and the page is not in the dirty log",
				       k);
		vsc_req_release(d, &q[k]);
	}
	free(bm);
	bi_fresh_healthy(&d, BI_WWPN_A);
}

/* SET_FEATURES with or without LOG_ALL; false (test failed) on error. */
static bool log_all_set(struct vsc_dev *d, bool on)
{
	uint64_t f = vsc_features(d) & ~VSC_F(VHOST_F_LOG_ALL);
	int r;

	if (on)
		f |= VSC_F(VHOST_F_LOG_ALL);
	r = vsc_ioctl(d, VHOST_SET_FEATURES, &f);
	CHECK(!r, "SET_FEATURES %s LOG_ALL: %s", on ? "with" : "without", vt_errstr(r));
	return true;
}

struct tmf_log_arg {
	struct vsc_dev *d;
	struct vsc_ctl *tmf;
	bool ok;
	uint8_t seen;		/* the TMF's response byte as SET_FEATURES returned */
};

static void *log_all_on_thread(void *p)
{
	struct tmf_log_arg *a = p;

	a->ok = log_all_set(a->d, true);
	a->seen = a->tmf->bufs[1]->p[0];
	return NULL;
}

/*
 * 21b. #12.7: a TMF taken before dirty logging is switched on writes its
 * answer afterwards.  The READ an ABORT_TASK waits for is taken with
 * logging on (logged), logging is switched off, the abort is taken, and
 * logging switched on again: the abort's answer must come before
 * SET_FEATURES returns, or be in the dirty log.  (Not a LUN RESET: Debian's
 * 6.1 vhost_scsi corrupts its TMF list after one, and L1 then BUGs at the
 * next LUN unlink; it rejects ABORT_TASK at once.)
 */
VT_TEST_F(NULL, log_all_waits_for_tmf_taken_before, BI_F_NEEDS_HOLD | VT_F_UPSTREAM_SKIP,
	  "after this case in the full suite, Debian's 6.1 vhost_scsi left L1's memory corrupted (2 runs of 2: list_del corruption at a LUN unlink; a page fault in wakeup_flusher_threads at the next sync)")
{
	struct tmf_log_arg a = { 0 };
	struct vsc_dev *d;
	struct vsc_req q;
	struct vsc_ctl abort;
	pthread_t th;
	uint8_t *bm;
	int r;

	d = log_dev_open(&bm);
	if (!d || !log_all_set(d, true))
		return;
	ASSERT(!bi_hold(true), "dmsetup suspend");
	held_reads(d, &q, 1);
	usleep(200000);
	if (!log_all_set(d, false)) {
		bi_hold(false);
		return;
	}
	vsc_tmf_init(&abort, VIRTIO_SCSI_T_TMF_ABORT_TASK, BI_TGT, BI_LUN_HOLD, q.tag);
	r = vsc_ctl_submit(d, &abort);
	if (r) {
		bi_hold(false);
		ASSERT(0, "ABORT_TASK: %s", vt_errstr(r));
	}
	vsc_kick(d, VSC_VQ_CTL);
	usleep(300000);		/* taken, waiting for the held READ */
	a.d = d;
	a.tmf = &abort;
	ASSERT(!pthread_create(&th, NULL, log_all_on_thread, &a), "thread");
	usleep(300000);
	ASSERT(!bi_hold(false), "dmsetup resume");
	pthread_join(th, NULL);
	ASSERT(a.ok, "SET_FEATURES with LOG_ALL failed");
	ASSERT(!vsc_wait(d, &abort.op, BI_TMO), "ABORT_TASK never answered");
	vt_note("response byte as SET_FEATURES(LOG_ALL) returned: %#x, then %#x",
		a.seen, abort.bufs[1]->p[0]);
	if (a.seen != abort.bufs[1]->p[0])
		EXPECT_OR_DIFF(log_bit(d, bm, abort.bufs[1]->p),
			       "the ABORT_TASK taken before LOG_ALL answered after SET_FEATURES(LOG_ALL) returned, and its response page is not in the dirty log");
	ASSERT(!vsc_wait(d, &q.op, BI_TMO), "the READ never answered");
	vsc_ctl_release(d, &abort);
	vsc_req_release(d, &q);
	free(bm);
	bi_fresh_healthy(&d, BI_WWPN_A);
}

/*
 * 21c. dirty logging switched off while READs taken with it on are in
 * flight, as QEMU does when a migration is cancelled: it frees the log
 * then and sets no other base, so the memory may be QEMU's again.  The
 * READs' answers must not write the old log.
 */
VT_TEST_F(NULL, log_all_switched_off_inflight, BI_F_NEEDS_HOLD, NULL)
{
	const size_t bmsz = 16384;
	struct vsc_req q[LOGSW_READS];
	unsigned int k, set = 0;
	struct vsc_dev *d;
	uint8_t *bm;
	size_t i;

	d = log_dev_open(&bm);
	if (!d)
		return;
	ASSERT(log_all_set(d, true), "SET_FEATURES with LOG_ALL");
	ASSERT(!bi_hold(true), "dmsetup suspend");
	held_reads(d, q, LOGSW_READS);
	usleep(300000);
	for (k = 0; k < LOGSW_READS; k++)
		ASSERT(q[k].din && !q[k].op.done, "held READ %u not in flight", k);
	ASSERT(log_all_set(d, false), "SET_FEATURES without LOG_ALL");
	memset(bm, 0, bmsz);
	ASSERT(!bi_hold(false), "dmsetup resume");
	for (k = 0; k < LOGSW_READS; k++) {
		ASSERT(!vsc_wait(d, &q[k].op, BI_TMO), "held READ %u never answered", k);
		ASSERT(q[k].res.response == VIRTIO_SCSI_S_OK && q[k].res.status == SAM_STAT_GOOD,
		       "held READ %u: %s", k, vt_res(&q[k].res));
		vsc_req_release(d, &q[k]);
	}
	for (i = 0; i < bmsz; i++)
		set += __builtin_popcount(bm[i]);
	ASSERT(!set, "%u bits of the dirty log were set after SET_FEATURES without LOG_ALL returned",
	       set);
	free(bm);
	bi_fresh_healthy(&d, BI_WWPN_A);
}

/*
 * 21e. The vhost core lets a guest publish a head again before it is
 * answered.  TMFs finished while an ABORT TASK waits for a held READ wait
 * too (their answers follow it): a guest that keeps re-publishing one
 * QUERY TASK SET must get answers (rejections) once it has as many in
 * flight as its control ring has entries, not pile them up in the host.
 */
VT_TEST_F(NULL, tmfs_in_flight_bounded_by_the_ring, BI_F_NEEDS_HOLD, NULL)
{
	const unsigned int ring = 64, batches = 3;
	struct vsc_opts o = bi_opts(ring, 0);
	struct vsc_ctl abort, query;
	unsigned int b, k;
	uint16_t head, used;
	struct vsc_dev *d;
	struct vsc_req q;
	int r;

	d = bi_open_ep(&o, BI_WWPN_A);
	ASSERT(d, "open");
	if (!held_reads_start(d, &q, 1))
		return;
	vsc_tmf_init(&abort, VIRTIO_SCSI_T_TMF_ABORT_TASK, BI_TGT, BI_LUN_HOLD, q.tag);
	r = vsc_ctl_submit(d, &abort);
	vsc_tmf_init(&query, VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, BI_TGT, BI_LUN_HOLD, 0);
	if (!r)
		r = vsc_ctl_submit(d, &query);
	if (r) {
		bi_hold(false);
		ASSERT(0, "TMF submit: %s", vt_errstr(r));
	}
	head = vsc_raw_avail(d, VSC_VQ_CTL)->ring[(vsc_raw_avail_idx(d, VSC_VQ_CTL) - 1) % ring];
	vsc_kick_force(d, VSC_VQ_CTL);
	usleep(200000);
	/* a ring's worth at a time: the device must have taken one before the next */
	for (b = 0; b < batches; b++) {
		for (k = 0; k < ring - 2; k++)
			vsc_raw_publish(d, VSC_VQ_CTL, head, NULL, 0, NULL);
		vsc_kick_force(d, VSC_VQ_CTL);
		usleep(300000);
	}
	used = vsc_raw_used_idx(d, VSC_VQ_CTL);
	ASSERT(!bi_hold(false), "dmsetup resume");
	vt_note("%u of %u control requests answered while the READ was held", used,
		2 + batches * (ring - 2));
	ASSERT(used >= batches * (ring - 2) + 2 - ring,
	       "%u of %u TMFs answered while an ABORT TASK waited: more than the ring's %u held",
	       used, 2 + batches * (ring - 2), ring);
	ASSERT(!vsc_vq_errors(d, VSC_VQ_CTL), "vq_err on the control queue");
	/* libvsc's bookkeeping is off now (stray used entries): use a fresh device */
	bi_fresh_healthy(&d, BI_WWPN_A);
}

struct mem_table_arg {
	struct vsc_dev *d;
	int r;
	uint16_t used;		/* the request queue's used index as the ioctl returned */
};

static void *mem_table_thread(void *p)
{
	struct mem_table_arg *a = p;

	a->r = vsc_set_mem_table(a->d);
	a->used = __atomic_load_n(&vsc_raw_used(a->d, REQ)->idx, __ATOMIC_ACQUIRE);
	return NULL;
}

/*
 * 21d. the VMM changes the memory table while READs are in flight (a
 * DIMM unplugged, a region remapped), and may unmap the old addresses
 * once VHOST_SET_MEM_TABLE returns: by then every request taken before
 * must have its answer written.  Here the table is the same, so the
 * answers that come later are harmless and can be counted.
 */
VT_TEST_F(NULL, mem_table_change_waits_for_inflight, BI_F_NEEDS_HOLD, NULL)
{
	struct mem_table_arg a = { 0 };
	struct vsc_req q[LOGSW_READS];
	struct vsc_dev *d;
	uint16_t before;
	pthread_t th;
	unsigned int k;

	d = bi_open_ep(NULL, BI_WWPN_A);
	ASSERT(d, "open");
	if (!held_reads_start(d, q, LOGSW_READS))
		return;
	before = vsc_raw_used(d, REQ)->idx;	/* after the UNIT ATTENTION's answer */
	for (k = 0; k < LOGSW_READS; k++)
		ASSERT(q[k].din && !q[k].op.done, "held READ %u not in flight", k);
	a.d = d;
	ASSERT(!pthread_create(&th, NULL, mem_table_thread, &a), "thread");
	usleep(300000);
	ASSERT(!bi_hold(false), "dmsetup resume");
	pthread_join(th, NULL);
	ASSERT(!a.r, "SET_MEM_TABLE: %s", vt_errstr(a.r));
	ASSERT((uint16_t)(a.used - before) == LOGSW_READS,
	       "SET_MEM_TABLE returned with %u of the %u READs taken before it answered",
	       (uint16_t)(a.used - before), LOGSW_READS);
	for (k = 0; k < LOGSW_READS; k++) {
		ASSERT(!vsc_wait(d, &q[k].op, BI_TMO), "held READ %u never answered", k);
		ASSERT(q[k].res.response == VIRTIO_SCSI_S_OK && q[k].res.status == SAM_STAT_GOOD,
		       "held READ %u: %s", k, vt_res(&q[k].res));
		vsc_req_release(d, &q[k]);
	}
	bi_fresh_healthy(&d, BI_WWPN_A);
}

/*
 * 22. #12.7: a READ with data-in PI writes response, PI and data, in that
 * order in its writable descriptors.  The used length and the dirty log
 * must cover all three: 4 KiB of PI for 256 KiB of data puts the data's
 * last page past a log that counted response and data only (the data-in
 * buffer the client posts holds the PI, then the data).
 */
VT_TEST(NULL, log_covers_pi_in)
{
	const uint32_t data = 256 * 1024, pi = data / 512 * 8;
	struct vsc_opts o = bi_opts(64, VSC_F(VHOST_F_LOG_ALL) | VSC_F(VIRTIO_SCSI_F_T10_PI));
	size_t bmsz = 16384;
	struct vsc_dev *d;
	struct vsc_req q;
	uint8_t cdb[16], *bm;
	uint32_t used;

	d = bi_open_ep(&o, BI_WWPN_A);
	ASSERT(d, "open");
	if (!vsc_has_feature(d, VHOST_F_LOG_ALL) || !vsc_has_feature(d, VIRTIO_SCSI_F_T10_PI))
		SKIP("VHOST_F_LOG_ALL or T10_PI not offered");
	bm = log_start(d, bmsz);
	if (!bm)
		return;
	vsc_req_init(d, &q, REQ, BI_TGT, BI_LUN_RD, cdb,
		     vsc_cdb_rw(cdb, false, 10, 64, data / 512));
	q.din_len = pi + data;	/* the PI-in bytes come first in the data-in buffer */
	q.pi_bytesin = pi;
	ASSERT(!vsc_req_submit(d, &q), "submit");
	vsc_kick(d, REQ);
	ASSERT(!vsc_wait(d, &q.op, BI_TMO), "READ with PI not answered");
	used = q.op.used_len;
	ASSERT(q.res.response == VIRTIO_SCSI_S_OK && q.res.status == SAM_STAT_GOOD,
	       "READ with %u bytes of PI-in: %s", pi, vt_res(&q.res));
	EXPECT_OR_DIFF(used == sizeof(struct virtio_scsi_cmd_resp) + pi + data,
		       "used length %u, want response + %u PI + %u data", used, pi, data);
	EXPECT_OR_DIFF(log_bit(d, bm, q.din) && log_bit(d, bm, q.din + pi + data - 1),
		       "first/last data-in page of a READ with PI-in not in the dirty log (%d/%d)",
		       log_bit(d, bm, q.din), log_bit(d, bm, q.din + pi + data - 1));
	vsc_req_release(d, &q);
	free(bm);
	bi_fresh_healthy(&d, BI_WWPN_A);
}

/*
 * 13'. misaligned many-segment I/O to a block backstore (the iblock LUN, not
 * suspended).  Not run against Debian's vhost_scsi, which hands such
 * segments to the block layer as they are: once, L1 took a list_del
 * corruption BUG in writeback right after this case.
 */
VT_TEST_F(NULL, misaligned_iblock, BI_F_NEEDS_HOLD | VT_F_UPSTREAM_SKIP,
	  "upstream passes misaligned segments to the block layer unbounced; L1 crashed after it once (list_del corruption)")
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	static uint8_t buf[256 * 1024];
	struct vsc_layout l = { .data_split = 1000, .misalign = 13, .indirect = true };
	unsigned int k;

	ASSERT(d, "open");
	if (!vt_clear_ua(d, BI_TGT, BI_LUN_HOLD))
		return;
	vt_fill(buf, sizeof(buf));
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_HOLD, true, 16, 64, 512, buf, &l))
		return;
	l.data_split = 4093;
	l.misalign = 61;
	memset(buf, 0x5a, sizeof(buf));
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_HOLD, false, 16, 64, 512, buf, &l))
		return;
	for (k = 0; k < sizeof(buf); k++)	/* dm "zero" reads back zeros */
		ASSERT(!buf[k], "byte %u of a misaligned READ from the zero device is %#x", k, buf[k]);
	l.data_split = 1;	/* 1-byte segments */
	l.indirect = true;
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_HOLD, false, 16, 64, 1, buf, &l))
		return;
	bi_healthy(d, "after");
}

/*
 * #12.8: inline_sg (0644) written while pools are being carved.  Each
 * attach carves a pool with inline_sg entries per command, reading the
 * parameter once; a writer flips it between 1 and 2048 while devices
 * attach, fill their rings with 2-page WRITEs (so that 64 of the 73
 * commands' arrays are in use at once, each beyond a 1-entry slice), read
 * them back and close.  Every byte must come back.  Carving with two values
 * (sizing the arrays with one and cutting them with the other) points a
 * command's entries past the arrays or over its neighbours': the data
 * compare sees the second, KASAN (make check-debug) the first.
 */
#define ISG_PARAM VSC_TVH_PARAM("inline_sg")
#define ISG_CMDS 64		/* the ring's size: every entry in flight */
#define ISG_BLOCKS 16		/* 2 pages each */

struct isg_flipper {
	volatile bool stop;
	unsigned long flips;
};

static void *isg_flip_thread(void *p)
{
	struct isg_flipper *f = p;
	static const char *const v[] = { "1\n", "2048\n" };

	while (!f->stop) {
		int fd = open(ISG_PARAM, O_WRONLY);

		if (fd < 0)
			break;
		if (write(fd, v[f->flips & 1], strlen(v[f->flips & 1])) > 0)
			f->flips++;
		close(fd);
	}
	return NULL;
}

/* ISG_CMDS commands at once (@wr: WRITEs of @bufs, else READs), answered GOOD. */
static bool isg_ring_full(struct vsc_dev *d, bool wr, const uint8_t *bufs)
{
	static struct vsc_req q[ISG_CMDS];
	const size_t len = ISG_BLOCKS * 512;
	uint8_t cdb[16];
	int j, n, good = 0, same = 0;

	for (n = 0; n < ISG_CMDS; n++) {
		vsc_req_init(d, &q[n], REQ, BI_TGT, BI_LUN_RD, cdb,
			     vsc_cdb_rw(cdb, wr, 10, (uint64_t)n * ISG_BLOCKS, ISG_BLOCKS));
		q[n].layout.indirect = true;	/* one ring entry each */
		if (wr) {
			q[n].dout = bufs + n * len;
			q[n].dout_len = len;
		} else {
			q[n].din_len = len;
		}
		if (vsc_req_submit(d, &q[n]))
			break;
	}
	vsc_kick(d, REQ);
	for (j = 0; j < n; j++) {
		if (vsc_wait(d, &q[j].op, BI_TMO))
			return false;
		good += q[j].res.response == VIRTIO_SCSI_S_OK && q[j].res.status == SAM_STAT_GOOD;
		if (!wr)
			same += !memcmp(q[j].din, bufs + j * len, len);
		vsc_req_release(d, &q[j]);
	}
	CHECK(n == ISG_CMDS && good == n, "%s: %d of %d good", wr ? "WRITEs" : "READs", good, n);
	CHECK(wr || same == n, "%d of %d READs returned other data than was written", n - same, n);
	return true;
}

static bool isg_all_commands(struct vsc_dev *d, uint8_t *bufs)
{
	vt_fill(bufs, (size_t)ISG_CMDS * ISG_BLOCKS * 512);
	return isg_ring_full(d, true, bufs) && isg_ring_full(d, false, bufs) &&
	       bi_healthy(d, "while inline_sg changes");
}

VT_TEST(NULL, inline_sg_changed_during_attach)
{
	struct isg_flipper f = { 0 };
	struct vsc_opts o = bi_opts(ISG_CMDS, 0);
	size_t all = (size_t)ISG_CMDS * ISG_BLOCKS * 512;
	uint8_t *bufs;
	char old[32] = "";
	pthread_t th;
	int fd, k;
	ssize_t n;

	fd = open(ISG_PARAM, O_RDONLY);
	if (fd < 0)
		SKIP("no %s (not tcm_vhost)", ISG_PARAM);
	n = read(fd, old, sizeof(old) - 1);
	close(fd);
	ASSERT(n > 0, "read %s", ISG_PARAM);
	bufs = malloc(all);
	ASSERT(bufs, "malloc");
	ASSERT(!pthread_create(&th, NULL, isg_flip_thread, &f), "thread");
	vt_alarm(240);	/* 60 attaches: about 100 s under KASAN */
	for (k = 0; k < 60; k++) {
		struct vsc_dev *d = bi_open_ep(&o, BI_WWPN_A);

		if (!d || !isg_all_commands(d, bufs))
			break;
		bi_close(d);
	}
	f.stop = true;
	pthread_join(th, NULL);
	fd = open(ISG_PARAM, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, old, strlen(old)) < 0)
			vt_note("could not restore inline_sg");
		close(fd);
	}
	free(bufs);
	ASSERT(k == 60, "attach %d failed while inline_sg changed", k);
	ASSERT(f.flips > 100, "inline_sg flipped only %lu times: the test cannot tell", f.flips);
	vt_note("60 attaches while inline_sg was written %lu times", f.flips);
}

/*
 * #12.9: owners that close while both request queues are answering.  The
 * last command of a queue may be recycled by target_core's completion work
 * just as release, woken by the other queue, finds the device idle and
 * frees it: that recycling must not touch the device after its count
 * reached 0.  The window is a few instructions, and this test has not
 * shown it even widened to 200 ms under KASAN: the last recycling almost
 * always runs in the queue's own thread, which release waits for.  It
 * proves that closing under answers on two queues is clean;
 * close_while_last_recycle_waits reaches the window.
 */
VT_TEST(NULL, close_while_two_queues_answer)
{
	static struct vsc_req q[2][64];
	struct vsc_opts o = bi_opts(64, 0);
	uint8_t cdb[16];
	int round, v, n;

	o.num_req_queues = 2;
	for (round = 0; round < 20; round++) {
		struct vsc_dev *d = bi_open_ep(&o, BI_WWPN_A);

		ASSERT(d, "round %d: open", round);
		for (v = 0; v < 2; v++) {
			for (n = 0; n < 64; n++) {
				vsc_req_init(d, &q[v][n], VSC_VQ_REQ(v), BI_TGT, BI_LUN_RD, cdb,
					     vsc_cdb_rw(cdb, false, 10, (uint64_t)n * 8, 8));
				q[v][n].layout.indirect = true;
				q[v][n].din_len = 4096;
				if (vsc_req_submit(d, &q[v][n]))
					break;
			}
			vsc_kick(d, VSC_VQ_REQ(v));
		}
		bi_close(d);	/* the answers still coming */
	}
	bi_healthy(bi_open_ep(NULL, BI_WWPN_A), "a fresh device after");
}

/*
 * The helper module of close_while_last_recycle_waits (tests/kmod): its
 * .ko named by TCMV_WAKE_DELAY_KO, which make check-debug sets.
 */
#define WD_NAME "tvh_wake_delay"
#define WD_PARAM "/sys/module/" WD_NAME "/parameters/"

/* The helper's parameter @param (libvsc reads any attribute file), -1 if unreadable. */
static int wd_read(const char *param)
{
	char path[128], buf[32] = "";

	snprintf(path, sizeof(path), WD_PARAM "%s", param);
	return vsc_cfs_read(path, buf, sizeof(buf)) || !buf[0] ? -1 : atoi(buf);
}

static bool wd_write(const char *param, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), WD_PARAM "%s", param);
	return !vsc_cfs_write(path, val);
}

/* Loads the helper; false with the reason in @why if it cannot be. */
static bool wd_load(char *why, size_t len)
{
	const char *ko = getenv("TCMV_WAKE_DELAY_KO");
	int fd, r;

	if (!ko || !*ko) {
		snprintf(why, len, "no helper module: TCMV_WAKE_DELAY_KO is not set "
			 "(make check-debug builds tests/kmod for the debug kernel)");
		return false;
	}
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "helper module %s: %s", ko, strerror(errno));
		return false;
	}
	r = (int)syscall(SYS_finit_module, fd, "", 0);
	if (r)
		snprintf(why, len, "helper module %s does not load on this kernel: %s", ko,
			 strerror(errno));
	close(fd);
	return !r;
}

/* Unloads the helper, once no wrapper of it runs any more. */
static void wd_unload(void)
{
	int k;

	wd_write("armed", "0");
	for (k = 0; k < 100; k++) {
		if (!syscall(SYS_delete_module, WD_NAME, O_NONBLOCK) || errno == ENOENT)
			return;
		usleep(100000);
	}
	FAIL("the helper module %s does not unload: %s", WD_NAME, strerror(errno));
}

/* /dev/kmsg read from now on (non-blocking), or -1. */
static int kmsg_open_now(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The first kernel message since kmsg_open_now() with @needle, into @out. */
static bool kmsg_find(int fd, const char *needle, char *out, size_t len)
{
	char rec[1024];
	ssize_t n;

	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		const char *msg;

		if (n < 0)
			continue;	/* records overwritten meanwhile */
		rec[n] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		if (strstr(msg, needle)) {
			snprintf(out, len, "%.*s", (int)strcspn(msg, "\n"), msg);
			return true;
		}
	}
	return false;
}

/*
 * Without kasan_multi_shot KASAN reports only its first bug: one already
 * in the log (into @out) hides any later one.
 */
static bool kasan_spent(char *out, size_t len)
{
	char cmdline[2048] = "";
	bool found;
	int fd;

	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, cmdline, sizeof(cmdline) - 1) < 0)
			cmdline[0] = 0;
		close(fd);
	}
	if (strstr(cmdline, "kasan_multi_shot"))
		return false;
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	found = kmsg_find(fd, "BUG: KASAN", out, len);
	close(fd);
	return found;
}

/* One READ held in the suspended hold LUN on each of the two request queues. */
static bool held_read_per_queue(struct vsc_dev *d, struct vsc_req *q)
{
	uint8_t cdb[16];
	unsigned int v;

	if (!vt_clear_ua(d, BI_TGT, BI_LUN_HOLD))
		return false;
	CHECK(!bi_hold(true), "dmsetup suspend");
	for (v = 0; v < 2; v++) {
		vsc_req_init(d, &q[v], VSC_VQ_REQ(v), BI_TGT, BI_LUN_HOLD, cdb,
			     vsc_cdb_rw(cdb, false, 10, v, 1));
		q[v].din_len = 512;
		CHECK(!vsc_req_submit(d, &q[v]), "READ on request queue %u", v);
		vsc_kick_force(d, VSC_VQ_REQ(v));
	}
	usleep(300000);
	return true;
}

struct wd_result {
	int puts, waits, waits_in_rcu, overtaken;
	char kasan[300];
};

/*
 * Close @d (both queues' READs held) with the helper armed, then let the
 * READs go; waits until the delayed wake-up is done.
 */
static void close_with_delays(struct vsc_dev *d, struct wd_result *res)
{
	int kmsg = kmsg_open_now(), k;
	pthread_t closer;

	wd_write("armed", "1");
	vt_untrack(d);
	if (pthread_create(&closer, NULL, close_thread, d)) {
		FAIL("thread");
		bi_hold(false);
		vsc_close(d);
	} else {
		usleep(500000);		/* release waits for the two READs now */
		bi_hold(false);
		pthread_join(closer, NULL);
	}
	for (k = 0; k < 200 && wd_read("wakes_delayed") + wd_read("wakes_delayed_in_rcu") < 1; k++)
		usleep(50000);
	res->puts = wd_read("puts_delayed");
	res->waits = wd_read("wakes_delayed");
	res->waits_in_rcu = wd_read("wakes_delayed_in_rcu");
	res->overtaken = wd_read("overtaken");
	usleep(200000);		/* the wrapper returns */
	res->kasan[0] = 0;
	if (kmsg >= 0) {
		kmsg_find(kmsg, "KASAN", res->kasan, sizeof(res->kasan));
		close(kmsg);
	}
}

/*
 * #12.9, with the window held open (tests/kmod/tvh_wake_delay.c): a device
 * with a READ held on each of two request queues is closed; once release
 * waits for them, they go.  target_core's completion work of each is made
 * to drop the command's last reference, so that the recycling runs there,
 * outside every thread release stops; the first queue's last recycling
 * then waits 3 s right after its count reached 0, before it wakes release
 * (__wake_up() on the device's idle_wq).  Meanwhile the other queue's
 * recycling wakes release, which finds both queues idle.  Release must not
 * free the device before the waiting recycling is done with it (its RCU
 * read side, release's synchronize_rcu()); if it does, KASAN reports the
 * wake-up's use after free.  Needs the helper module (make check-debug)
 * and a KASAN that has not reported yet, or runs with kasan_multi_shot.
 */
VT_TEST_F(NULL, close_while_last_recycle_waits, BI_F_NEEDS_HOLD, NULL)
{
	struct vsc_opts o = bi_opts(16, 0);
	struct wd_result res;
	struct vsc_req q[2];
	struct vsc_dev *d;
	char why[300];

	if (!wd_load(why, sizeof(why)))
		SKIP("%s", why);
	if (kasan_spent(res.kasan, sizeof(res.kasan))) {
		wd_unload();
		ASSERT(0, "KASAN reported before this test, and without kasan_multi_shot "
		       "only once: the test cannot tell (%s)", res.kasan);
	}
	o.num_req_queues = 2;
	d = bi_open_ep(&o, BI_WWPN_A);
	if (!d || !held_read_per_queue(d, q)) {
		bi_hold(false);
		wd_unload();
		ASSERT(0, "no READ held on each queue");
	}
	close_with_delays(d, &res);
	wd_unload();
	vt_note("%d puts delayed; %d recycling(s) waited outside any RCU read side, %d inside; "
		"release woken %d time(s) meanwhile", res.puts, res.waits, res.waits_in_rcu,
		res.overtaken);
	ASSERT(!res.kasan[0], "after the close: %s", res.kasan);
	ASSERT(res.waits + res.waits_in_rcu == 1,
	       "no recycling waited after its count reached 0: the test cannot tell");
	ASSERT(res.overtaken > 0,
	       "release was not woken while the last recycling waited: the test cannot tell");
	bi_healthy(bi_open_ep(NULL, BI_WWPN_A), "a fresh device after");
}

/* ------------------------------------- an answer on its way (userfaultfd) */

/*
 * A page of guest memory that the device's writes stop at: userfaultfd
 * write-protects it, so the thread writing an answer there sleeps in the
 * fault until the test lets it go (and the test sees that it got there).
 */
struct wp_page {
	int fd;
	struct uffdio_range range;
};

static bool wp_arm(struct wp_page *w, void *page)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .mode = UFFDIO_WRITEPROTECT_MODE_WP };

	w->range = (struct uffdio_range){ (uintptr_t)page, (uint64_t)sysconf(_SC_PAGESIZE) };
	w->fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (w->fd < 0)
		return false;
	reg.range = w->range;
	wp.range = w->range;
	if (ioctl(w->fd, UFFDIO_API, &api) || ioctl(w->fd, UFFDIO_REGISTER, &reg) ||
	    ioctl(w->fd, UFFDIO_WRITEPROTECT, &wp)) {
		close(w->fd);
		w->fd = -1;
		return false;
	}
	return true;
}

/* Waits up to @ms for a write fault on the page; true if one came. */
static bool wp_faulted(struct wp_page *w, int ms)
{
	struct pollfd p = { .fd = w->fd, .events = POLLIN };
	struct uffd_msg m;

	if (poll(&p, 1, ms) != 1 || read(w->fd, &m, sizeof(m)) != sizeof(m))
		return false;
	return m.event == UFFD_EVENT_PAGEFAULT && (m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP);
}

/* Lifts the protection (waking whoever waits on it) and closes. */
static void wp_release(struct wp_page *w)
{
	struct uffdio_writeprotect wp = { .range = w->range, .mode = 0 };

	if (w->fd < 0)
		return;
	if (ioctl(w->fd, UFFDIO_WRITEPROTECT, &wp))
		vt_note("UFFDIO_WRITEPROTECT off: %s", vt_errstr(-errno));
	close(w->fd);
	w->fd = -1;
}

/*
 * #12 (also checked): QUERY TASK SET while the device writes a command's
 * answer.  A TEST UNIT READY's response buffer is the only thing in a
 * write-protected page, so the queue's thread stops in the middle of
 * answering it (the test sees the fault).  A command whose answer is on its
 * way is no task in the task set: FUNCTION COMPLETE, not SUCCEEDED.  Then
 * the page is let go and both answers arrive.
 */
VT_TEST_BEYOND(NULL, query_task_set_skips_answer_on_its_way,
	       "upstream answers every TMF but LOGICAL_UNIT_RESET FUNCTION_REJECTED")
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct wp_page wp = { .fd = -1 };
	struct vsc_buf *h, *w;
	struct vsc_result res;
	struct vsc_op op = { 0 };
	struct bi_desc ds[2];
	struct vsc_ctl c;
	uint8_t cdb[16] = { 0 };	/* TEST UNIT READY */
	uint8_t *page;
	bool stopped;
	int r;

	ASSERT(d, "open");
	ASSERT(vt_clear_ua(d, BI_TGT, BI_LUN_RD), "unit attention");
	h = bi_req_hdr(d, BI_TGT, BI_LUN_RD, cdb, 6, 0);
	w = bi_wbuf(d, 3 * pg);
	ASSERT(h && w, "alloc");
	page = (uint8_t *)(((uintptr_t)w->p + pg - 1) & ~(uintptr_t)(pg - 1));
	memset(page, 0xa5, RESP_SZ);
	if (!wp_arm(&wp, page))
		SKIP("no userfaultfd write protection here: %s", vt_errstr(-errno));
	ds[0] = (struct bi_desc){ (uintptr_t)h->p, (uint32_t)h->len, VRING_DESC_F_NEXT, BI_NEXT_AUTO };
	ds[1] = (struct bi_desc){ (uintptr_t)page, RESP_SZ, VRING_DESC_F_WRITE, BI_NEXT_AUTO };
	if (bi_post_raw(d, REQ, ds, 2, &op)) {
		wp_release(&wp);
		ASSERT(0, "post");
	}
	vsc_kick(d, REQ);
	stopped = wp_faulted(&wp, BI_TMO);
	if (!stopped) {
		wp_release(&wp);
		ASSERT(0, "the TUR's answer never reached its page");
	}
	vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, BI_TGT, BI_LUN_RD, 0);
	r = vsc_ctl_submit(d, &c);
	if (!r) {
		vsc_kick(d, VSC_VQ_CTL);
		/* The TMF looks at the task set first, then waits for the queue. */
		r = vsc_wait(d, &c.op, 1000);
	}
	wp_release(&wp);
	ASSERT(!vsc_wait(d, &op, BI_TMO), "no answer to the TUR after its page was let go");
	if (r == -ETIMEDOUT)
		r = vsc_wait(d, &c.op, BI_TMO);
	ASSERT(!r, "QUERY TASK SET: %s", vt_errstr(r));
	bi_resp_decode(page, &res);
	ASSERT(res.response == VIRTIO_SCSI_S_OK && res.status == SAM_STAT_GOOD,
	       "TUR: response %u status %#x", res.response, res.status);
	/* FUNCTION COMPLETE shares OK's value */
	ASSERT(c.response == VIRTIO_SCSI_S_OK,
	       "QUERY TASK SET while the only command's answer was being written: %s, want FUNCTION_COMPLETE",
	       vsc_response_name(c.response));
	vsc_ctl_release(d, &c);
	bi_healthy(d, "after");
}
