// SPDX-License-Identifier: GPL-2.0
/* Virtqueue counts, ring sizes, deep queues, feature variants. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft.h"

#define LUN0_BLOCKS (RD16_BYTES / BS)

/*
 * Keeps up to @depth READ/WRITE commands in flight on each of @nq request
 * queues, @total commands per queue, checking every read against what the
 * queue wrote before (each queue owns a disjoint LBA range).
 */
struct qstate {
	unsigned int vq;
	uint64_t base;		/* first lba of the queue's range */
	uint32_t nblk;		/* blocks per command */
	unsigned int slots;	/* range = slots * nblk */
	uint8_t *shadow;	/* expected contents of the range */
	bool *written;
	bool *inuse;		/* slot has a command in flight */
};

struct qio {
	struct vsc_req r;
	struct qstate *q;
	unsigned int slot;
	bool write;
	uint8_t *wbuf;
	bool busy;
};

static bool qio_submit(struct vsc_dev *d, struct qio *io, struct qstate *q, bool indirect)
{
	uint8_t cdb[16];
	size_t len = (size_t)q->nblk * BS;
	unsigned int n;
	int e;

	io->q = q;
	do
		io->slot = (unsigned int)(vt_rand() % q->slots);
	while (q->inuse[io->slot]);
	q->inuse[io->slot] = true;
	io->write = !q->written[io->slot] || (vt_rand() & 1);
	n = vsc_cdb_rw(cdb, io->write, 10, q->base + (uint64_t)io->slot * q->nblk, q->nblk);
	vsc_req_init(d, &io->r, q->vq, 1, 0, cdb, n);
	io->r.layout.indirect = indirect;
	if (io->write) {
		vt_fill(io->wbuf, len);
		io->r.dout = io->wbuf;
		io->r.dout_len = len;
		/* expected content is updated at submit: one command per slot at a time */
		memcpy(q->shadow + (size_t)io->slot * len, io->wbuf, len);
		q->written[io->slot] = true;
	} else {
		io->r.din_len = len;
	}
	e = vsc_req_submit(d, &io->r);
	CHECK(!e, "submit on vq %u: %s", q->vq, vt_errstr(e));
	io->busy = true;
	return true;
}

static bool qio_check(struct vsc_dev *d, struct qio *io)
{
	size_t len = (size_t)io->q->nblk * BS;
	bool ok = true;

	if (io->r.canary_err) {
		vt_fail(__LINE__, "canary damaged");
		ok = false;
	} else if (io->r.res.response || io->r.res.status) {
		vt_fail(__LINE__, "vq %u %s: %s", io->q->vq, io->write ? "WRITE" : "READ",
			vt_res(&io->r.res));
		ok = false;
	} else if (!io->write && memcmp(io->r.din, io->q->shadow + (size_t)io->slot * len, len)) {
		vt_fail(__LINE__, "vq %u slot %u: read data differs from last write", io->q->vq,
			io->slot);
		ok = false;
	}
	vsc_req_release(d, &io->r);
	io->q->inuse[io->slot] = false;
	io->busy = false;
	return ok;
}

static bool run_queues(struct vsc_dev *d, unsigned int nq, unsigned int depth, unsigned int total,
		       uint32_t nblk, bool indirect)
{
	struct qstate *qs = calloc(nq, sizeof(*qs));
	struct qio *ios = calloc((size_t)nq * depth, sizeof(*ios));
	unsigned int *done = calloc(nq, sizeof(*done)), *sent = calloc(nq, sizeof(*sent));
	unsigned int q, i, slots = depth * 2 + 4;
	uint64_t deadline = vsc_now_ns() + 60ULL * 1000000000;
	bool ok = false;

	for (q = 0; q < nq; q++) {
		qs[q].vq = VSC_VQ_REQ(q);
		qs[q].nblk = nblk;
		qs[q].slots = slots;
		qs[q].base = (uint64_t)q * slots * nblk;
		qs[q].shadow = vt_xmalloc((size_t)slots * nblk * BS);
		qs[q].written = calloc(slots, sizeof(bool));
		qs[q].inuse = calloc(slots, sizeof(bool));
		if (qs[q].base + (uint64_t)slots * nblk > LUN0_BLOCKS) {
			vt_fail(__LINE__, "test too large for the LUN");
			goto out;
		}
	}
	for (i = 0; i < nq * depth; i++)
		ios[i].wbuf = vt_xmalloc((size_t)nblk * BS);
	for (;;) {
		bool all = true;

		for (q = 0; q < nq; q++) {
			/* refill this queue */
			for (i = q * depth; i < (q + 1) * depth && sent[q] < total; i++) {
				if (ios[i].busy)
					continue;
				if (!qio_submit(d, &ios[i], &qs[q], indirect))
					goto out;
				sent[q]++;
			}
			vsc_kick(d, qs[q].vq);
			if (done[q] < total)
				all = false;
		}
		if (all)
			break;
		if (vsc_now_ns() > deadline) {
			vt_fail(__LINE__, "timeout: %u/%u done on vq %u", done[0], total, qs[0].vq);
			goto out;
		}
		if (vsc_reap_all(d, 1000) < 0) {
			vt_fail(__LINE__, "reap failed");
			goto out;
		}
		for (i = 0; i < nq * depth; i++) {
			if (ios[i].busy && ios[i].r.op.done) {
				if (!qio_check(d, &ios[i]))
					goto out;
				done[ios[i].q - qs]++;
			}
		}
	}
	ok = true;
out:
	for (i = 0; i < nq * depth; i++) {
		if (ios[i].busy)
			vsc_req_release(d, &ios[i].r);
		free(ios[i].wbuf);
	}
	for (q = 0; q < nq; q++) {
		free(qs[q].shadow);
		free(qs[q].written);
		free(qs[q].inuse);
	}
	free(qs);
	free(ios);
	free(done);
	free(sent);
	return ok;
}

