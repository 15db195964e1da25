// SPDX-License-Identifier: GPL-2.0
/*
 * vsc-load: a load generator for /dev/vhost-scsi built on libvsc, run in L1
 * with no guest. One thread per request queue keeps --iodepth commands in
 * flight on its queue; the result is one JSON line on stdout.
 *
 *   vsc-load --wwpn naa.X [--luns 0[,1,...]] [--queues N] [--iodepth D]
 *            [--pattern rand4k|seq1m] [--read-pct P] [--time S] [--ramp S]
 *            [--ring N] [--label TEXT] [--dev PATH] [--target TPGT]
 *            [--worker-per-vq]
 *
 * rand4k: 4 KiB random reads/writes (read with probability P%) over the
 * whole LUN; seq1m: 1 MiB sequential, each thread streaming through its own
 * part of the LUN, each command a read with probability P%.
 * virtio-scsi's target number is the TPG tag (default 1, tpgt_1).
 * Commands rotate over the given LUNs. Latency is submit-to-reap per command
 * (includes the wake-up of the reaping thread, as a guest would see it).
 * Only completions inside [ramp, time] count.
 * CPU cost over the same window, from /proc/stat and getrusage: cpu_busy_pct
 * (all CPUs, 100 = every CPU busy), cpu_us_per_io (busy CPU time of the
 * whole machine per command), client_us_per_io (this process's part) and
 * ctxsw_per_io (context switches of the whole machine per command).
 * --worker-per-vq: a vhost worker for each request queue after the first,
 * as QEMU's worker_per_virtqueue=on; "workers" in the JSON line says what
 * ran: "one", "per-vq", or "per-vq-refused" (the device answered ENOTTY
 * and kept one worker). With one queue there is nothing to attach: "per-vq".
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "libvsc.h"

#define MAX_LUNS	64
#define HDR_OFF		0
#define RESP_OFF	128
#define SLOT_BUF	256
#define LAT_MAX		(1U << 24)	/* samples kept per thread */

struct cfg {
	const char *wwpn, *dev, *label;
	unsigned int queues, iodepth, ring, read_pct, nluns, target;
	uint16_t luns[MAX_LUNS];
	uint64_t cap_blocks[MAX_LUNS];	/* per LUN, in blocks */
	uint32_t blksz;
	bool seq, worker_per_vq;
	uint32_t bs;
	double time_s, ramp_s;
};

struct thr;

struct slot {
	struct vsc_op op;	/* first */
	struct thr *t;
	struct vsc_buf *meta;	/* header at HDR_OFF, response at RESP_OFF */
	uint8_t *data;
	bool write;
};

struct thr {
	unsigned int idx, vq;
	pthread_t tid;
	struct vsc_dev *d;
	const struct cfg *c;
	struct slot *slots;
	struct vsc_buf **pool;
	unsigned int npool;
	unsigned int *done_stack, ndone;
	uint64_t rng, cursor, tag;
	unsigned int lun_rr;
	/* results */
	uint64_t ios, rd, wr, bytes, errors, submit_err;
	uint32_t *lat;
	size_t nlat;
	int err;
};

static pthread_barrier_t barrier;
static uint64_t t_start, t_meas, t_end;

static uint64_t rnd(struct thr *t)
{
	uint64_t x = t->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	t->rng = x;
	return x;
}

static void on_done(struct vsc_op *op)
{
	struct slot *s = (struct slot *)op;
	struct thr *t = s->t;

	t->done_stack[t->ndone++] = (unsigned int)(s - t->slots);
}

