// SPDX-License-Identifier: GPL-2.0
/*
 * vsc-functional: functional tests of a vhost-scsi fabric module
 * (tcm_vhost or upstream vhost_scsi) through libvsc, run inside L1
 * after the module is loaded.
 *
 *   vsc-functional --module tcm_vhost|vhost_scsi [--filter SUBSTR]... [--list] [-v]
 *
 * One line per test: PASS/FAIL/SKIP/XFAIL: functional/<group>.<name>[: reason]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft.h"

extern const struct ft_test __start_ft_tests[], __stop_ft_tests[];

const char *ft_module = "tcm_vhost";
bool ft_verbose;
bool ft_unsafe;

enum outcome { O_PASS, O_FAIL, O_SKIP };
static enum outcome cur_out;
static char cur_reason[1024];
static const struct ft_test *cur_test;
static unsigned int n_pass, n_fail, n_skip, n_xfail;

#define MAX_OPEN 16
static struct vsc_dev *open_devs[MAX_OPEN];

static const char *const group_order[] = {
	"ioctl", "scsi", "io", "layout", "queue", "ctl", "evt", "fileio", "iblock", "cfg",
};

bool ft_is_upstream(void)
{
	return !strcmp(ft_module, "vhost_scsi");
}

void ft_fail(int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (cur_out == O_FAIL)
		return;		/* keep the first reason */
	cur_out = O_FAIL;
	n = snprintf(cur_reason, sizeof(cur_reason), "line %d: ", line);
	va_start(ap, fmt);
	vsnprintf(cur_reason + n, sizeof(cur_reason) - (size_t)n, fmt, ap);
	va_end(ap);
}

void ft_skip(const char *fmt, ...)
{
	va_list ap;

	if (cur_out == O_FAIL)
		return;
	cur_out = O_SKIP;
	va_start(ap, fmt);
	vsnprintf(cur_reason, sizeof(cur_reason), fmt, ap);
	va_end(ap);
}