static void queues(unsigned int nq)
{
	struct vsc_opts o = { .num_req_queues = nq, .ring_size = 128 };
	struct vsc_dev *d = ft_open_ep(&o);

	if (d)
		run_queues(d, nq, 16, 200, 8, true);
}

VT_TEST("queue", request_queues_1)
{
	queues(1);
}

VT_TEST("queue", request_queues_2)
{
	queues(2);
}

VT_TEST("queue", request_queues_4)
{
	queues(4);
}

VT_TEST("queue", request_queues_8)
{
	queues(8);
}

VT_TEST("queue", request_queue_last_of_16)
{
	/* only the highest of 16 request queues is used */
	struct vsc_opts o = { .num_req_queues = 16, .ring_size = 64 };
	struct vsc_dev *d = ft_open_ep(&o);

	if (d)
		ft_verify_rw(d, VSC_VQ_REQ(15), 1, 0, 10, 777, 8, NULL, NULL);
}

static void ring_size(unsigned int num)
{
	struct vsc_opts o = { .ring_size = num };
	struct vsc_dev *d = ft_open_ep(&o);
	struct vsc_layout ind = { .indirect = true };
	struct vsc_req *rs;
	unsigned int i, n;
	uint8_t cdb[16];
	int e;

	if (!d)
		return;
	/*
	 * Ring size semantics: a chain can't be longer than the ring. A plain
	 * WRITE needs 3 descriptors (header, data, response); with ANY_LAYOUT
	 * header+data and response+data-in fit in 2; ring size 1 needs indirect.
	 */
	if (num >= 4) {
		ft_verify_rw(d, VSC_VQ_REQ(0), 1, 0, 10, 100, 4, NULL, NULL);
	} else if (num == 2) {
		struct vsc_layout m = { .merge_out = true, .merge_in = true };

		ft_verify_rw(d, VSC_VQ_REQ(0), 1, 0, 10, 100, 4, &m, &m);
	}
	if (vt_failed())
		return;
	ft_verify_rw(d, VSC_VQ_REQ(0), 1, 0, 10, 200, 4, &ind, &ind);
	if (vt_failed())
		return;
	/* fill the whole ring with indirect READs at once */
	n = num;
	rs = calloc(n, sizeof(*rs));
	for (i = 0; i < n; i++) {
		vsc_req_init(d, &rs[i], VSC_VQ_REQ(0), 1, 0, cdb,
			     vsc_cdb_rw(cdb, false, 10, 200 + (i % 4), 1));
		rs[i].din_len = BS;
		rs[i].layout.indirect = true;
		e = vsc_req_submit(d, &rs[i]);
		if (e) {
			vt_fail(__LINE__, "submit %u of %u: %s", i, n, vt_errstr(e));
			break;
		}
	}
	if (!vt_failed()) {
		ASSERT(vsc_free_descs(d, VSC_VQ_REQ(0)) == 0, "ring not full");
		vsc_kick(d, VSC_VQ_REQ(0));
		e = vsc_drain(d, VSC_VQ_REQ(0), TMO);
		if (e)
			vt_fail(__LINE__, "ring of %u: %u still in flight: %s", num,
				vsc_inflight(d, VSC_VQ_REQ(0)), vt_errstr(e));
		for (i = 0; i < n && !vt_failed(); i++)
			if (rs[i].res.response || rs[i].res.status)
				vt_fail(__LINE__, "cmd %u: %s", i, vt_res(&rs[i].res));
	}
	for (i = 0; i < n; i++)
		vsc_req_release(d, &rs[i]);
	free(rs);
}

#define RING_TEST(n) VT_TEST("queue", ring_size_##n) { ring_size(n); }
RING_TEST(1)
RING_TEST(2)
RING_TEST(4)
RING_TEST(8)
RING_TEST(16)
RING_TEST(32)
RING_TEST(64)
RING_TEST(128)
RING_TEST(256)
RING_TEST(512)
RING_TEST(1024)

VT_TEST("queue", fill_ring_direct_descriptors)
{
	/* 3 descriptors per WRITE (header, data, response) fill a ring of 96+ */
	struct vsc_opts o = { .ring_size = 128 };
	struct vsc_dev *d = ft_open_ep(&o);

	if (d)
		run_queues(d, 1, 42, 300, 2, false);
}

VT_TEST("queue", deep_queue_1024)
{
	struct vsc_opts o = { .ring_size = 1024 };
	struct vsc_dev *d = ft_open_ep(&o);

	if (d)
		run_queues(d, 1, 512, 2048, 1, true);
}

static void features_variant(uint64_t f)
{
	struct vsc_opts o = { .features = f, .features_exact = true, .num_req_queues = 2 };
	struct vsc_dev *d = ft_open_ep(&o);

	if (d)
		run_queues(d, 2, 8, 100, 4, !!(f & VSC_F(VIRTIO_RING_F_INDIRECT_DESC)));
}

VT_TEST("queue", features_no_event_idx)
{
	features_variant(VSC_F(VIRTIO_F_VERSION_1) | VSC_F(VIRTIO_F_ANY_LAYOUT) |
			 VSC_F(VIRTIO_RING_F_INDIRECT_DESC));
}

VT_TEST("queue", features_no_indirect)
{
	features_variant(VSC_F(VIRTIO_F_VERSION_1) | VSC_F(VIRTIO_F_ANY_LAYOUT) |
			 VSC_F(VIRTIO_RING_F_EVENT_IDX));
}

VT_TEST("queue", features_minimal)
{
	features_variant(0);
}

