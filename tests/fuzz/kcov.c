// SPDX-License-Identifier: GPL-2.0
/*
 * Remote KCOV coverage for the fuzzer (kcov.h).  A trace buffer per fuzzing
 * thread, which every kernel thread working under that thread's handle
 * fills; the module's edges of all of them are hashed into one bitmap, which
 * says what is new.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kcov.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kcov.h"

#define KCOV_WORDS	(1u << 18)	/* trace buffer: 2 MiB of PCs */
#define EDGE_BITS	20		/* edge bitmap: 2^20 bits */

/* The edges seen, shared by every thread's buffer. */
static uint8_t seen[(1u << EDGE_BITS) / 8];
static unsigned int edges;
static uint64_t text_lo, text_hi;	/* the module's code (kcov_init()) */

struct kcov {
	int fd;
	uint64_t *area;			/* [0]: PCs that follow */
};

/*
 * Where the kernel's text starts without KASLR: KCOV reports every PC, the
 * modules' too, less the kernel's KASLR offset (canonicalize_ip()), which is
 * where _text is less this (x86-64, PHYSICAL_START 16 MiB).
 */
#define TEXT_UNRANDOMIZED 0xffffffff81000000ull

/*
 * The range of the module's text symbols in /proc/kallsyms (root sees
 * them), as KCOV reports PCs: less the KASLR offset.
 */
static int module_text(const char *module, uint64_t *lo, uint64_t *hi)
{
	uint64_t text = 0, off = 0;
	char line[512], name[256], want[128], type;
	unsigned long long a;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return -errno;
	snprintf(want, sizeof(want), "[%s]", module);
	*lo = UINT64_MAX;
	*hi = 0;
	while (fgets(line, sizeof(line), f)) {
		char mod[128] = "";
		int n = sscanf(line, "%llx %c %255s %127s", &a, &type, name, mod);

		if (n == 3 && !text && !strcmp(name, "_text"))
			text = a;
		if (n < 4 || strcmp(mod, want) || (type != 't' && type != 'T') || !a)
			continue;
		if (a < *lo)
			*lo = a;
		if (a > *hi)
			*hi = a;
	}
	fclose(f);
	if (*lo > *hi)
		return -ENOENT;
	*hi += 4096;	/* the last function's length is not listed */
	/* KASLR moves the kernel in 2 MiB steps; anything else: no offset */
	if (text >= TEXT_UNRANDOMIZED && !((text - TEXT_UNRANDOMIZED) & ((2u << 20) - 1)))
		off = text - TEXT_UNRANDOMIZED;
	*lo -= off;
	*hi -= off;
	return 0;
}

int kcov_init(const char *module, char *why, size_t wl)
{
	int r = module_text(module, &text_lo, &text_hi);

	if (r)
		snprintf(why, wl, "no text symbols of %s in /proc/kallsyms: %s", module,
			 strerror(-r));
	return r;
}

struct kcov *kcov_open(char *why, size_t wl)
{
	struct kcov_remote_arg arg = {
		.trace_mode = KCOV_TRACE_PC,
		.area_size = KCOV_WORDS,
		/* unique among this system's enabled handles: one per thread */
		.common_handle = (0x00ull << 56) | (uint32_t)gettid(),
	};
	struct kcov *k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(why, wl, "out of memory");
		return NULL;
	}
	k->fd = -1;
	k->area = MAP_FAILED;
	if (!text_hi) {
		snprintf(why, wl, "kcov_init() did not find the module");
		goto fail;
	}
	k->fd = open("/sys/kernel/debug/kcov", O_RDWR);
	if (k->fd < 0) {
		snprintf(why, wl, "/sys/kernel/debug/kcov: %s (kernel without KCOV?)",
			 strerror(errno));
		goto fail;
	}
	if (ioctl(k->fd, KCOV_INIT_TRACE, (unsigned long)KCOV_WORDS)) {
		snprintf(why, wl, "KCOV_INIT_TRACE: %s", strerror(errno));
		goto fail;
	}
	k->area = mmap(NULL, KCOV_WORDS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED,
		       k->fd, 0);
	if (k->area == MAP_FAILED) {
		snprintf(why, wl, "mmap kcov: %s", strerror(errno));
		goto fail;
	}
	if (ioctl(k->fd, KCOV_REMOTE_ENABLE, &arg)) {
		snprintf(why, wl, "KCOV_REMOTE_ENABLE: %s", strerror(errno));
		goto fail;
	}
	__atomic_store_n(&k->area[0], 0, __ATOMIC_RELAXED);
	return k;
fail:
	kcov_close(k);
	return NULL;
}

static bool edge_new(uint64_t from, uint64_t to)
{
	uint64_t h = ((from * 0x9e3779b97f4a7c15ull) ^ to) * 0xbf58476d1ce4e5b9ull;
	uint32_t bit = (uint32_t)(h >> (64 - EDGE_BITS));
	uint8_t mask = (uint8_t)(1u << (bit & 7));

	if (__atomic_load_n(&seen[bit >> 3], __ATOMIC_RELAXED) & mask ||
	    __atomic_fetch_or(&seen[bit >> 3], mask, __ATOMIC_RELAXED) & mask)
		return false;
	__atomic_fetch_add(&edges, 1, __ATOMIC_RELAXED);
	return true;
}

unsigned int kcov_collect(struct kcov *k)
{
	uint64_t n = __atomic_load_n(&k->area[0], __ATOMIC_ACQUIRE), i, pc, prev = 0;
	unsigned int fresh = 0;

	if (n > KCOV_WORDS - 1)
		n = KCOV_WORDS - 1;
	for (i = 1; i <= n; i++) {
		pc = __atomic_load_n(&k->area[i], __ATOMIC_RELAXED);
		if (pc < text_lo || pc >= text_hi) {
			prev = 0;	/* left the module: a new path starts */
			continue;
		}
		fresh += edge_new(prev, pc);
		prev = pc;
	}
	__atomic_store_n(&k->area[0], 0, __ATOMIC_RELEASE);
	return fresh;
}

unsigned int kcov_edges(void)
{
	return __atomic_load_n(&edges, __ATOMIC_RELAXED);
}


void kcov_close(struct kcov *k)
{
	if (!k)
		return;
	if (k->area != MAP_FAILED)
		munmap(k->area, KCOV_WORDS * sizeof(uint64_t));
	if (k->fd >= 0)
		close(k->fd);
	free(k);
}
