// SPDX-License-Identifier: GPL-2.0
/* vtest: the harness the test programs share (see vtest.h). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vtest.h"

const char *vt_module = "tcm_vhost";
bool vt_verbose;

static enum vt_outcome cur_out;
static char cur_reason[1024];
static char cur_name[160];
static const char *cur_upstream;	/* vt_beyond() */
static uint64_t cur_t0;		/* when the current test started (ns) */
static bool running;
static unsigned int counts[4];
static unsigned int watchdog_s;
static void (*watchdog_cleanup)(void);

#define MAX_TRACKED 16
static struct vsc_dev *tracked[MAX_TRACKED];

bool vt_set_module(const char *name)
{
	if (strcmp(name, "tcm_vhost") && strcmp(name, "vhost_scsi"))
		return false;
	vt_module = name;
	return true;
}

bool vt_upstream(void)
{
	return !strcmp(vt_module, "vhost_scsi");
}

void vt_start(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cur_name, sizeof(cur_name), fmt, ap);
	va_end(ap);
	cur_out = VT_PASS;
	cur_reason[0] = 0;
	cur_upstream = NULL;
	cur_t0 = vsc_now_ns();
	running = true;
}

void vt_beyond(const char *how)
{
	cur_upstream = how;
}

static void set_reason(enum vt_outcome o, int line, const char *fmt, va_list ap)
{
	int n = 0;

	cur_out = o;
	if (line)
		n = snprintf(cur_reason, sizeof(cur_reason), "line %d: ", line);
	vsnprintf(cur_reason + n, sizeof(cur_reason) - (size_t)n, fmt, ap);
	if (vt_verbose)
		fprintf(stderr, "#   %s: %s %s\n", cur_name,
			o == VT_SKIP ? "SKIP" : o == VT_XFAIL ? "XFAIL" : "FAIL", cur_reason);
}

void vt_fail(int line, const char *fmt, ...)
{
	va_list ap;

	if (cur_out == VT_FAIL)
		return;		/* the first reason is the one that matters */
	va_start(ap, fmt);
	set_reason(VT_FAIL, line, fmt, ap);
	va_end(ap);
}

void vt_skip(const char *fmt, ...)
{
	va_list ap;

	if (cur_out != VT_PASS)
		return;
	va_start(ap, fmt);
	set_reason(VT_SKIP, 0, fmt, ap);
	va_end(ap);
}

void vt_differs(int line, const char *fmt, ...)
{
	va_list ap;

	if (cur_out == VT_FAIL || cur_out == VT_XFAIL)
		return;
	va_start(ap, fmt);
	set_reason(vt_upstream() ? VT_XFAIL : VT_FAIL, line, fmt, ap);
	va_end(ap);
}