VT_TEST("queue", poll_mode_no_call_fd)
{
	struct vsc_opts o = { .poll_mode = true };
	struct vsc_dev *d = ft_open_ep(&o);

	if (d)
		run_queues(d, 1, 16, 100, 2, true);
}

/*
 * With EVENT_IDX and used_event far ahead, completions must still reach the
 * used ring while the call eventfd stays quiet -- unless NOTIFY_ON_EMPTY is
 * negotiated, which forces a call once the device drained the avail ring.
 */
static void event_idx(bool notify_on_empty)
{
	struct vsc_opts o = {
		.features = VSC_F(VIRTIO_F_VERSION_1) | VSC_F(VIRTIO_F_ANY_LAYOUT) |
			    VSC_F(VIRTIO_RING_F_EVENT_IDX) |
			    (notify_on_empty ? VSC_F(VIRTIO_F_NOTIFY_ON_EMPTY) : 0),
		.features_exact = true,
	};
	struct vsc_dev *d = ft_open_ep(&o);
	struct vsc_req r[8];
	uint8_t cdb[10];
	unsigned int i, vq = VSC_VQ_REQ(0);
	uint64_t calls0, calls;

	if (!d)
		return;
	/* one round trip first: the device always signals its first completion */
	if (!vt_cmd_good(d, vq, 1, 0, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, NULL))
		return;
	usleep(50000);
	vsc_raw_avail(d, vq)->ring[vsc_vq_size(d, vq)] = (uint16_t)(vsc_raw_last_used(d, vq) + 0x4000);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	calls0 = vsc_vq_calls(d, vq);
	for (i = 0; i < 8; i++) {
		vsc_req_init(d, &r[i], vq, 1, 0, cdb, vsc_cdb_tur(cdb));
		ASSERT(!vsc_req_submit(d, &r[i]), "submit");
	}
	vsc_kick(d, vq);
	for (i = 0; i < 300 && vsc_raw_used_idx(d, vq) != 9; i++)
		usleep(10000);
	ASSERT(vsc_raw_used_idx(d, vq) == 9, "used idx %u, want 9", vsc_raw_used_idx(d, vq));
	usleep(50000);
	calls = vsc_vq_calls(d, vq) - calls0;
	if (notify_on_empty)
		ASSERT(calls > 0, "NOTIFY_ON_EMPTY: no call after the ring drained");
	else
		ASSERT(calls == 0, "device signalled %llu times despite used_event",
		       (unsigned long long)calls);
	ASSERT(vsc_reap(d, vq, 0) == 8, "reap");
	for (i = 0; i < 8; i++) {
		ASSERT(r[i].op.done && !r[i].res.response && !r[i].res.status, "cmd %u: %s", i,
		       vt_res(&r[i].res));
		vsc_req_release(d, &r[i]);
	}
}

VT_TEST("queue", event_idx_suppresses_calls)
{
	event_idx(false);
}

VT_TEST("queue", notify_on_empty_forces_call)
{
	event_idx(true);
}

VT_TEST("queue", index_wraparound)
{
	/* more than 65536 requests through a ring of 8: avail/used indexes wrap */
	struct vsc_opts o = { .ring_size = 8 };
	struct vsc_dev *d = ft_open_ep(&o);
	struct vsc_req r[8];
	unsigned int i, sent = 0, done = 0, total = 66000;
	uint8_t cdb[6];
	uint64_t deadline = vsc_now_ns() + 100ULL * 1000000000;

	if (!d)
		return;
	memset(r, 0, sizeof(r));
	while (done < total) {
		for (i = 0; i < 8 && sent < total; i++) {
			if (r[i].op.inflight)
				continue;
			vsc_req_init(d, &r[i], VSC_VQ_REQ(0), 1, 0, cdb, vsc_cdb_tur(cdb));
			r[i].layout.indirect = true;
			ASSERT(!vsc_req_submit(d, &r[i]), "submit %u", sent);
			sent++;
		}
		vsc_kick(d, VSC_VQ_REQ(0));
		ASSERT(vsc_reap(d, VSC_VQ_REQ(0), TMO) > 0, "no completion after %u", done);
		for (i = 0; i < 8; i++) {
			if (r[i].op.done && r[i].bufs[0]) {
				ASSERT(!r[i].res.response && !r[i].res.status, "cmd %u: %s", done,
				       vt_res(&r[i].res));
				vsc_req_release(d, &r[i]);
				r[i].op.done = false;
				done++;
			}
		}
		ASSERT(vsc_now_ns() < deadline, "too slow: %u/%u after 100 s", done, total);
	}
	ASSERT(vsc_raw_used_idx(d, VSC_VQ_REQ(0)) == (uint16_t)total, "used idx %u, want %u",
	       vsc_raw_used_idx(d, VSC_VQ_REQ(0)), (uint16_t)total);
	ASSERT(vsc_stray_used(d, VSC_VQ_REQ(0)) == 0, "stray used entries");
}

/* Counter @key on the line named @name of TPG 1's stats; -1 if absent. */
static long long stat_of(const char *name, const char *key)
{
	return vsc_tpg_stat(WWPN_A, 1, name, key);
}

struct stats_seen {
	long long requests, completed, bytes_out, bytes_in, status_errors, rejected;
	long long inflight_max;
};

static void stats_get(const char *name, struct stats_seen *s)
{
	s->requests = stat_of(name, "requests");
	s->completed = stat_of(name, "completed");
	s->bytes_out = stat_of(name, "bytes_out");
	s->bytes_in = stat_of(name, "bytes_in");
	s->status_errors = stat_of(name, "status_errors");
	s->rejected = stat_of(name, "rejected");
	s->inflight_max = stat_of(name, "inflight_max");
}