static int submit(struct thr *t, struct slot *s)
{
	const struct cfg *c = t->c;
	struct virtio_scsi_cmd_req *h = (void *)(s->meta->p + HDR_OFF);
	uint8_t *resp = s->meta->p + RESP_OFF;
	unsigned int li = t->lun_rr++ % c->nluns;
	uint32_t blocks = c->bs / c->blksz;
	uint64_t lba, span = c->cap_blocks[li] / blocks;
	struct vsc_iov iov[3];
	unsigned int n = 0;

	s->write = (rnd(t) % 100) >= c->read_pct;
	if (c->seq) {
		lba = (t->cursor++ % span) * blocks;
	} else {
		lba = (rnd(t) % span) * blocks;
	}
	memset(h, 0, sizeof(*h));
	vsc_lun_encode(h->lun, (uint8_t)c->target, c->luns[li]);
	h->tag = ++t->tag;
	h->task_attr = VIRTIO_SCSI_S_SIMPLE;
	if (!vsc_cdb_rw(h->cdb, s->write, 10, lba, blocks))
		vsc_cdb_rw(h->cdb, s->write, 16, lba, blocks);
	memset(resp, 0, sizeof(struct virtio_scsi_cmd_resp));
	iov[n++] = (struct vsc_iov){ h, sizeof(*h), false };
	if (s->write)
		iov[n++] = (struct vsc_iov){ s->data, c->bs, false };
	iov[n++] = (struct vsc_iov){ resp, sizeof(struct virtio_scsi_cmd_resp), true };
	if (!s->write)
		iov[n++] = (struct vsc_iov){ s->data, c->bs, true };
	s->op.on_done = on_done;
	s->op.priv = t;
	return vsc_submit_chain(t->d, t->vq, iov, n, false, &s->op);
}

