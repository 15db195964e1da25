/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vtest: the harness the test programs share (vsc-functional, vsc-badinput,
 * vsc-tmf).  One test runs at a time; it starts with vt_start(), records
 * failures and skips, and ends with vt_report(), which prints its line:
 *
 *   PASS: suite/name
 *   FAIL: suite/name: line N: reason
 *   SKIP: suite/name: reason
 *   XFAIL: suite/name: upstream differs: reason (how)
 *
 * and counts it for vt_summary()'s "N passed, N failed, N skipped, N xfail".
 * XFAIL is for behaviour beyond Debian's vhost_scsi: a failure on it that the
 * test declared (vt_beyond(), or vt_differs()) is expected there.
 */
#ifndef VTEST_H
#define VTEST_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libvsc.h"

enum vt_outcome { VT_PASS, VT_FAIL, VT_SKIP, VT_XFAIL };

extern const char *vt_module;	/* "tcm_vhost" or "vhost_scsi" (--module) */
extern bool vt_verbose;		/* -v: vt_note() prints */

/* Takes --module's argument; false for anything but the two modules. */
bool vt_set_module(const char *name);
/* The module under test is Debian's vhost_scsi. */
bool vt_upstream(void);

/* Start the test named @fmt (e.g. "functional/io.read"): outcome PASS. */
void vt_start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The test failed (the first reason is kept); @line 0 leaves it out. */
void vt_fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The test cannot run here; ignored once it failed or was skipped. */
void vt_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Upstream may answer this differently: XFAIL on vhost_scsi, FAIL on ours. */
void vt_differs(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* With -v: a note on stderr, prefixed with the test's name. */
void vt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool vt_failed(void);
enum vt_outcome vt_outcome(void);
const char *vt_reason(void);
const char *vt_name(void);

/*
 * This test goes beyond vhost_scsi: a failure there is XFAIL, with @how saying
 * how upstream differs ("" for nothing more).  Holds until the next vt_start().
 */
void vt_beyond(const char *how);
/*
 * Close the devices vt_track() holds, then print and count the test's line.
 * Returns what was printed.
 */
enum vt_outcome vt_report(void);
/* Count an outcome printed elsewhere (a test run in a child process). */
void vt_count(enum vt_outcome o);
void vt_summary(void);
/* 1 if any test failed, else 0. */
int vt_exit_status(void);

/*
 * Watchdog: a test still running @seconds after vt_alarm() is reported as
 * failed, with the summary, and the program exits 1.  @cleanup (may be NULL)
 * runs first, e.g. to release a backstore the test suspended.
 */
void vt_watchdog_init(void (*cleanup)(void));
void vt_alarm(unsigned int seconds);

/* Devices a test opened: closed after it, with a check of the canaries. */
struct vsc_dev *vt_track(struct vsc_dev *d);
void vt_untrack(struct vsc_dev *d);
void vt_close_all(void);

/* "ENOENT(-2)" for -2; rotating static buffers, fine for a few per line. */
const char *vt_errstr(int neg_errno);
/* "response OK status 0x02 sense 5/24/00 resid 0" (rotating buffers) */
const char *vt_res(const struct vsc_result *r);

/* xorshift64 */
void vt_seed(uint64_t seed);
uint64_t vt_rand(void);
void vt_fill(void *buf, size_t len);
void *vt_xmalloc(size_t n);

/* @name contains one of the @nf filters (or there are none). */
bool vt_match(const char *name, char *const *filters, int nf);

/* --------------------------------------------------------- SCSI helpers */

/* ms the helpers below wait for one answer (10000; a program may change it). */
extern int vt_cmd_tmo;

/*
 * A command that must answer GOOD (a UNIT ATTENTION is retried up to 4
 * times, as any initiator does); false and the test failed otherwise.
 */
bool vt_cmd_good(struct vsc_dev *d, unsigned int vq, uint8_t tgt, uint16_t lun,
		 const uint8_t *cdb, unsigned int cdblen, const void *dout, size_t doutlen,
		 void *din, size_t dinlen, struct vsc_result *res);
/*
 * READ/WRITE of @blocks 512-byte blocks at @lba with a CDB of @sz (6, 10,
 * 16) bytes and layout @l (may be NULL): GOOD with no residue, a UNIT
 * ATTENTION retried as above.
 */
bool vt_rw(struct vsc_dev *d, unsigned int vq, uint8_t tgt, uint16_t lun, bool write,
	   unsigned int sz, uint64_t lba, uint32_t blocks, void *buf,
	   const struct vsc_layout *l);
/* A TMF @sub (VIRTIO_SCSI_T_TMF_*) to tgt/lun, answered: its response in @resp. */
bool vt_tmf(struct vsc_dev *d, uint32_t sub, uint8_t tgt, uint16_t lun, uint64_t tag,
	    uint8_t *resp);
/* CHECK CONDITION with sense key @key and additional sense code @asc */
bool vt_sense_is(const struct vsc_result *r, uint8_t key, uint8_t asc);
/* Up to 10 TURs until GOOD: consumes the UNIT ATTENTIONs of resets and LUN changes. */
bool vt_clear_ua(struct vsc_dev *d, uint8_t tgt, uint16_t lun);

/* ------------------------------------------------------------- cgroups */

#define VT_CG_ROOT "/sys/fs/cgroup"
/* cgroup2 at VT_CG_ROOT (mounted if it is not); false if unavailable. */
bool vt_cgroup_mount(void);
/* Move this process into cgroup directory @dir (VT_CG_ROOT: back to the root). */
bool vt_cgroup_join(const char *dir);
/* Remove cgroup @dir, waiting up to a second for exiting tasks to leave it. */
void vt_cgroup_remove(const char *dir);

/* ------------------------------------------------------------- asserts */

/* The test failed here; it goes on. */
#define FAIL(...)	vt_fail(__LINE__, __VA_ARGS__)
/* In a test (void): fail and return.  CHECK: the same in a helper returning bool. */
#define ASSERT(c, ...)	do { if (!(c)) { FAIL(__VA_ARGS__); return; } } while (0)
#define CHECK(c, ...)	do { if (!(c)) { FAIL(__VA_ARGS__); return false; } } while (0)
/* Where upstream may legitimately differ: XFAIL there, FAIL here.  Continues. */
#define EXPECT_OR_DIFF(c, ...) do { if (!(c)) vt_differs(__LINE__, __VA_ARGS__); } while (0)
#define SKIP(...)	do { vt_skip(__VA_ARGS__); return; } while (0)

/* -------------------------------------------------------- registration */

/* Test flags; a program gives VT_F_PROG1.. its own meaning. */
#define VT_F_BEYOND		0x1	/* beyond upstream: a failure on vhost_scsi is XFAIL */
#define VT_F_UPSTREAM_SKIP	0x2	/* could crash/hang upstream: never run there */
#define VT_F_PROG1		0x100

struct vt_test {
	const char *group;	/* NULL, or the group: the test is "suite/group.name" */
	const char *name;
	void (*fn)(void);
	unsigned int flags;
	const char *upstream;	/* how upstream differs, or why it is not run there */
	const char *file;
	int line;
};

/*
 * VT_TEST(group, name) { body }: defines and registers a test (a linker
 * section the runner reads).  group is NULL in programs without groups.
 */
#define VT_CAT2(a, b) a##b
#define VT_CAT(a, b) VT_CAT2(a, b)
#define VT_TEST_ID(grp, nm, flg, up, id)					\
	static void VT_CAT(vt_fn_, id)(void);					\
	static const struct vt_test VT_CAT(vt_t_, id)				\
		__attribute__((used, section("vt_tests"), aligned(8))) = {	\
		.group = grp, .name = #nm, .fn = VT_CAT(vt_fn_, id),		\
		.flags = flg, .upstream = up, .file = __FILE__, .line = __LINE__ }; \
	static void VT_CAT(vt_fn_, id)(void)
#define VT_TEST_F(grp, nm, flg, up)	VT_TEST_ID(grp, nm, flg, up, VT_CAT(nm##_, __LINE__))
#define VT_TEST(grp, nm)		VT_TEST_F(grp, nm, 0, NULL)
#define VT_TEST_BEYOND(grp, nm, up)	VT_TEST_F(grp, nm, VT_F_BEYOND, up)

/* ------------------------------------------------------------- runner */

/* What a test program tells vt_main(); every hook may be NULL. */
struct vt_suite {
	const char *name;	/* "functional": vsc-functional, lines "PASS: functional/..." */
	const char *usage;	/* usage line's options after the common ones: "[--unsafe]" */
	const char *const *groups;	/* NULL-terminated run order of the groups */
	const char *const *files;	/* NULL-terminated run order of the source files */
	unsigned int timeout;	/* s: one test (watchdog) */
	int cmd_tmo;		/* ms: vt_cmd_tmo, if not 0 */
	unsigned int flags;	/* VT_S_* */
	/* More options: getopt short letters, long options ({ 0 }-terminated), handler */
	struct {
		const char *shortopts;
		const struct option *longopts;
		bool (*handle)(int c, const char *arg);		/* false: usage */
	} opts;
	void (*watchdog_cleanup)(void);
	/* The program's fixture, as the test "suite/fixture": false = failed. */
	struct {
		bool (*setup)(void);
		void (*teardown)(void);
	} fixture;
	/* Before a group's tests, as "suite/group (group setup)"; false fails them. */
	struct {
		bool (*setup)(const char *group);
		void (*teardown)(const char *group);
	} group;
	struct {
		/* After vt_start(): may vt_skip() the test. */
		void (*before)(const struct vt_test *t);
		/* After the test function, before its devices are closed. */
		void (*after)(const struct vt_test *t);
		/* After the test's line. */
		void (*cleanup)(const struct vt_test *t);
	} test;
};

#define VT_S_FORK	0x1	/* each test in a child process, the watchdog in the parent */
#define VT_S_NEED_DEV	0x2	/* fail at once without /dev/vhost-scsi */
#define VT_S_ALL_BEYOND	0x4	/* every test: a failure on vhost_scsi is XFAIL */
#define VT_S_LIST_HOW	0x8	/* --list says how VT_F_BEYOND tests differ upstream */

/* What the program defines: client/vtmain.c's main() runs it. */
extern const struct vt_suite vt_suite;

/*
 * The main() of a test program: options --module, --filter SUBSTR (on
 * "[group.]name"), --list, -v and the suite's own; then the fixture, every
 * selected test (by group, then file, then line), the summary line.
 * Returns the exit status.
 */
int vt_main(int argc, char **argv, const struct vt_suite *s);
/* s: one test; vt_main() sets it from the suite, an option may change it. */
extern unsigned int vt_timeout;

#endif