void ft_note(const char *fmt, ...)
{
	va_list ap;

	if (!ft_verbose)
		return;
	fprintf(stderr, "# %s.%s: ", cur_test ? cur_test->group : "-",
		cur_test ? cur_test->name : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool ft_failed(void)
{
	return cur_out == O_FAIL;
}

const char *ft_errstr(int e)
{
	static char buf[8][64];
	static unsigned int k;
	char *b = buf[k++ % 8];

	if (!e)
		return "0";
	snprintf(b, 64, "%s(%d)", strerrorname_np(-e) ? strerrorname_np(-e) : "E?", e);
	return b;
}

const char *ft_res(const struct vsc_result *r)
{
	static char buf[4][200];
	static unsigned int k;

	return vsc_result_str(r, buf[k++ % 4], sizeof(buf[0]));
}

/* ------------------------------------------------------------ devices */

struct vsc_dev *ft_open(const struct vsc_opts *o)
{
	struct vsc_dev *d = vsc_open(o);
	unsigned int i;

	if (!d) {
		ft_fail(0, "vsc_open: %s", ft_errstr(-errno));
		return NULL;
	}
	for (i = 0; i < MAX_OPEN; i++) {
		if (!open_devs[i]) {
			open_devs[i] = d;
			return d;
		}
	}
	return d;	/* untracked: leaks at worst */
}

struct vsc_dev *ft_open_ep(const struct vsc_opts *o)
{
	struct vsc_dev *d = ft_open(o);
	int r;

	if (!d)
		return NULL;
	r = vsc_set_endpoint(d, WWPN_A);
	if (r) {
		ft_fail(0, "SET_ENDPOINT %s: %s", WWPN_A, ft_errstr(r));
		ft_close(d);
		return NULL;
	}
	return d;
}

void ft_close(struct vsc_dev *d)
{
	unsigned int i;

	for (i = 0; i < MAX_OPEN; i++)
		if (open_devs[i] == d)
			open_devs[i] = NULL;
	vsc_close(d);
}

static void close_all(void)
{
	unsigned int i;

	for (i = 0; i < MAX_OPEN; i++) {
		if (open_devs[i]) {
			if (vsc_canary_check_all(open_devs[i]))
				ft_fail(0, "canary damaged in a device-writable buffer");
			vsc_close(open_devs[i]);
			open_devs[i] = NULL;
		}
	}
}

/* ------------------------------------------------------------- random */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

uint64_t ft_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

void ft_fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t i;
	uint64_t v;

	for (i = 0; i + 8 <= len; i += 8) {
		v = ft_rand();
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] = (uint8_t)ft_rand();
}

void *ft_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

/* ------------------------------------------------------------ fixtures */

void ft_teardown(void)
{
	vsc_tgt_teardown_all(false);
}

bool ft_fixture_rd(void)
{
	int r;

#define STEP(x) do { r = (x); if (r) { ft_fail(__LINE__, "fixture: %s: %s", #x, ft_errstr(r)); return false; } } while (0)
	STEP(vsc_tgt_rd_create(HBA_RD, "rd16", RD16_BYTES));
	STEP(vsc_tgt_rd_create(HBA_RD, "rd8", RD8_BYTES));
	STEP(vsc_tgt_rd_create(HBA_RD, "rd4", RD4_BYTES));
	/* EVPD pages are only reported once a unit serial is set */
	STEP(vsc_cfs_write(VSC_CFS_TARGET "/core/" HBA_RD "/rd16/wwn/vpd_unit_serial", RD16_SERIAL));
	STEP(vsc_tgt_tpg_create(WWPN_A, 1));
	STEP(vsc_tgt_nexus_set(WWPN_A, 1, INIT_1));
	STEP(vsc_tgt_lun_link(WWPN_A, 1, 0, HBA_RD, "rd16"));
	STEP(vsc_tgt_lun_link(WWPN_A, 1, 1, HBA_RD, "rd8"));
	STEP(vsc_tgt_tpg_create(WWPN_A, 2));
	STEP(vsc_tgt_nexus_set(WWPN_A, 2, INIT_2));
	STEP(vsc_tgt_lun_link(WWPN_A, 2, 0, HBA_RD, "rd4"));
	STEP(vsc_tgt_tpg_create(WWPN_B, 1));
	STEP(vsc_tgt_lun_link(WWPN_B, 1, 0, HBA_RD, "rd4"));
#undef STEP
	return true;
}

#define FILEIO_PATH "/tmp/vsc-functional-fileio.img"
#define IBLOCK_PATH "/tmp/vsc-functional-iblock.img"
static char loopdev[64];

static bool fixture_fileio(void)
{
	int r = vsc_tgt_fileio_create("fileio_102", "f16", FILEIO_PATH, RD16_BYTES);

	/* allow UNMAP (punches holes); best effort */
	if (!r)
		vsc_cfs_write(VSC_CFS_TARGET "/core/fileio_102/f16/attrib/emulate_tpu", "1");
	if (!r)
		r = vsc_tgt_tpg_create(WWPN_A, 1);
	if (!r)
		r = vsc_tgt_nexus_set(WWPN_A, 1, INIT_1);
	if (!r)
		r = vsc_tgt_lun_link(WWPN_A, 1, 0, "fileio_102", "f16");
	if (r)
		ft_fail(__LINE__, "fileio fixture: %s", ft_errstr(r));
	return !r;
}

static bool fixture_iblock(void)
{
	FILE *f = fopen(IBLOCK_PATH, "w");
	int r;

	if (!f || ftruncate(fileno(f), (off_t)RD16_BYTES)) {
		ft_fail(__LINE__, "cannot create %s", IBLOCK_PATH);
		if (f)
			fclose(f);
		return false;
	}
	fclose(f);
	r = vsc_loop_attach(IBLOCK_PATH, loopdev, sizeof(loopdev));
	if (r) {
		ft_skip("losetup failed: %s", ft_errstr(r));
		loopdev[0] = 0;
		return false;
	}
	r = vsc_tgt_iblock_create("iblock_103", "b16", loopdev);
	if (!r)
		r = vsc_tgt_tpg_create(WWPN_A, 1);
	if (!r)
		r = vsc_tgt_nexus_set(WWPN_A, 1, INIT_1);
	if (!r)
		r = vsc_tgt_lun_link(WWPN_A, 1, 0, "iblock_103", "b16");
	if (r)
		ft_fail(__LINE__, "iblock fixture on %s: %s", loopdev, ft_errstr(r));
	return !r;
}

/* Consume the UNIT ATTENTIONs that LUN linking queued on the nexus. */
static bool clear_uas(bool rd)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	bool ok;

	if (!d)
		return false;
	ok = ft_clear_ua(d, 1, 0);
	if (ok && rd)
		ok = ft_clear_ua(d, 1, 1) && ft_clear_ua(d, 2, 0);
	ft_close(d);
	return ok;
}

static bool group_setup(const char *g)
{
	ft_teardown();
	if (!strcmp(g, "cfg"))
		return true;
	if (!strcmp(g, "fileio"))
		return fixture_fileio() && clear_uas(false);
	if (!strcmp(g, "iblock"))
		return fixture_iblock() && clear_uas(false);
	return ft_fixture_rd() && clear_uas(true);
}

static void group_teardown(const char *g)
{
	ft_teardown();
	if (!strcmp(g, "fileio"))
		unlink(FILEIO_PATH);
	if (!strcmp(g, "iblock")) {
		if (loopdev[0])
			vsc_loop_detach(loopdev);
		loopdev[0] = 0;
		unlink(IBLOCK_PATH);
	}
}

/* -------------------------------------------------------------- runner */

static int cmp_test(const void *a, const void *b)
{
	const struct ft_test *x = *(const struct ft_test *const *)a, *y = *(const struct ft_test *const *)b;
	int c = strcmp(x->file, y->file);

	return c ? c : x->line - y->line;
}