static void account(struct thr *t, struct slot *s)
{
	const struct virtio_scsi_cmd_resp *r = (void *)(s->meta->p + RESP_OFF);
	uint64_t lat;

	if (r->response != VIRTIO_SCSI_S_OK || r->status != 0) {
		if (t->errors++ < 3)
			fprintf(stderr, "vsc-load: q%u: response %u status 0x%x\n", t->idx,
				r->response, r->status);
	}
	if (s->op.done_ns < t_meas || s->op.done_ns > t_end)
		return;
	t->ios++;
	t->bytes += t->c->bs;
	if (s->write)
		t->wr++;
	else
		t->rd++;
	lat = s->op.done_ns - s->op.submit_ns;
	if (t->nlat < LAT_MAX)
		t->lat[t->nlat++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
}

static void *run(void *arg)
{
	struct thr *t = arg;
	unsigned int i, k;
	int r;

	pthread_barrier_wait(&barrier);
	for (i = 0; i < t->c->iodepth; i++) {
		r = submit(t, &t->slots[i]);
		if (r) {
			t->submit_err++;
			t->err = r;
			break;
		}
	}
	vsc_kick(t->d, t->vq);
	while (vsc_inflight(t->d, t->vq)) {
		r = vsc_reap(t->d, t->vq, 30000);
		if (r < 0) {
			t->err = r;
			break;
		}
		if (r == 0) {
			fprintf(stderr, "vsc-load: q%u: no completion in 30 s (%u in flight)\n",
				t->idx, vsc_inflight(t->d, t->vq));
			t->err = -ETIMEDOUT;
			break;
		}
		bool more = vsc_now_ns() < t_end;

		for (k = 0; k < t->ndone; k++) {
			struct slot *s = &t->slots[t->done_stack[k]];

			account(t, s);
			if (more && submit(t, s))
				t->submit_err++;
		}
		t->ndone = 0;
		if (more)
			vsc_kick(t->d, t->vq);
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int read_capacity(struct vsc_dev *d, struct cfg *c)
{
	uint8_t cdb[16], buf[32];
	struct vsc_result res;
	unsigned int i, tries;
	int r;

	for (i = 0; i < c->nluns; i++) {
		/* a unit attention may come first after a fresh nexus */
		for (tries = 0; tries < 4; tries++) {
			unsigned int n = vsc_cdb_read_capacity10(cdb);

			memset(buf, 0, sizeof(buf));
			r = vsc_cmd(d, VSC_VQ_REQ(0), (uint8_t)c->target, c->luns[i], cdb, n, NULL, 0, buf, 8, &res,
				    10000);
			if (r)
				return r;
			if (res.response == VIRTIO_SCSI_S_OK && res.status == 0)
				break;
		}
		if (tries == 4) {
			fprintf(stderr, "vsc-load: READ CAPACITY on LUN %u failed (response %u status 0x%x)\n",
				c->luns[i], res.response, res.status);
			return -EIO;
		}
		c->blksz = vsc_get_be32(buf + 4);
		c->cap_blocks[i] = (uint64_t)vsc_get_be32(buf) + 1;
		if (!c->blksz || c->bs % c->blksz || c->cap_blocks[i] * c->blksz < c->bs) {
			fprintf(stderr, "vsc-load: LUN %u: unusable geometry (%u-byte blocks)\n",
				c->luns[i], c->blksz);
			return -EINVAL;
		}
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vsc-load --wwpn naa.X [--luns 0,1,..] [--queues N] [--iodepth D]\n"
		"                [--pattern rand4k|seq1m] [--read-pct P] [--time S] [--ramp S]\n"
		"                [--ring N] [--label TEXT] [--dev PATH] [--target TPGT]\n"
		"                [--worker-per-vq]\n");
	exit(2);
}

static unsigned int pow2_at_least(unsigned int v)
{
	unsigned int p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* Busy and total CPU time of the machine (jiffies), this process's (s). */
struct cpu_sample {
	unsigned long long busy, total, ctxt;
	double self_s;
};

static void cpu_sample(struct cpu_sample *cs)
{
	unsigned long long v[8] = { 0 };
	struct rusage ru;
	FILE *f = fopen("/proc/stat", "r");
	char line[256];

	cs->busy = cs->total = cs->ctxt = 0;
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
			/* user nice system idle iowait irq softirq steal */
			cs->busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
			cs->total = cs->busy + v[3] + v[4];
		}
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "ctxt %llu", &cs->ctxt) == 1)
				break;
		fclose(f);
	}
	getrusage(RUSAGE_SELF, &ru);
	cs->self_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		     (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void sleep_until_ns(uint64_t t)
{
	uint64_t now = vsc_now_ns();

	if (t > now) {
		struct timespec ts = { .tv_sec = (time_t)((t - now) / 1000000000ULL),
				       .tv_nsec = (long)((t - now) % 1000000000ULL) };

		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "wwpn", 1, 0, 'w' }, { "luns", 1, 0, 'l' }, { "queues", 1, 0, 'q' },
		{ "iodepth", 1, 0, 'd' }, { "pattern", 1, 0, 'p' }, { "read-pct", 1, 0, 'r' },
		{ "time", 1, 0, 't' }, { "ramp", 1, 0, 'R' }, { "ring", 1, 0, 'n' },
		{ "label", 1, 0, 'L' }, { "dev", 1, 0, 'D' }, { "target", 1, 0, 'T' },
		{ "worker-per-vq", 0, 0, 'W' }, { "help", 0, 0, 'h' }, { 0 }
	};
	struct cfg c = { .queues = 1, .iodepth = 1, .read_pct = 75, .bs = 4096, .time_s = 5,
			 .ramp_s = 0.5, .label = "", .target = 1 };
	const char *luns = "0", *pattern = "rand4k", *workers;
	struct vsc_opts o = { 0 };
	struct cpu_sample cpu0, cpu1;
	struct vsc_dev *d;
	struct thr *th;
	unsigned int i, k;
	int opt, r, rc = 0;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'w': c.wwpn = optarg; break;
		case 'l': luns = optarg; break;
		case 'q': c.queues = (unsigned int)atoi(optarg); break;
		case 'd': c.iodepth = (unsigned int)atoi(optarg); break;
		case 'p': pattern = optarg; break;
		case 'r': c.read_pct = (unsigned int)atoi(optarg); break;
		case 't': c.time_s = atof(optarg); break;
		case 'R': c.ramp_s = atof(optarg); break;
		case 'n': c.ring = (unsigned int)atoi(optarg); break;
		case 'L': c.label = optarg; break;
		case 'D': c.dev = optarg; break;
		case 'T': c.target = (unsigned int)atoi(optarg); break;
		case 'W': c.worker_per_vq = true; break;
		default: usage();
		}
	}
	if (!c.wwpn || !c.queues || c.queues > VSC_MAX_REQ_VQS || !c.iodepth ||
	    c.iodepth > 4096 || c.read_pct > 100 || c.time_s <= 0 || c.ramp_s < 0 ||
	    c.ramp_s >= c.time_s)
		usage();
	if (!strcmp(pattern, "rand4k")) {
		c.bs = 4096;
	} else if (!strcmp(pattern, "seq1m")) {
		c.bs = 1 << 20;
		c.seq = true;
	} else {
		usage();
	}
	for (const char *p = luns; *p && c.nluns < MAX_LUNS;) {
		char *e;

		c.luns[c.nluns++] = (uint16_t)strtoul(p, &e, 0);
		if (e == p)
			usage();
		p = *e == ',' ? e + 1 : e;
	}
	/* a command takes 3 descriptors (header, response, data) */
	if (!c.ring)
		c.ring = pow2_at_least(3 * c.iodepth < 128 ? 128 : 3 * c.iodepth);

	/* data buffers: per queue, one per slot up to ~64 MiB in all, then shared */
	unsigned int npool = c.iodepth;
	size_t cap_pool = (64UL << 20) / c.queues / c.bs;

	if (npool > cap_pool)
		npool = cap_pool ? (unsigned int)cap_pool : 1;
	o.path = c.dev;
	o.num_req_queues = c.queues;
	o.ring_size = c.ring;
	o.worker_per_vq = c.worker_per_vq;
	o.arena_size = (size_t)c.queues * (npool * (size_t)c.bs + c.iodepth * 512UL +
					   c.ring * 64UL + (1UL << 20)) + (16UL << 20);
	d = vsc_open(&o);
	if (!d) {
		fprintf(stderr, "vsc-load: vsc_open: %s\n", strerror(errno));
		return 1;
	}
	workers = !c.worker_per_vq ? "one" : vsc_workers_attached(d) ? "per-vq" : "per-vq-refused";
	r = vsc_set_endpoint(d, c.wwpn);
	if (r) {
		fprintf(stderr, "vsc-load: SET_ENDPOINT %s: %s\n", c.wwpn, strerror(-r));
		vsc_close(d);
		return 1;
	}
	r = read_capacity(d, &c);
	if (r) {
		fprintf(stderr, "vsc-load: READ CAPACITY: %s\n", strerror(-r));
		vsc_close(d);
		return 1;
	}

	th = calloc(c.queues, sizeof(*th));
	pthread_barrier_init(&barrier, NULL, c.queues + 1);
	for (i = 0; i < c.queues; i++) {
		struct thr *t = &th[i];

		t->idx = i;
		t->vq = VSC_VQ_REQ(i);
		t->d = d;
		t->c = &c;
		t->rng = 0x9e3779b97f4a7c15ULL * (i + 1) ^ (uint64_t)getpid() << 20 ^ vsc_now_ns();
		if (!t->rng)
			t->rng = 1;
		t->lun_rr = i;
		t->cursor = c.seq ? (c.cap_blocks[0] / (c.bs / c.blksz)) * i / c.queues : 0;
		t->tag = (uint64_t)i << 48;
		t->slots = calloc(c.iodepth, sizeof(*t->slots));
		t->done_stack = calloc(c.iodepth, sizeof(*t->done_stack));
		t->npool = npool;
		t->pool = calloc(npool, sizeof(*t->pool));
		t->lat = malloc(sizeof(uint32_t) * LAT_MAX);
		if (!t->slots || !t->done_stack || !t->pool || !t->lat)
			goto nomem;
		for (k = 0; k < npool; k++) {
			t->pool[k] = vsc_buf_alloc(d, c.bs, VSC_BUF_ZERO, 0);
			if (!t->pool[k])
				goto nomem;
		}
		for (k = 0; k < c.iodepth; k++) {
			t->slots[k].t = t;
			t->slots[k].meta = vsc_buf_alloc(d, SLOT_BUF, VSC_BUF_ZERO, 0);
			if (!t->slots[k].meta)
				goto nomem;
			t->slots[k].data = t->pool[k % npool]->p;
		}
	}
	for (i = 0; i < c.queues; i++)
		pthread_create(&th[i].tid, NULL, run, &th[i]);
	t_start = vsc_now_ns();
	t_meas = t_start + (uint64_t)(c.ramp_s * 1e9);
	t_end = t_start + (uint64_t)(c.time_s * 1e9);
	pthread_barrier_wait(&barrier);
	sleep_until_ns(t_meas);
	cpu_sample(&cpu0);
	sleep_until_ns(t_end);
	cpu_sample(&cpu1);
	for (i = 0; i < c.queues; i++)
		pthread_join(th[i].tid, NULL);

	uint64_t ios = 0, rd = 0, wr = 0, bytes = 0, errors = 0, serr = 0;
	size_t nlat = 0;
	uint32_t *all;
	double secs = (double)(t_end - t_meas) / 1e9, sum = 0;
	const char *err = "";
	long hz = sysconf(_SC_CLK_TCK);
	double busy_s, busy_pct;

	for (i = 0; i < c.queues; i++) {
		ios += th[i].ios;
		rd += th[i].rd;
		wr += th[i].wr;
		bytes += th[i].bytes;
		errors += th[i].errors;
		serr += th[i].submit_err;
		nlat += th[i].nlat;
		if (th[i].err)
			err = strerror(-th[i].err);
	}
	all = malloc(sizeof(*all) * (nlat ? nlat : 1));
	if (!all)
		goto nomem;
	nlat = 0;
	for (i = 0; i < c.queues; i++) {
		memcpy(all + nlat, th[i].lat, th[i].nlat * sizeof(*all));
		nlat += th[i].nlat;
	}
	qsort(all, nlat, sizeof(*all), cmp_u32);
	busy_s = (double)(cpu1.busy - cpu0.busy) / (hz > 0 ? hz : 100);
	busy_pct = cpu1.total > cpu0.total ?
		100.0 * (double)(cpu1.busy - cpu0.busy) / (double)(cpu1.total - cpu0.total) : 0;
	for (size_t j = 0; j < nlat; j++)
		sum += all[j];