void vt_note(const char *fmt, ...)
{
	va_list ap;

	if (!vt_verbose)
		return;
	fprintf(stderr, "# %s: ", running ? cur_name : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool vt_failed(void)
{
	return cur_out == VT_FAIL;
}

enum vt_outcome vt_outcome(void)
{
	return cur_out;
}

const char *vt_reason(void)
{
	return cur_reason;
}

const char *vt_name(void)
{
	return cur_name;
}

/* A test that took a second or more says so (where make check's time goes). */
static void report_time(void)
{
	double s = (vsc_now_ns() - cur_t0) / 1e9;

	if (s >= 1.0)
		fprintf(stderr, "# time: %s: %.1f s\n", cur_name, s);
}

/* Print and count the current test's line. */
static enum vt_outcome report_line(void)
{
	const char *up = cur_upstream;
	enum vt_outcome o = cur_out;

	report_time();

	if (o == VT_FAIL && up && vt_upstream())
		o = VT_XFAIL;
	switch (o) {
	case VT_PASS:
		printf("PASS: %s\n", cur_name);
		break;
	case VT_SKIP:
		printf("SKIP: %s: %s\n", cur_name, cur_reason);
		break;
	case VT_XFAIL:
		printf("XFAIL: %s: upstream differs: %s%s%s%s\n", cur_name, cur_reason,
		       up && *up ? " (" : "", up ? up : "", up && *up ? ")" : "");
		break;
	case VT_FAIL:
		printf("FAIL: %s: %s\n", cur_name, cur_reason);
		break;
	}
	fflush(stdout);
	counts[o]++;
	running = false;
	return o;
}

enum vt_outcome vt_report(void)
{
	vt_close_all();
	return report_line();
}

void vt_count(enum vt_outcome o)
{
	counts[o]++;
}

void vt_summary(void)
{
	printf("%u passed, %u failed, %u skipped, %u xfail\n", counts[VT_PASS],
	       counts[VT_FAIL], counts[VT_SKIP], counts[VT_XFAIL]);
	fflush(stdout);
}

int vt_exit_status(void)
{
	return counts[VT_FAIL] ? 1 : 0;
}

static void on_alarm(int sig)
{
	(void)sig;
	if (watchdog_cleanup)
		watchdog_cleanup();
	if (running) {
		cur_out = VT_PASS;
		vt_fail(0, "watchdog: still running after %u s (hang?)", watchdog_s);
		report_line();
	}
	vt_summary();
	_exit(1);
}

void vt_watchdog_init(void (*cleanup)(void))
{
	watchdog_cleanup = cleanup;
	signal(SIGALRM, on_alarm);
}

void vt_alarm(unsigned int seconds)
{
	if (seconds)
		watchdog_s = seconds;
	alarm(seconds);
}

struct vsc_dev *vt_track(struct vsc_dev *d)
{
	unsigned int i;

	for (i = 0; d && i < MAX_TRACKED; i++) {
		if (!tracked[i]) {
			tracked[i] = d;
			break;
		}
	}
	return d;	/* untracked when full: it leaks at worst */
}

void vt_untrack(struct vsc_dev *d)
{
	unsigned int i;

	for (i = 0; i < MAX_TRACKED; i++)
		if (tracked[i] == d)
			tracked[i] = NULL;
}

void vt_close_all(void)
{
	unsigned int i;
	int bad;

	for (i = 0; i < MAX_TRACKED; i++) {
		if (!tracked[i])
			continue;
		bad = vsc_canary_check_all(tracked[i]);
		if (bad)
			vt_fail(0, "%d guarded buffer(s) damaged (a write outside a device-writable buffer)",
				bad);
		vsc_close(tracked[i]);
		tracked[i] = NULL;
	}
}

const char *vt_errstr(int e)
{
	static char buf[8][64];
	static unsigned int k;
	char *b = buf[k++ % 8];
	const char *name = e ? strerrorname_np(-e) : NULL;

	if (!e)
		return "0";
	snprintf(b, 64, "%s(%d)", name ? name : "E?", e);
	return b;
}

const char *vt_res(const struct vsc_result *r)
{
	static char buf[4][200];
	static unsigned int k;

	return vsc_result_str(r, buf[k++ % 4], sizeof(buf[0]));
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

void vt_seed(uint64_t seed)
{
	rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

uint64_t vt_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

void vt_fill(void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t v;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		v = vt_rand();
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] = (uint8_t)vt_rand();
}

void *vt_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

bool vt_match(const char *name, char *const *filters, int nf)
{
	int i;

	if (!nf)
		return true;
	for (i = 0; i < nf; i++)
		if (strstr(name, filters[i]))
			return true;
	return false;
}

/* -------------------------------------------------------- SCSI helpers */

int vt_cmd_tmo = 10000;

/* A UNIT ATTENTION: the command was not run, send it again. */
static bool is_ua(int e, const struct vsc_result *res)
{
	return !e && res->status == SAM_STAT_CHECK_CONDITION && res->key == UNIT_ATTENTION;
}

bool vt_cmd_good(struct vsc_dev *d, unsigned int vq, uint8_t tgt, uint16_t lun,
		 const uint8_t *cdb, unsigned int cdblen, const void *dout, size_t doutlen,
		 void *din, size_t dinlen, struct vsc_result *res)
{
	struct vsc_result rr;
	int r, k;

	if (!res)
		res = &rr;
	for (k = 0; k < 4; k++) {
		r = vsc_cmd(d, vq, tgt, lun, cdb, cdblen, dout, doutlen, din, dinlen, res,
			    vt_cmd_tmo);
		if (!is_ua(r, res))
			break;
	}
	CHECK(!r, "opcode 0x%02x: vsc_cmd: %s", cdb[0], vt_errstr(r));
	CHECK(res->response == VIRTIO_SCSI_S_OK && res->status == SAM_STAT_GOOD,
	      "opcode 0x%02x tgt %u lun %u: %s", cdb[0], tgt, lun, vt_res(res));
	return true;
}

bool vt_rw(struct vsc_dev *d, unsigned int vq, uint8_t tgt, uint16_t lun, bool write,
	   unsigned int sz, uint64_t lba, uint32_t blocks, void *buf,
	   const struct vsc_layout *l)
{
	struct vsc_result res;
	struct vsc_req r;
	uint8_t cdb[16];
	unsigned int n, k;
	size_t len = (size_t)blocks * 512;
	int e;

	n = vsc_cdb_rw(cdb, write, sz, lba, blocks);
	CHECK(n, "cannot encode RW%u lba %llu blocks %u", sz, (unsigned long long)lba, blocks);
	vsc_req_init(d, &r, vq, tgt, lun, cdb, n);
	if (l)
		r.layout = *l;
	if (write) {
		r.dout = buf;
		r.dout_len = len;
	} else {
		r.din_len = len;
	}
	for (k = 0; k < 4; k++) {
		struct vsc_req c = r;

		e = vsc_cmd_layout(d, &c, write ? NULL : buf, &res, vt_cmd_tmo);
		if (!is_ua(e, &res))
			break;
	}
	CHECK(!e, "%s%u tgt %u lun %u lba %llu x%u: %s", write ? "WRITE" : "READ", sz, tgt, lun,
	      (unsigned long long)lba, blocks, e == -EFAULT ? "canary damaged" : vt_errstr(e));
	CHECK(res.response == VIRTIO_SCSI_S_OK && res.status == SAM_STAT_GOOD && res.resid == 0,
	      "%s%u tgt %u lun %u lba %llu x%u: %s", write ? "WRITE" : "READ", sz, tgt, lun,
	      (unsigned long long)lba, blocks, vt_res(&res));
	return true;
}

bool vt_tmf(struct vsc_dev *d, uint32_t sub, uint8_t tgt, uint16_t lun, uint64_t tag,
	    uint8_t *resp)
{
	struct vsc_ctl c;
	int e;

	vsc_tmf_init(&c, sub, tgt, lun, tag);
	e = vsc_ctl_sync(d, &c, vt_cmd_tmo);
	CHECK(e != -EFAULT, "TMF %s: response overflowed its 1-byte buffer (canary damaged)",
	      vsc_tmf_name(sub));
	CHECK(!e, "TMF %s: %s", vsc_tmf_name(sub), vt_errstr(e));
	*resp = c.response;
	return true;
}

bool vt_sense_is(const struct vsc_result *r, uint8_t key, uint8_t asc)
{
	return r->status == SAM_STAT_CHECK_CONDITION && r->key == key && r->asc == asc;
}

bool vt_clear_ua(struct vsc_dev *d, uint8_t tgt, uint16_t lun)
{
	struct vsc_result res;
	uint8_t cdb[6];
	int k, r;

	for (k = 0; k < 10; k++) {
		r = vsc_cmd(d, VSC_VQ_REQ(0), tgt, lun, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, &res,
			    vt_cmd_tmo);
		CHECK(!r, "TUR tgt %u lun %u: %s", tgt, lun, vt_errstr(r));
		if (res.response == VIRTIO_SCSI_S_OK && res.status == SAM_STAT_GOOD)
			return true;
	}
	CHECK(false, "TUR tgt %u lun %u never GOOD: %s", tgt, lun, vt_res(&res));
}

/* ------------------------------------------------------------- cgroups */

bool vt_cgroup_mount(void)
{
	if (!vsc_path_exists(VT_CG_ROOT "/cgroup.controllers"))
		mount("cgroup2", VT_CG_ROOT, "cgroup2", 0, NULL);
	return vsc_path_exists(VT_CG_ROOT "/cgroup.controllers");
}

bool vt_cgroup_join(const char *dir)
{
	char path[256], pid[16];

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	return !vsc_cfs_write(path, pid);
}

void vt_cgroup_remove(const char *dir)
{
	int k;

	for (k = 0; k < 100 && rmdir(dir) && errno == EBUSY; k++)
		usleep(10000);
}

/* -------------------------------------------------------------- runner */

/* The linker's bounds of VT_TEST()'s section; weak: a program may have none. */
extern const struct vt_test __start_vt_tests[] __attribute__((weak));
extern const struct vt_test __stop_vt_tests[] __attribute__((weak));

static const struct vt_suite *suite;
unsigned int vt_timeout;

/* Index of the first of @order that @s contains, or the count of @order. */
static int rank(const char *s, const char *const *order)
{
	int k;

	for (k = 0; order && order[k]; k++)
		if (strstr(s, order[k]))
			return k;
	return k;
}

static int cmp_test(const void *a, const void *b)
{
	const struct vt_test *x = *(const struct vt_test *const *)a;
	const struct vt_test *y = *(const struct vt_test *const *)b;
	int c = rank(x->file, suite->files) - rank(y->file, suite->files);

	if (!c)
		c = strcmp(x->file, y->file);
	return c ? c : x->line - y->line;
}

/* "group.name" or "name": what --filter matches and the line shows after "suite/". */
static const char *test_name(const struct vt_test *t)
{
	static char buf[256];

	if (!t->group)
		return t->name;
	snprintf(buf, sizeof(buf), "%s.%s", t->group, t->name);
	return buf;
}

/* @t belongs to pass @g: the g-th group, or the only pass of a program without. */
static bool in_pass(const struct vt_test *t, unsigned int g)
{
	if (!suite->groups)
		return true;
	return t->group && !strcmp(t->group, suite->groups[g]);
}

/* The options vt_main() parses for every suite, then the suite's own. */
static void usage(void)
{
	fprintf(stderr,
		"usage: vsc-%s --module tcm_vhost|vhost_scsi [--filter SUBSTR]... [--list] [-v]%s%s\n",
		suite->name, suite->usage ? " " : "", suite->usage ? suite->usage : "");
	exit(2);
}

static void run_here(const struct vt_test *t)
{
	vt_alarm(vt_timeout);
	t->fn();
	if (suite->test.after)
		suite->test.after(t);
	vt_close_all();
	vt_alarm(0);
	vt_report();
}

/*
 * In a child process, with the watchdog in the parent: a hung child is
 * reported and left behind; the parent prints a line only for a child that
 * could not.
 */
static void run_forked(const struct vt_test *t)
{
	pid_t pid, w;
	unsigned int waited = 0;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		vt_fail(0, "fork: %s", strerror(errno));
		vt_report();
		return;
	}
	if (!pid) {
		vt_seed(vt_rand() ^ (uint64_t)getpid() << 20);
		t->fn();
		if (suite->test.after)
			suite->test.after(t);
		_exit(vt_report());
	}
	for (;;) {
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (waited >= vt_timeout * 10) {
			kill(pid, SIGKILL);
			usleep(500 * 1000);
			w = waitpid(pid, &st, WNOHANG);
			vt_fail(0, "test hung for %u s%s", vt_timeout,
				w == pid ? "" : " (process unkillable, D state)");
			vt_report();
			return;
		}
		usleep(100 * 1000);
		waited++;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) <= VT_XFAIL) {
		vt_count(WEXITSTATUS(st));
		return;
	}
	vt_fail(0, "test process died (%s %d)", WIFSIGNALED(st) ? "signal" : "status",
		WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	vt_report();
}

static void run_test(const struct vt_test *t, bool group_ok, enum vt_outcome gout,
		     const char *greason)
{
	vt_start("%s/%s", suite->name, test_name(t));
	if (suite->flags & VT_S_ALL_BEYOND)
		vt_beyond("");
	else if (t->flags & VT_F_BEYOND)
		vt_beyond(t->upstream ? t->upstream : "beyond upstream");
	if (!group_ok) {
		if (gout == VT_SKIP)
			vt_skip("%s", greason);
		else
			vt_fail(0, "%s", greason);
	} else if ((t->flags & VT_F_UPSTREAM_SKIP) && vt_upstream() &&
		   !getenv("VT_UPSTREAM_UNSAFE")) {
		/* VT_UPSTREAM_UNSAFE=1 runs it anyway: to reproduce upstream's defect */
		vt_skip("not run on upstream (could crash or hang the VM): %s", t->upstream);
	}
	if (vt_outcome() == VT_PASS && suite->test.before)
		suite->test.before(t);
	if (vt_outcome() != VT_PASS) {
		vt_report();
		return;
	}
	if (suite->flags & VT_S_FORK)
		run_forked(t);
	else
		run_here(t);
	if (suite->test.cleanup)
		suite->test.cleanup(t);
}

static void list(const struct vt_test *const *all, size_t nt, unsigned int np,
		 char *const *filters, int nf)
{
	unsigned int g;
	size_t i;

	for (g = 0; g < np; g++) {
		for (i = 0; i < nt; i++) {
			const struct vt_test *t = all[i];
			bool how = (suite->flags & VT_S_LIST_HOW) && (t->flags & VT_F_BEYOND);

			if (!in_pass(t, g) || !vt_match(test_name(t), filters, nf))
				continue;
			printf("%s/%s%s%s%s\n", suite->name, test_name(t),
			       how ? "  [beyond-upstream: " : "",
			       how && t->upstream ? t->upstream : "", how ? "]" : "");
		}
	}
}

int vt_main(int argc, char **argv, const struct vt_suite *s)
{
	static const struct option common[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "filter", required_argument, NULL, 'f' },
		{ "list", no_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
	};
	const size_t ncommon = sizeof(common) / sizeof(common[0]);
	struct option lo[32];
	char shortopts[64], *filters[64];
	const struct vt_test **all;
	size_t nt = (size_t)(__stop_vt_tests - __start_vt_tests), i, nlo = 0;
	unsigned int g, np;
	int nf = 0, c;
	bool do_list = false;

	suite = s;
	vt_timeout = s->timeout;	/* before the options, which may change it */
	if (s->cmd_tmo)
		vt_cmd_tmo = s->cmd_tmo;
	memcpy(lo, common, sizeof(common));
	for (nlo = ncommon; s->opts.longopts && s->opts.longopts[nlo - ncommon].name && nlo < 31; nlo++)
		lo[nlo] = s->opts.longopts[nlo - ncommon];
	memset(&lo[nlo], 0, sizeof(lo[nlo]));
	snprintf(shortopts, sizeof(shortopts), "m:f:lvh%s", s->opts.shortopts ? s->opts.shortopts : "");

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!vt_set_module(optarg)) {
				fprintf(stderr, "--module must be tcm_vhost or vhost_scsi\n");
				usage();
			}
			break;
		case 'f':
			if (nf < 64)
				filters[nf++] = optarg;
			break;
		case 'l':
			do_list = true;
			break;
		case 'v':
			vt_verbose = true;
			break;
		default:
			if (c == 'h' || !s->opts.handle || !s->opts.handle(c, optarg))
				usage();
		}
	}
	all = vt_xmalloc(nt * sizeof(*all));
	for (i = 0; i < nt; i++)
		all[i] = &__start_vt_tests[i];
	qsort(all, nt, sizeof(*all), cmp_test);
	signal(SIGPIPE, SIG_IGN);
	for (np = 0; s->groups && s->groups[np]; np++)
		;
	if (!s->groups)
		np = 1;

	if (do_list) {
		list(all, nt, np, filters, nf);
		free(all);
		return 0;
	}
	if ((s->flags & VT_S_NEED_DEV) && access("/dev/vhost-scsi", R_OK | W_OK)) {
		fprintf(stderr, "/dev/vhost-scsi not accessible: is %s loaded?\n", vt_module);
		vt_start("%s/setup", s->name);
		vt_fail(0, "/dev/vhost-scsi missing");
		vt_report();
		vt_summary();
		return 1;
	}
	if (!(s->flags & VT_S_FORK))
		vt_watchdog_init(s->watchdog_cleanup);
	if (s->fixture.setup) {
		vt_start("%s/fixture", s->name);
		if (!s->fixture.setup()) {
			vt_report();
			if (s->fixture.teardown)
				s->fixture.teardown();
			vt_summary();
			return 1;
		}
		vt_close_all();
	}

	for (g = 0; g < np; g++) {
		const char *grp = s->groups ? s->groups[g] : NULL;
		enum vt_outcome gout = VT_PASS;
		char greason[1024] = "";
		bool any = false, ok = true;

		for (i = 0; i < nt; i++)
			if (in_pass(all[i], g) && vt_match(test_name(all[i]), filters, nf))
				any = true;
		if (!any)
			continue;
		if (grp && s->group.setup) {
			vt_start("%s/%s (group setup)", s->name, grp);
			vt_alarm(vt_timeout);
			ok = s->group.setup(grp);
			vt_alarm(0);
			gout = vt_outcome();
			snprintf(greason, sizeof(greason), "%s", vt_reason());
			vt_close_all();
		}
		for (i = 0; i < nt; i++)
			if (in_pass(all[i], g) && vt_match(test_name(all[i]), filters, nf))
				run_test(all[i], ok, gout, greason);
		if (grp && s->group.teardown)
			s->group.teardown(grp);
	}
	if (s->fixture.teardown)
		s->fixture.teardown();
	vt_summary();
	free(all);
	return vt_exit_status();
}