/*
 * The TPG's stats count what the guest sent: 3 WRITEs of 8 blocks and 2
 * READs of 16, a READ past the end (CHECK CONDITION from the backstore) and
 * a command for a missing target (answered BAD TARGET by the fabric), on
 * request queue 0; the per-queue line and the "io" sum agree.
 */
VT_TEST_BEYOND("queue", stats_count_what_the_guest_sent,
	       "has no stats attribute on the TPG")
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct stats_seen b, a, io;
	struct vsc_result res;
	uint8_t buf[16 * BS], cdb[16];
	unsigned int i, len;
	int r;

	if (!d)
		return;
	ASSERT(vt_clear_ua(d, 1, 0), "UNIT ATTENTIONs not cleared");
	stats_get("vq2", &b);
	ASSERT(b.requests >= 0 && b.completed >= 0 && b.inflight_max >= 0,
	       "no vq2 line with requests/completed/inflight_max in tpgt_1/stats");
	memset(buf, 0x5a, sizeof(buf));
	for (i = 0; i < 3; i++)
		ASSERT(vt_rw(d, VSC_VQ_REQ(0), 1, 0, true, 10, 100 + 8 * i, 8, buf, NULL), "WRITE %u", i);
	for (i = 0; i < 2; i++)
		ASSERT(vt_rw(d, VSC_VQ_REQ(0), 1, 0, false, 10, 100, 16, buf, NULL), "READ %u", i);
	len = vsc_cdb_rw(cdb, false, 16, LUN0_BLOCKS, 1);
	r = vsc_cmd(d, VSC_VQ_REQ(0), 1, 0, cdb, len, NULL, 0, buf, BS, &res, 5000);
	ASSERT(!r && res.status == SAM_STAT_CHECK_CONDITION, "READ past the end: %s, status 0x%02x",
	       vt_errstr(r), res.status);
	len = vsc_cdb_tur(cdb);
	r = vsc_cmd(d, VSC_VQ_REQ(0), 77, 0, cdb, len, NULL, 0, NULL, 0, &res, 5000);
	ASSERT(!r && res.response == VIRTIO_SCSI_S_BAD_TARGET,
	       "TUR to target 77: %s, response %s", vt_errstr(r),
	       vsc_response_name(res.response));
	stats_get("vq2", &a);
	stats_get("io", &io);
	if (!vsc_cfs_read(VSC_CFS_TARGET "/vhost/" WWPN_A "/tpgt_1/stats", (char *)buf,
			  sizeof(buf)))
		vt_note("tpgt_1/stats:\n%s", (char *)buf);
	ASSERT(a.requests - b.requests == 7, "requests went %lld -> %lld, want +7",
	       b.requests, a.requests);
	ASSERT(a.completed - b.completed == 6, "completed went %lld -> %lld, want +6",
	       b.completed, a.completed);
	ASSERT(a.bytes_out - b.bytes_out == 3 * 8 * BS, "bytes_out went %lld -> %lld, want +%d",
	       b.bytes_out, a.bytes_out, 3 * 8 * BS);
	ASSERT(a.bytes_in - b.bytes_in == 2 * 16 * BS, "bytes_in went %lld -> %lld, want +%d",
	       b.bytes_in, a.bytes_in, 2 * 16 * BS);
	ASSERT(a.status_errors - b.status_errors == 1, "status_errors went %lld -> %lld, want +1",
	       b.status_errors, a.status_errors);
	ASSERT(a.rejected - b.rejected == 1, "rejected went %lld -> %lld, want +1",
	       b.rejected, a.rejected);
	ASSERT(a.inflight_max >= 1, "inflight_max %lld after 7 commands", a.inflight_max);
	ASSERT(io.requests == a.requests && io.bytes_in == a.bytes_in &&
	       io.bytes_out == a.bytes_out,
	       "io line (requests %lld in %lld out %lld) is not the sum of one used queue",
	       io.requests, io.bytes_in, io.bytes_out);
}

#define TRACEFS "/sys/kernel/tracing"

/* Empty the trace buffer (opening "trace" for writing with O_TRUNC does). */
static void trace_clear(void)
{
	int fd = open(TRACEFS "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
}

/* The whole of @path (a trace file, read until EOF) into @buf; false on error. */
static bool read_all(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	return true;
}

#define POLL_PARAM VSC_TVH_PARAM("poll_us")

/*
 * Pin this process to CPU 0 and the request queue threads of the device it
 * opened (vhost-<pid>-io<N>) to CPU 1: how many were pinned.
 */
static unsigned int pin_queue_threads_apart(void)
{
	char want[32], comm[32], path[64];
	unsigned int pinned = 0;
	struct dirent *e;
	cpu_set_t set;
	DIR *dir;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || sched_setaffinity(0, sizeof(set), &set))
		return 0;
	dir = opendir("/proc");
	if (!dir)
		return 0;
	snprintf(want, sizeof(want), "vhost-%d-io", (int)getpid());
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	while ((e = readdir(dir))) {
		int pid = atoi(e->d_name);

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if (read_all(path, comm, sizeof(comm)) && !strncmp(comm, want, strlen(want)) &&
		    !sched_setaffinity(pid, sizeof(set), &set))
			pinned++;
	}
	closedir(dir);
	return pinned;
}

/*
 * Start of a polling test on @d: UNIT ATTENTIONs cleared, poll_us saved in
 * @was, the client and the device's queue threads on CPUs apart (polling
 * stops while another task is runnable on the thread's CPU).  False: the
 * test failed or was skipped.
 */
