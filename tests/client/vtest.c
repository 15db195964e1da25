// SPDX-License-Identifier: GPL-2.0
/* vtest: the harness the test programs share (see vtest.h). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
