// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failures, through the kernel's fault injection (failslab and
 * fail_page_alloc; only the debug kernel of make check-debug has them,
 * elsewhere these tests are skipped):
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
