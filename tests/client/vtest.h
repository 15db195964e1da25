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

#endif
