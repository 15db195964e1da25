// SPDX-License-Identifier: GPL-2.0
/*
 * vsc-mem: kernel memory one /dev/vhost-scsi device costs, from /proc/meminfo.
 *
 *   vsc-mem --wwpn naa.X [--queues N] [--ring N] [--reps R] [--label TEXT] [--hold S]
 *
 * Per repetition: meminfo before open; open + owner + features + memory
 * table + every ring (libvsc's vsc_open); meminfo; VHOST_SCSI_SET_ENDPOINT
 * (where vhost-scsi preallocates its per-ring commands); meminfo; optional
 * pause (--hold, to inspect by hand); close. Prints one JSON line with the
 * averages over the repetitions, in KiB:
 *   endpoint_kb   -dMemFree across SET_ENDPOINT (all kernel allocations)
 *   endpoint_slab_kb / endpoint_vmalloc_kb   the Slab / VmallocUsed part
 *   open_kb       -dMemFree across vsc_open minus this process's RssAnon growth
 *                 (the device and vq structures, the vhost worker, ...)
 *   total_kb      open_kb + endpoint_kb
 * The machine must be otherwise idle: anything else allocating shows up too.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libvsc.h"

struct mi {
	long memfree, slab, vmalloc, rss_anon;
};

static long field(const char *file, const char *name)
{
	char line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f = fopen(file, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static void snap(struct mi *m)
{
	/* let deferred frees (RCU, workqueues) settle a little */
	usleep(200000);
	m->memfree = field("/proc/meminfo", "MemFree");
	m->slab = field("/proc/meminfo", "Slab");
	m->vmalloc = field("/proc/meminfo", "VmallocUsed");
	m->rss_anon = field("/proc/self/status", "RssAnon");
}

static void usage(void)
{
	fprintf(stderr, "usage: vsc-mem --wwpn naa.X [--queues N] [--ring N] [--reps R] "
			"[--label TEXT] [--hold S] [--dev PATH]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "wwpn", 1, 0, 'w' }, { "queues", 1, 0, 'q' }, { "ring", 1, 0, 'n' },
		{ "reps", 1, 0, 'r' }, { "label", 1, 0, 'L' }, { "hold", 1, 0, 'H' },
		{ "dev", 1, 0, 'D' }, { 0 }
	};
	const char *wwpn = NULL, *label = "", *dev = NULL;
	unsigned int queues = 1, ring = 128, reps = 5, i;
	double hold = 0, ep = 0, ep_slab = 0, ep_vm = 0, op = 0, ep_min = 1e18, ep_max = -1e18;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'w': wwpn = optarg; break;
		case 'q': queues = (unsigned int)atoi(optarg); break;
		case 'n': ring = (unsigned int)atoi(optarg); break;
		case 'r': reps = (unsigned int)atoi(optarg); break;
		case 'L': label = optarg; break;
		case 'H': hold = atof(optarg); break;
		case 'D': dev = optarg; break;
		default: usage();
		}
	}
	if (!wwpn || !queues || queues > VSC_MAX_REQ_VQS || !reps)
		usage();

	for (i = 0; i < reps; i++) {
		struct vsc_opts o = { .path = dev, .num_req_queues = queues, .ring_size = ring,
				      .arena_size = 8UL << 20 };
		struct mi a, b, c;
		struct vsc_dev *d;
		double e;

		snap(&a);
		d = vsc_open(&o);
		if (!d) {
			fprintf(stderr, "vsc-mem: vsc_open: %s\n", strerror(errno));
			return 1;
		}
		snap(&b);
		r = vsc_set_endpoint(d, wwpn);
		if (r) {
			fprintf(stderr, "vsc-mem: SET_ENDPOINT %s: %s\n", wwpn, strerror(-r));
			vsc_close(d);
			return 1;
		}
		snap(&c);
		if (hold > 0)
			usleep((useconds_t)(hold * 1e6));
		e = (double)(b.memfree - c.memfree);
		ep += e;
		ep_min = e < ep_min ? e : ep_min;
		ep_max = e > ep_max ? e : ep_max;
		ep_slab += (double)(c.slab - b.slab);
		ep_vm += (double)(c.vmalloc - b.vmalloc);
		op += (double)(a.memfree - b.memfree) - (double)(b.rss_anon - a.rss_anon);
		vsc_clear_endpoint(d, wwpn);
		vsc_close(d);
		usleep(300000);
	}
	printf("{\"tool\":\"vsc-mem\",\"label\":\"%s\",\"queues\":%u,\"ring\":%u,\"reps\":%u,"
	       "\"endpoint_kb\":%.0f,\"endpoint_min_kb\":%.0f,\"endpoint_max_kb\":%.0f,"
	       "\"endpoint_slab_kb\":%.0f,\"endpoint_vmalloc_kb\":%.0f,\"open_kb\":%.0f,"
	       "\"total_kb\":%.0f}\n",
	       label, queues, ring, reps, ep / reps, ep_min, ep_max, ep_slab / reps, ep_vm / reps,
	       op / reps, (ep + op) / reps);
	return 0;
}