static bool polling_test_start(struct vsc_dev *d, char *was, size_t len)
{
	CHECK(vt_clear_ua(d, 1, 0), "UNIT ATTENTIONs not cleared");
	CHECK(read_all(POLL_PARAM, was, len), "cannot read %s", POLL_PARAM);
	if (!pin_queue_threads_apart()) {
		vt_skip("needs 2 CPUs, and the device's queue threads pinned away from the client");
		return false;
	}
	return true;
}

/*
 * Two READs of 4 blocks at @lba and @lba + 4, posted together and kicked
 * once (if the device wants kicks): @buf gets the 8 blocks.
 */
static bool read_pair(struct vsc_dev *d, uint64_t lba, uint8_t *buf)
{
	struct vsc_req r[2];
	unsigned int i, n, posted = 0;
	uint8_t cdb[16];
	bool ok = true;

	for (i = 0; i < 2 && ok; i++) {
		n = vsc_cdb_rw(cdb, false, 10, lba + 4 * i, 4);
		vsc_req_init(d, &r[i], VSC_VQ_REQ(0), 1, 0, cdb, n);
		r[i].din_len = 4 * BS;
		ok = !vsc_req_submit(d, &r[i]);
		posted += ok;
	}
	vsc_kick(d, VSC_VQ_REQ(0));
	ok = !vsc_drain(d, VSC_VQ_REQ(0), TMO) && ok;
	for (i = 0; i < posted; i++) {
		ok = ok && !r[i].res.response && !r[i].res.status;
		if (ok)
			memcpy(buf + i * 4 * BS, r[i].din, 4 * BS);
		vsc_req_release(d, &r[i]);
	}
	return ok;
}

/*
 * Host polling (poll_us): with a 1 ms window, of 64 pairs of READs, each
 * pair posted at once and nothing done between pairs, the polling thread
 * finds at least 8 itself and at most 32 are kicked (in one of up to 3 such
 * batches; the client honours avail_event), and the data (written before)
 * reads back.  The thread's polling stops after each command, when
 * target_core's completion work wakes on its CPU; the kicks must stay off
 * then (about 1 of 64 pairs is kicked; 60 if they go on).
 * Once polling is off and its window has passed, the guest's kicks are on
 * again: one more command is served.  Polling stops while another task is
 * runnable on the thread's CPU, so the client, which plays the vCPU, runs
 * on another CPU than the queue thread.
 */
VT_TEST_BEYOND("queue", polling_takes_requests_without_kicks, "has no poll_us parameter")
{
	static uint8_t wbuf[64 * 8 * BS], rbuf[64 * 8 * BS];
	struct vsc_dev *d = ft_open_ep(NULL);
	long long k0, k1, p0, p1;
	uint8_t buf[8 * BS];
	unsigned int i, round;
	char was[16];
	bool ok;

	if (!d)
		return;
	if (!polling_test_start(d, was, sizeof(was)))
		return;
	vt_fill(wbuf, sizeof(wbuf));
	ASSERT(vt_rw(d, VSC_VQ_REQ(0), 1, 0, true, 10, 300, 64 * 8, wbuf, NULL),
	       "WRITE of the data to read failed");
	ASSERT(!vsc_cfs_write(POLL_PARAM, "1000"), "cannot write 1000 to %s", POLL_PARAM);
	/*
	 * The emulated test VM now and then takes longer than the 1 ms
	 * window to wake the client: up to 3 batches, the first one that
	 * qualifies counts (a thread that never polls fails all three).
	 */
	for (round = 0; round < 3; round++) {
		k0 = stat_of("vq2", "kicks");
		p0 = stat_of("vq2", "polled");
		for (i = 0; i < 64; i++) {
			if (!read_pair(d, 300 + 8 * i, rbuf + i * 8 * BS))
				break;
		}
		k1 = stat_of("vq2", "kicks");
		p1 = stat_of("vq2", "polled");
		vt_note("batch %u of 64 pairs of READs: %lld polled passes, %lld kicks", round,
			p1 - p0, k1 - k0);
		if (i < 64 || (p1 - p0 >= 8 && k1 - k0 <= 32))
			break;
	}
	vsc_cfs_write(POLL_PARAM, "0");
	ASSERT(i == 64, "READ pair %u of 64 failed while polling", i);
	ASSERT(!memcmp(wbuf, rbuf, sizeof(wbuf)), "the READs while polling returned other data");
	ASSERT(p1 - p0 >= 8, "polled went %lld -> %lld over 64 READ pairs, want +8 or more",
	       p0, p1);
	ASSERT(k1 - k0 <= 32, "kicks went %lld -> %lld over 64 READ pairs, want 32 at most",
	       k0, k1);
	usleep(20000);
	memset(buf, 0, sizeof(buf));
	ok = vt_rw(d, VSC_VQ_REQ(0), 1, 0, false, 10, 300, 8, buf, NULL);
	vsc_cfs_write(POLL_PARAM, was);
	ASSERT(ok, "READ after polling stopped not answered");
}

/*
 * Host polling leaves alone a guest that waits for each answer before it
 * sends its next request: with the longest window, 64 READs issued one
 * after the other are each kicked, and polling finds next to none (the
 * window would only take CPU from the guest; without the rule it finds
 * most).  A request that the thread takes, looking at the ring after an
 * answer, before its kick arrives can open one window.  The client runs
 * apart from the queue thread, as in the test above, so that polling could
 * happen.
 */
