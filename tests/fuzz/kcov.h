/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Remote KCOV coverage for the fuzzer: what the module's threads and the
 * vhost worker executed on behalf of this process (the module starts its
 * queue threads under the owner's KCOV handle, as the vhost core does).
 * Edges are counted for the module's own code only, from /proc/modules.
 * Nothing here works without CONFIG_KCOV (Debian's kernels): kcov_open()
 * then says why and returns NULL.
 */
#ifndef TVH_FUZZ_KCOV_H
#define TVH_FUZZ_KCOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kcov;

/*
 * Finds @module's code in /proc/kallsyms, once, before the threads start
 * (reading it takes seconds under TCG).  0, or -errno and @why.
 */
int kcov_init(const char *module, char *why, size_t wl);

/*
 * Enables remote coverage for the calling thread; call it before the
 * thread opens the devices it fuzzes (their threads take the handle then).
 * Each fuzzing thread has its own; the edges seen are shared.  NULL (and
 * @why) if the kernel has no KCOV.
 */
struct kcov *kcov_open(char *why, size_t wl);

/*
 * Takes what was collected since the last call: the number of module
 * edges never seen before in this run.
 */
unsigned int kcov_collect(struct kcov *k);

/* Distinct module edges seen so far, by all threads. */
unsigned int kcov_edges(void);

void kcov_close(struct kcov *k);

#endif