#define PCT(p) (nlat ? all[(size_t)((double)(nlat - 1) * (p))] / 1000.0 : 0.0)
	printf("{\"tool\":\"vsc-load\",\"label\":\"%s\",\"wwpn\":\"%s\",\"pattern\":\"%s\","
	       "\"bs\":%u,\"read_pct\":%u,\"queues\":%u,\"iodepth\":%u,\"ring\":%u,\"luns\":%u,"
	       "\"workers\":\"%s\","
	       "\"time_s\":%.3f,\"ios\":%llu,\"reads\":%llu,\"writes\":%llu,\"errors\":%llu,"
	       "\"submit_errors\":%llu,\"iops\":%.1f,\"mbps\":%.2f,\"lat_mean_us\":%.2f,"
	       "\"lat_p50_us\":%.2f,\"lat_p99_us\":%.2f,\"lat_max_us\":%.2f,"
	       "\"cpu_busy_pct\":%.1f,\"cpu_us_per_io\":%.2f,\"client_us_per_io\":%.2f,"
	       "\"ctxsw_per_io\":%.2f,"
	       "\"error\":\"%s\"}\n",
	       c.label, c.wwpn, pattern, c.bs, c.read_pct, c.queues, c.iodepth, c.ring, c.nluns, workers,
	       secs, (unsigned long long)ios, (unsigned long long)rd, (unsigned long long)wr,
	       (unsigned long long)errors, (unsigned long long)serr, ios / secs,
	       bytes / secs / 1e6, nlat ? sum / nlat / 1000.0 : 0.0, PCT(0.50), PCT(0.99),
	       nlat ? all[nlat - 1] / 1000.0 : 0.0, busy_pct, ios ? busy_s * 1e6 / ios : 0.0,
	       ios ? (cpu1.self_s - cpu0.self_s) * 1e6 / ios : 0.0,
	       ios ? (double)(cpu1.ctxt - cpu0.ctxt) / ios : 0.0, err);
	fflush(stdout);
	if (*err || errors || serr)
		rc = 1;
	vsc_clear_endpoint(d, c.wwpn);
	vsc_close(d);
	return rc;
nomem:
	fprintf(stderr, "vsc-load: out of memory\n");
	vsc_close(d);
	return 1;
}