VT_TEST_BEYOND("queue", polling_skips_lone_commands, "has no poll_us parameter")
{
	struct vsc_dev *d = ft_open_ep(NULL);
	long long k0, k1, p0, p1;
	uint8_t buf[8 * BS];
	unsigned int i;
	char was[16];

	if (!d)
		return;
	if (!polling_test_start(d, was, sizeof(was)))
		return;
	ASSERT(!vsc_cfs_write(POLL_PARAM, "1000"), "cannot write 1000 to %s", POLL_PARAM);
	k0 = stat_of("vq2", "kicks");
	p0 = stat_of("vq2", "polled");
	for (i = 0; i < 64; i++) {
		if (!vt_rw(d, VSC_VQ_REQ(0), 1, 0, false, 10, 300 + 8 * i, 8, buf, NULL))
			break;
	}
	k1 = stat_of("vq2", "kicks");
	p1 = stat_of("vq2", "polled");
	vsc_cfs_write(POLL_PARAM, was);
	ASSERT(i == 64, "READ %u of 64 failed", i);
	ASSERT(p1 - p0 <= 4, "polled went %lld -> %lld over 64 lone READs, want +4 at most",
	       p0, p1);
	ASSERT(k1 - k0 >= 60, "kicks went %lld -> %lld over 64 lone READs, want +60 or more",
	       k0, k1);
}

#define SIGNAL_PARAM VSC_TVH_PARAM("signal_delay_us")

/*
 * signal_delay_us never holds back the signal of a lone command: with the
 * longest delay allowed, 32 WRITE+READ pairs issued one after the other
 * (nothing else in flight on their queue) hold no signal, and each of the
 * 64 answers is signalled (the client arms its interrupt before it waits).
 */
VT_TEST_BEYOND("queue", signal_delay_spares_a_lone_command, "has no signal_delay_us parameter")
{
	struct vsc_dev *d = ft_open_ep(NULL);
	long long h0, h1, s0, s1;
	char was[16];
	unsigned int i;

	if (!d)
		return;
	ASSERT(vt_clear_ua(d, 1, 0), "UNIT ATTENTIONs not cleared");
	ASSERT(read_all(SIGNAL_PARAM, was, sizeof(was)), "cannot read %s", SIGNAL_PARAM);
	ASSERT(!vsc_cfs_write(SIGNAL_PARAM, "1000"), "cannot write 1000 to %s", SIGNAL_PARAM);
	h0 = stat_of("vq2", "signals_held");
	s0 = stat_of("vq2", "signals");
	for (i = 0; i < 32; i++) {
		if (!ft_verify_rw(d, VSC_VQ_REQ(0), 1, 0, 10, 600 + 8 * i, 8, NULL, NULL))
			break;
	}
	h1 = stat_of("vq2", "signals_held");
	s1 = stat_of("vq2", "signals");
	vsc_cfs_write(SIGNAL_PARAM, was);
	ASSERT(i == 32, "WRITE+READ %u of 32 failed", i);
	ASSERT(h0 >= 0 && h1 == h0, "signals_held went %lld -> %lld over 64 lone commands", h0, h1);
	ASSERT(s1 - s0 >= 64, "signals went %lld -> %lld over 64 lone commands, want +64", s0, s1);
}

/* Lines of @text that contain every one of @a, @b and @c. */
static unsigned int count_lines(const char *text, const char *a, const char *b,
				const char *c)
{
	unsigned int n = 0;
	const char *p = text;

	while (*p) {
		const char *end = strchr(p, '\n');
		size_t l = end ? (size_t)(end - p) : strlen(p);
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)(l < sizeof(line) ? l : sizeof(line) - 1), p);
		if (strstr(line, a) && strstr(line, b) && strstr(line, c))
			n++;
		p += l + (end ? 1 : 0);
	}
	return n;
}

/*
 * The tcm_vhost trace events tell a request's steps: 2 WRITE(10)s of 8
 * blocks and 1 READ(10) of 8 on request queue 0 give 3 tvh_cmd_taken with
 * their opcode and length, 3 tvh_cmd_submitted and 3 tvh_cmd_done with
 * status GOOD and the bytes moved.
 */
VT_TEST_BEYOND("queue", trace_events_tell_each_step, "has no tcm_vhost trace events")
{
	struct vsc_dev *d = ft_open_ep(NULL);
	static char text[1 << 20];
	uint8_t buf[8 * BS];
	unsigned int w, r, sub, done;
	int ret;

	if (!d)
		return;
	ASSERT(vt_clear_ua(d, 1, 0), "UNIT ATTENTIONs not cleared");
	if (!vsc_path_exists(TRACEFS "/trace"))
		mount("nodev", TRACEFS, "tracefs", 0, NULL);
	ASSERT(vsc_path_exists(TRACEFS "/events/tcm_vhost/enable"),
	       "no %s/events/tcm_vhost", TRACEFS);
	trace_clear();
	ret = vsc_cfs_write(TRACEFS "/events/tcm_vhost/enable", "1");
	ASSERT(!ret, "enabling the events: %s", vt_errstr(ret));
	memset(buf, 0xa5, sizeof(buf));
	ret = vt_rw(d, VSC_VQ_REQ(0), 1, 0, true, 10, 200, 8, buf, NULL) &&
	      vt_rw(d, VSC_VQ_REQ(0), 1, 0, true, 10, 208, 8, buf, NULL) &&
	      vt_rw(d, VSC_VQ_REQ(0), 1, 0, false, 10, 200, 8, buf, NULL);
	vsc_cfs_write(TRACEFS "/events/tcm_vhost/enable", "0");
	ASSERT(ret, "I/O with tracing on failed");
	ASSERT(read_all(TRACEFS "/trace", text, sizeof(text)), "cannot read %s/trace", TRACEFS);
	trace_clear();
	w = count_lines(text, "tvh_cmd_taken: vq=2 ", "opcode=0x2a len=4096", "dir=write");
	r = count_lines(text, "tvh_cmd_taken: vq=2 ", "opcode=0x28 len=4096", "dir=read");
	sub = count_lines(text, "tvh_cmd_submitted: vq=2 ", "chain=", "cpu=");
	done = count_lines(text, "tvh_cmd_done: vq=2 ", "status=0x00", "transferred=4096");
	vt_note("trace:\n%s", text);
	ASSERT(w == 2 && r == 1, "tvh_cmd_taken: %u WRITE(10) and %u READ(10) of 4096 bytes, want 2 and 1",
	       w, r);
	ASSERT(sub == 3, "tvh_cmd_submitted: %u, want 3", sub);
	ASSERT(done == 3, "tvh_cmd_done with GOOD and 4096 bytes: %u, want 3", done);
}