static void report(const struct ft_test *t)
{
	switch (cur_out) {
	case O_PASS:
		printf("PASS: functional/%s.%s\n", t->group, t->name);
		n_pass++;
		break;
	case O_SKIP:
		printf("SKIP: functional/%s.%s: %s\n", t->group, t->name, cur_reason);
		n_skip++;
		break;
	case O_FAIL:
		if ((t->flags & FT_BEYOND) && ft_is_upstream()) {
			printf("XFAIL: functional/%s.%s: upstream differs: %s (%s)\n", t->group,
			       t->name, t->upstream ? t->upstream : "beyond upstream", cur_reason);
			n_xfail++;
		} else {
			printf("FAIL: functional/%s.%s: %s\n", t->group, t->name, cur_reason);
			n_fail++;
		}
		break;
	}
	fflush(stdout);
}

static void summary(void)
{
	printf("%u passed, %u failed, %u skipped, %u xfail\n", n_pass, n_fail, n_skip, n_xfail);
	fflush(stdout);
}

static void on_alarm(int sig)
{
	(void)sig;
	if (cur_test) {
		cur_out = O_PASS;
		ft_fail(0, "watchdog: test still running after %d s (hang?)", 120);
		report(cur_test);
	}
	summary();
	_exit(1);
}

static bool matches(const struct ft_test *t, char **filters, int nf)
{
	char full[256];
	int i;

	if (!nf)
		return true;
	snprintf(full, sizeof(full), "%s.%s", t->group, t->name);
	for (i = 0; i < nf; i++)
		if (strstr(full, filters[i]))
			return true;
	return false;
}

static void usage(void)
{
	fprintf(stderr, "usage: vsc-functional --module tcm_vhost|vhost_scsi [--filter SUBSTR]... "
		"[--list] [-v] [--unsafe]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "filter", required_argument, NULL, 'f' },
		{ "list", no_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "unsafe", no_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char *filters[64];
	int nf = 0, c;
	bool list = false;
	unsigned int g, ng = sizeof(group_order) / sizeof(group_order[0]);
	const struct ft_test *t;
	const struct ft_test **all;
	size_t nt = (size_t)(__stop_ft_tests - __start_ft_tests), ti;

	while ((c = getopt_long(argc, argv, "m:f:lvh", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			ft_module = optarg;
			break;
		case 'f':
			if (nf < 64)
				filters[nf++] = optarg;
			break;
		case 'l':
			list = true;
			break;
		case 'v':
			ft_verbose = true;
			break;
		case 'U':
			ft_unsafe = true;
			break;
		default:
			usage();
		}
	}
	if (strcmp(ft_module, "tcm_vhost") && strcmp(ft_module, "vhost_scsi"))
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	all = ft_xmalloc(nt * sizeof(*all));
	for (ti = 0; ti < nt; ti++)
		all[ti] = &__start_ft_tests[ti];
	qsort(all, nt, sizeof(*all), cmp_test);
	signal(SIGPIPE, SIG_IGN);

	if (list) {
		for (g = 0; g < ng; g++)
			for (ti = 0; ti < nt && (t = all[ti]); ti++)
				if (!strcmp(t->group, group_order[g]) && matches(t, filters, nf))
					printf("functional/%s.%s%s%s%s\n", t->group, t->name,
					       t->flags & FT_BEYOND ? "  [beyond-upstream: " : "",
					       t->flags & FT_BEYOND ? (t->upstream ? t->upstream : "") : "",
					       t->flags & FT_BEYOND ? "]" : "");
		return 0;
	}
	if (access("/dev/vhost-scsi", R_OK | W_OK)) {
		fprintf(stderr, "/dev/vhost-scsi not accessible: is %s loaded?\n", ft_module);
		printf("FAIL: functional/setup: /dev/vhost-scsi missing\n");
		summary();
		return 1;
	}
	signal(SIGALRM, on_alarm);

	for (g = 0; g < ng; g++) {
		const char *grp = group_order[g];
		bool any = false, ok;
		char greason[1024];

		for (ti = 0; ti < nt && (t = all[ti]); ti++)
			if (!strcmp(t->group, grp) && matches(t, filters, nf))
				any = true;
		if (!any)
			continue;
		cur_test = NULL;
		cur_out = O_PASS;
		cur_reason[0] = 0;
		alarm(120);
		ok = group_setup(grp);
		alarm(0);
		enum outcome gout = cur_out;

		snprintf(greason, sizeof(greason), "%s", cur_reason);
		for (ti = 0; ti < nt && (t = all[ti]); ti++) {
			if (strcmp(t->group, grp) || !matches(t, filters, nf))
				continue;
			cur_test = t;
			if (!ok) {
				cur_out = gout == O_SKIP ? O_SKIP : O_FAIL;
				snprintf(cur_reason, sizeof(cur_reason), "%s", greason);
				report(t);
				continue;
			}
			cur_out = O_PASS;
			cur_reason[0] = 0;
			rng = 0x9e3779b97f4a7c15ULL ^ (uintptr_t)t->name[0] ^ ((uint64_t)strlen(t->name) << 32);
			alarm(120);
			t->fn();
			close_all();
			alarm(0);
			report(t);
			if (!strcmp(grp, "cfg"))
				ft_teardown();
		}
		cur_test = NULL;
		group_teardown(grp);
	}
	summary();
	return n_fail ? 1 : 0;
}