#define OFFLOAD_PARAM VSC_TVH_PARAM("offload")
#define CG_PIN VT_CG_ROOT "/tvh-offload"

/*
 * 32 READs at once on request queue 0, traced: how many tvh_cmd_submitted
 * lines name a CPU (offloaded), and how many name one other than CPU 0.
 */
static bool offload_burst(struct vsc_dev *d, unsigned int *moved, unsigned int *outside)
{
	static char text[1 << 20];
	struct vsc_req r[32];
	uint8_t cdb[10];
	unsigned int i, sub;
	int e = 0;

	trace_clear();
	if (vsc_cfs_write(TRACEFS "/events/tcm_vhost/tvh_cmd_submitted/enable", "1"))
		return false;
	for (i = 0; i < 32 && !e; i++) {
		vsc_req_init(d, &r[i], VSC_VQ_REQ(0), 1, 0, cdb,
			     vsc_cdb_rw(cdb, false, 10, 8 * i, 8));
		r[i].din_len = 8 * BS;
		e = vsc_req_submit(d, &r[i]);
	}
	vsc_kick(d, VSC_VQ_REQ(0));
	if (!e)
		e = vsc_drain(d, VSC_VQ_REQ(0), TMO);
	vsc_cfs_write(TRACEFS "/events/tcm_vhost/tvh_cmd_submitted/enable", "0");
	for (i = 0; i < 32 && !e; i++)
		if (r[i].res.response || r[i].res.status) {
			vt_note("READ %u: %s", i, vt_res(&r[i].res));
			e = -EIO;
		}
	for (i = 0; i < 32; i++)
		vsc_req_release(d, &r[i]);
	if (e || !read_all(TRACEFS "/trace", text, sizeof(text))) {
		vt_note("32 READs: %s", vt_errstr(e));
		return false;
	}
	sub = count_lines(text, "tvh_cmd_submitted: vq=2 ", "chain=", "cpu=");
	*moved = sub - count_lines(text, "tvh_cmd_submitted: vq=2 ", "chain=", "cpu=-1");
	*outside = *moved - count_lines(text, "tvh_cmd_submitted: vq=2 ", "chain=", "cpu=0");
	return sub == 32;
}

/*
 * One device whose owner is this process, in cgroup @cg if not NULL (its
 * queue threads join the owner's cgroups): offload_burst() on it.
 */
static bool offload_burst_in(const char *cg, unsigned int *moved, unsigned int *outside)
{
	struct vsc_dev *d;
	bool ok;

	if (cg && !vt_cgroup_join(cg)) {
		vt_note("cannot join %s", cg);
		return false;
	}
	d = ft_open_ep(NULL);
	ok = d && vt_clear_ua(d, 1, 0) && offload_burst(d, moved, outside);
	if (d)
		ft_close(d);
	if (cg)
		vt_cgroup_join(VT_CG_ROOT);
	return ok;
}

/*
 * offload moves execution to another CPU only among those the VM may use:
 * a guest whose owner's cpuset is CPU 0 alone gets no command executed on
 * CPU 1, while without the cpuset the same burst does move some there.
 */
VT_TEST_BEYOND("queue", offload_stays_in_the_owners_cpuset, "has no offload parameter")
{
	unsigned int moved = 0, outside = 0, moved0 = 0, outside0 = 0;
	bool ok0, ok = false;
	char was[8];

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP("one CPU");
	if (!vsc_path_exists(TRACEFS "/trace"))
		mount("nodev", TRACEFS, "tracefs", 0, NULL);
	vt_cgroup_mount();
	ASSERT(read_all(OFFLOAD_PARAM, was, sizeof(was)), "cannot read %s", OFFLOAD_PARAM);
	ASSERT(!vsc_cfs_write(OFFLOAD_PARAM, "Y"), "cannot write Y to %s", OFFLOAD_PARAM);
	ok0 = offload_burst_in(NULL, &moved0, &outside0);
	mkdir(CG_PIN, 0755);
	if (ok0 && !vsc_cfs_write(VT_CG_ROOT "/cgroup.subtree_control", "+cpuset") &&
	    !vsc_cfs_write(CG_PIN "/cpuset.cpus", "0"))
		ok = offload_burst_in(CG_PIN, &moved, &outside);
	vt_cgroup_remove(CG_PIN);
	vsc_cfs_write(OFFLOAD_PARAM, was);
	vt_note("without a cpuset %u of 32 moved (%u off CPU 0); in {0}: %u moved, %u off CPU 0",
		moved0, outside0, moved, outside);
	ASSERT(ok0, "32 READs without a cpuset failed or were not traced");
	ASSERT(moved0 > 0, "no READ of 32 in flight was offloaded (the test shows nothing)");
	ASSERT(ok, "32 READs with the owner in a cpuset of CPU 0 failed or were not traced");
	ASSERT(outside == 0, "%u of 32 READs executed outside the owner's cpuset", outside);
}

/*
 * Every thread named after this process ("vhost-<pid>..."), whether a
 * thread of it (6.12's vhost_task) or a kernel thread of its own: its
 * cgroup line must be @want.  Returns how many there are, -1 on a mismatch;
 * adds those named like an executor ("...-ex<N>") to *@execs.
 */
static int threads_in(const char *dir, int owner, const char *want, int *execs)
{
	char prefix[32], path[300], comm[64], cg[256];
	struct dirent *e;
	int n = 0;
	DIR *dp;

	snprintf(prefix, sizeof(prefix), "vhost-%d", owner);
	dp = opendir(dir);
	if (!dp)
		return 0;
	while ((e = readdir(dp))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/%s/comm", dir, e->d_name);
		/* "vhost-<pid>" itself (6.12's worker), or "vhost-<pid>-..." */
		if (!read_all(path, comm, sizeof(comm)) || strncmp(comm, prefix, strlen(prefix)) ||
		    !strchr("-\n", comm[strlen(prefix)]))
			continue;
		snprintf(path, sizeof(path), "%s/%s/cgroup", dir, e->d_name);
		if (want && (!read_all(path, cg, sizeof(cg)) || strcmp(cg, want))) {
			vt_note("%s/%s (%.*s) is in %s", dir, e->d_name, (int)strcspn(comm, "\n"),
				comm, cg);
			n = -1;
			break;
		}
		n++;
		*execs += !!strstr(comm, "-ex");
	}
	closedir(dp);
	return n;
}

static int owner_threads_in(const char *dir, const char *want, int *execs)
{
	return threads_in(dir, getpid(), want, execs);
}

struct endpoint_arg {
	struct vsc_dev *d;
	int r;
	int tid;
};

static void *set_endpoint_thread(void *p)
{
	struct endpoint_arg *a = p;

	a->tid = gettid();
	a->r = vsc_set_endpoint(a->d, WWPN_A);
	return NULL;
}

/*
 * A VMM may set the endpoint from a thread other than the one that called
 * SET_OWNER (QEMU: the vCPU that starts the device, which libvirt may have
 * in a cgroup of its own).  The threads that serve the device are the
 * owner's, as its vhost worker is: named after the owner's pid, in its
 * cgroup.
 */
VT_TEST("queue", threads_belong_to_the_set_owner_caller)
{
	struct endpoint_arg a = { .r = -1 };
	int in_proc = -1, in_task = -1, execs = 0, strays = 0;
	pthread_t th;

	vt_cgroup_mount();
	mkdir(CG_PIN, 0755);
	if (vt_cgroup_join(CG_PIN)) {
		a.d = ft_open(NULL);
		if (a.d && !pthread_create(&th, NULL, set_endpoint_thread, &a)) {
			pthread_join(th, NULL);
			if (!a.r && vt_clear_ua(a.d, 1, 0)) {
				in_proc = owner_threads_in("/proc", "0::/tvh-offload\n", &execs);
				in_task = owner_threads_in("/proc/self/task", "0::/tvh-offload\n",
							   &execs);
				strays = threads_in("/proc", a.tid, NULL, &execs) +
					 threads_in("/proc/self/task", a.tid, NULL, &execs);
			}
		}
		if (a.d)
			ft_close(a.d);
		vt_cgroup_join(VT_CG_ROOT);
	}
	vt_cgroup_remove(CG_PIN);
	ASSERT(!a.r, "SET_ENDPOINT from a second thread: %s", vt_errstr(a.r));
	vt_note("threads named vhost-%d: %d processes, %d of its own threads", getpid(), in_proc,
		in_task);
	ASSERT(in_proc >= 0 && in_task >= 0, "a thread serving the device is outside the owner's cgroup");
	ASSERT(in_proc + in_task > 0,
	       "no thread named vhost-%d (the SET_OWNER caller's pid) serves the device", getpid());
	ASSERT(!strays, "%d threads named after the SET_ENDPOINT caller (vhost-%d)", strays, a.tid);
}

/*
 * The CPU a device spends for its guest is charged to the guest: every
 * thread that serves the device of an owner in a cgroup (its vhost worker,
 * queue threads and, with offload, their executors) is in that cgroup.
 */
VT_TEST("queue", threads_join_the_owners_cgroup)
{
	bool has_offload = vsc_path_exists(OFFLOAD_PARAM);
	int in_proc = -1, in_task = -1, execs = 0;
	struct vsc_dev *d = NULL;
	char was[8] = "N";

	vt_cgroup_mount();
	if (has_offload && (!read_all(OFFLOAD_PARAM, was, sizeof(was)) ||
			    vsc_cfs_write(OFFLOAD_PARAM, "Y")))
		FAIL("cannot turn %s on", OFFLOAD_PARAM);
	mkdir(CG_PIN, 0755);
	if (vt_cgroup_join(CG_PIN)) {
		d = ft_open_ep(NULL);
		if (d && vt_clear_ua(d, 1, 0)) {
			in_proc = owner_threads_in("/proc", "0::/tvh-offload\n", &execs);
			in_task = owner_threads_in("/proc/self/task", "0::/tvh-offload\n", &execs);
		}
		if (d)
			ft_close(d);
		vt_cgroup_join(VT_CG_ROOT);
	}
	vt_cgroup_remove(CG_PIN);
	if (has_offload)
		vsc_cfs_write(OFFLOAD_PARAM, was);
	vt_note("threads named vhost-%d: %d processes, %d of its own threads, %d executors",
		getpid(), in_proc, in_task, execs);
	ASSERT(in_proc >= 0 && in_task >= 0, "a thread serving the device is outside the owner's cgroup");
	ASSERT(in_proc + in_task > 0, "no thread named vhost-%d found (the test shows nothing)",
	       getpid());
	ASSERT(!has_offload || sysconf(_SC_NPROCESSORS_ONLN) < 2 || execs > 0,
	       "offload on, a spare CPU, and no executor thread (the test shows less)");
}
