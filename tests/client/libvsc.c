// SPDX-License-Identifier: GPL-2.0
/*
 * libvsc core: device, arena, split rings, raw access, SCSI/control/event
 * requests. See libvsc.h for the model.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "libvsc.h"

#define NCLS		128
#define ARENA_DEFAULT	(256UL << 20)

/* The vhost core's worker ioctls (Linux 6.5 on); 6.1's uapi lacks them. */
struct vsc_worker_state {
	unsigned int worker_id;
};

struct vsc_vring_worker {
	unsigned int index;
	unsigned int worker_id;
};

#ifndef VHOST_NEW_WORKER
#define VHOST_NEW_WORKER	_IOR(VHOST_VIRTIO, 0x8, struct vsc_worker_state)
#define VHOST_ATTACH_VRING_WORKER _IOW(VHOST_VIRTIO, 0x15, struct vsc_vring_worker)
#endif
_Static_assert(VHOST_NEW_WORKER == 0x8004AF08, "VHOST_NEW_WORKER");
_Static_assert(VHOST_ATTACH_VRING_WORKER == 0x4008AF15, "VHOST_ATTACH_VRING_WORKER");

struct vsc_vq {
	bool setup;
	unsigned int num;
	struct vsc_buf *rbuf[3];
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	int kick_fd, call_fd, err_fd;
	uint16_t avail_shadow;	/* next avail idx to publish */
	uint16_t kicked;	/* avail idx at the last kick decision */
	uint16_t last_used;
	uint16_t free_head;
	unsigned int num_free;
	uint16_t *next;		/* free list / chain links, shadow of desc.next */
	struct vsc_op **ops;	/* by head */
	unsigned int inflight;
	unsigned int stray;
	uint64_t errs, calls;
};

struct freelist {
	size_t *off;
	unsigned int n, cap;
};

struct vsc_dev {
	int fd;
	struct vsc_opts o;
	uint64_t offered, acked;
	uint8_t *arena;
	size_t arena_size, bump, live;
	pthread_mutex_t lock;
	struct freelist fl[NCLS];
	struct vsc_buf *guarded;
	unsigned int nvqs;
	bool workers_attached;	/* worker_per_vq took effect */
	uint64_t seq;
	struct vsc_vq vq[VSC_MAX_VQS];
};

static inline void mb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

uint64_t vsc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---------------------------------------------------------------- device */

int vsc_ioctl(struct vsc_dev *d, unsigned long req, void *arg)
{
	return ioctl(d->fd, req, arg) < 0 ? -errno : 0;
}

int vsc_fd(const struct vsc_dev *d) { return d->fd; }
bool vsc_workers_attached(const struct vsc_dev *d) { return d->workers_attached; }
uint64_t vsc_features_offered(const struct vsc_dev *d) { return d->offered; }
uint64_t vsc_features(const struct vsc_dev *d) { return d->acked; }
bool vsc_has_feature(const struct vsc_dev *d, unsigned int bit) { return d->acked & VSC_F(bit); }
unsigned int vsc_num_vqs(const struct vsc_dev *d) { return d->nvqs; }
void *vsc_arena_base(const struct vsc_dev *d) { return d->arena; }
size_t vsc_arena_size(const struct vsc_dev *d) { return d->arena_size; }
size_t vsc_arena_used(const struct vsc_dev *d) { return d->live; }
size_t vsc_arena_reserved(const struct vsc_dev *d) { return d->bump; }

unsigned int vsc_vq_size(const struct vsc_dev *d, unsigned int vq)
{
	return vq < d->nvqs ? d->vq[vq].num : 0;
}

static void vq_close_fds(struct vsc_vq *q)
{
	if (q->kick_fd >= 0)
		close(q->kick_fd);
	if (q->call_fd >= 0)
		close(q->call_fd);
	if (q->err_fd >= 0)
		close(q->err_fd);
	q->kick_fd = q->call_fd = q->err_fd = -1;
}

static void vq_free(struct vsc_dev *d, struct vsc_vq *q)
{
	int i;

	vq_close_fds(q);
	for (i = 0; i < 3; i++) {
		if (q->rbuf[i])
			vsc_buf_free(d, q->rbuf[i]);
		q->rbuf[i] = NULL;
	}
	free(q->next);
	free(q->ops);
	q->next = NULL;
	q->ops = NULL;
	q->setup = false;
}

int vsc_vq_setup(struct vsc_dev *d, unsigned int idx, unsigned int num)
{
	struct vsc_vq *q;
	struct vhost_vring_state st;
	struct vhost_vring_addr addr;
	struct vhost_vring_file f;
	unsigned int i;
	int r;

	if (idx >= VSC_MAX_VQS || !num || num > VSC_MAX_RING)
		return -EINVAL;
	q = &d->vq[idx];
	if (q->setup)
		vq_free(d, q);
	q->num = num;
	q->rbuf[0] = vsc_buf_alloc(d, 16UL * num, VSC_BUF_ZERO, 0);
	q->rbuf[1] = vsc_buf_alloc(d, 6 + 2UL * num, VSC_BUF_ZERO, 0);
	q->rbuf[2] = vsc_buf_alloc(d, 6 + 8UL * num, VSC_BUF_ZERO, 0);
	q->next = calloc(num, sizeof(*q->next));
	q->ops = calloc(num, sizeof(*q->ops));
	if (!q->rbuf[0] || !q->rbuf[1] || !q->rbuf[2] || !q->next || !q->ops) {
		r = -ENOMEM;
		goto fail;
	}
	q->desc = (void *)q->rbuf[0]->p;
	q->avail = (void *)q->rbuf[1]->p;
	q->used = (void *)q->rbuf[2]->p;
	for (i = 0; i < num; i++)
		q->next[i] = (uint16_t)(i + 1 < num ? i + 1 : 0);
	q->free_head = 0;
	q->num_free = num;
	q->avail_shadow = q->kicked = q->last_used = 0;
	q->inflight = q->stray = 0;

	st.index = idx;
	st.num = num;
	r = vsc_ioctl(d, VHOST_SET_VRING_NUM, &st);
	if (r)
		goto fail;
	st.num = 0;
	r = vsc_ioctl(d, VHOST_SET_VRING_BASE, &st);
	if (r)
		goto fail;
	memset(&addr, 0, sizeof(addr));
	addr.index = idx;
	addr.desc_user_addr = (uintptr_t)q->desc;
	addr.avail_user_addr = (uintptr_t)q->avail;
	addr.used_user_addr = (uintptr_t)q->used;
	r = vsc_ioctl(d, VHOST_SET_VRING_ADDR, &addr);
	if (r)
		goto fail;
	q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->err_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->call_fd = d->o.poll_mode ? -1 : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->kick_fd < 0 || q->err_fd < 0 || (!d->o.poll_mode && q->call_fd < 0)) {
		r = -errno;
		goto fail;
	}
	f.index = idx;
	f.fd = q->kick_fd;
	r = vsc_ioctl(d, VHOST_SET_VRING_KICK, &f);
	if (r)
		goto fail;
	f.fd = q->call_fd;
	r = vsc_ioctl(d, VHOST_SET_VRING_CALL, &f);
	if (r)
		goto fail;
	f.fd = q->err_fd;
	r = vsc_ioctl(d, VHOST_SET_VRING_ERR, &f);
	if (r)
		goto fail;
	q->setup = true;
	return 0;
fail:
	vq_free(d, q);
	return r;
}

/*
 * What QEMU gives a virtqueue whose ring the guest did not set up (firmware
 * drives one request queue): its error eventfd, and nothing else.
 */
static int vq_err_only(struct vsc_dev *d, unsigned int idx)
{
	struct vsc_vq *q = &d->vq[idx];
	struct vhost_vring_file f = { .index = idx };

	q->err_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->err_fd < 0)
		return -errno;
	f.fd = q->err_fd;
	return vsc_ioctl(d, VHOST_SET_VRING_ERR, &f);
}

/*
 * QEMU's vhost_scsi_set_workers(): a new worker for every request queue
 * after the first. -ENOTTY from NEW_WORKER means one worker only (not an
 * error); -ENOTTY from ATTACH after a successful NEW_WORKER fails, as in
 * QEMU. The workers go with the fd.
 */
static int attach_workers(struct vsc_dev *d)
{
	struct vsc_worker_state w;
	struct vsc_vring_worker vw;
	unsigned int i;
	int r;

	for (i = VSC_VQ_REQ(1); i < d->nvqs; i++) {
		memset(&w, 0, sizeof(w));
		r = vsc_ioctl(d, VHOST_NEW_WORKER, &w);
		if (r == -ENOTTY)
			return 0;
		if (r)
			return r;
		vw.index = i;
		vw.worker_id = w.worker_id;
		r = vsc_ioctl(d, VHOST_ATTACH_VRING_WORKER, &vw);
		if (r)
			return r;
	}
	d->workers_attached = true;
	return 0;
}

static struct vsc_dev *open_dev(const struct vsc_opts *opts, void *arena);

struct vsc_dev *vsc_open(const struct vsc_opts *opts)
{
	return open_dev(opts, NULL);
}

struct vsc_dev *vsc_open_arena(const struct vsc_opts *opts, void *arena)
{
	if (!arena) {
		errno = EINVAL;
		return NULL;
	}
	return open_dev(opts, arena);
}

/* vsc_open(), with the caller's @arena if not NULL */
static struct vsc_dev *open_dev(const struct vsc_opts *opts, void *arena)
{
	struct vsc_opts o = opts ? *opts : (struct vsc_opts){ 0 };
	struct vsc_dev *d;
	unsigned int i, num;
	int r;

	if (!o.path)
		o.path = "/dev/vhost-scsi";
	if (!o.num_req_queues)
		o.num_req_queues = 1;
	if (!o.ring_size)
		o.ring_size = 128;
	if (!o.arena_size)
		o.arena_size = ARENA_DEFAULT;
	o.arena_size = (o.arena_size + 4095) & ~4095UL;
	if (o.num_req_queues > VSC_MAX_REQ_VQS) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->o = o;
	d->fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	for (i = 0; i < VSC_MAX_VQS; i++)
		d->vq[i].kick_fd = d->vq[i].call_fd = d->vq[i].err_fd = -1;
	d->nvqs = 2 + o.num_req_queues;

	d->arena = arena ? arena : mmap(NULL, o.arena_size, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (d->arena == MAP_FAILED) {
		d->arena = NULL;
		r = -errno;
		goto fail;
	}
	d->arena_size = o.arena_size;

	d->fd = open(o.path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		r = -errno;
		goto fail;
	}
	r = vsc_ioctl(d, VHOST_SET_OWNER, NULL);
	if (r || o.stage == VSC_STAGE_OWNER)
		goto out;

	r = vsc_ioctl(d, VHOST_GET_FEATURES, &d->offered);
	if (r)
		goto out;
	if (!o.no_features) {
		uint64_t want = o.features ? o.features : VSC_FEATURES_ALL;

		d->acked = o.features_exact ? want : (want & d->offered);
		r = vsc_ioctl(d, VHOST_SET_FEATURES, &d->acked);
		if (r)
			goto out;
	}
	if (o.stage == VSC_STAGE_FEATURES)
		goto out;

	r = vsc_set_mem_table(d);
	if (r || o.stage == VSC_STAGE_MEM)
		goto out;

	for (i = 0; i < d->nvqs; i++) {
		if (i == VSC_VQ_EVT && o.evt_ring_unset) {
			r = vq_err_only(d, i);
			if (r)
				goto out;
			continue;
		}
		num = o.ring_size;
		if (i == VSC_VQ_CTL && o.ctl_ring_size)
			num = o.ctl_ring_size;
		if (i == VSC_VQ_EVT && o.evt_ring_size)
			num = o.evt_ring_size;
		r = vsc_vq_setup(d, i, num);
		if (r)
			goto out;
	}
	if (o.worker_per_vq)
		r = attach_workers(d);
out:
	if (!r)
		return d;
fail:
	if (arena)
		d->arena = NULL;	/* the caller's, not vsc_close()'s to unmap */
	vsc_close(d);
	errno = -r;
	return NULL;
}

void vsc_close(struct vsc_dev *d)
{
	unsigned int i;
	struct vsc_buf *b, *n;

	if (!d)
		return;
	/* The kernel flushes and ends every command in release(). */
	if (d->fd >= 0)
		close(d->fd);
	for (i = 0; i < VSC_MAX_VQS; i++) {
		struct vsc_vq *q = &d->vq[i];

		vq_close_fds(q);
		free(q->next);
		free(q->ops);
	}
	/* Buffers still referenced by callers become dangling: free guard list only. */
	for (b = d->guarded; b; b = n) {
		n = b->gnext;
		b->gprev = b->gnext = NULL;
	}
	for (i = 0; i < NCLS; i++)
		free(d->fl[i].off);
	if (d->arena)
		munmap(d->arena, d->arena_size);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void *vsc_close_keep_arena(struct vsc_dev *d)
{
	void *arena;

	if (!d)
		return NULL;
	arena = d->arena;
	d->arena = NULL;	/* vsc_close() unmaps only what it still has */
	vsc_close(d);
	return arena;
}

int vsc_set_mem_table(struct vsc_dev *d)
{
	struct vhost_memory *mem;
	int r;

	mem = calloc(1, sizeof(*mem) + sizeof(mem->regions[0]));
	if (!mem)
		return -ENOMEM;
	mem->nregions = 1;
	mem->regions[0].guest_phys_addr = (uintptr_t)d->arena;
	mem->regions[0].userspace_addr = (uintptr_t)d->arena;
	mem->regions[0].memory_size = d->arena_size;
	r = vsc_ioctl(d, VHOST_SET_MEM_TABLE, mem);
	free(mem);
	return r;
}

static int endpoint_ioctl(struct vsc_dev *d, unsigned long req, const char *wwpn)
{
	struct vhost_scsi_target t;

	memset(&t, 0, sizeof(t));
	t.abi_version = VHOST_SCSI_ABI_VERSION;
	if (wwpn)
		strncpy(t.vhost_wwpn, wwpn, sizeof(t.vhost_wwpn) - 1);
	return vsc_ioctl(d, req, &t);
}

int vsc_set_endpoint(struct vsc_dev *d, const char *wwpn)
{
	return endpoint_ioctl(d, VHOST_SCSI_SET_ENDPOINT, wwpn);
}

int vsc_clear_endpoint(struct vsc_dev *d, const char *wwpn)
{
	return endpoint_ioctl(d, VHOST_SCSI_CLEAR_ENDPOINT, wwpn);
}

int vsc_set_endpoint_raw(struct vsc_dev *d, const struct vhost_scsi_target *t)
{
	struct vhost_scsi_target c = *t;

	return vsc_ioctl(d, VHOST_SCSI_SET_ENDPOINT, &c);
}

int vsc_clear_endpoint_raw(struct vsc_dev *d, const struct vhost_scsi_target *t)
{
	struct vhost_scsi_target c = *t;

	return vsc_ioctl(d, VHOST_SCSI_CLEAR_ENDPOINT, &c);
}

int vsc_get_abi_version(struct vsc_dev *d, int *version)
{
	*version = -1;
	return vsc_ioctl(d, VHOST_SCSI_GET_ABI_VERSION, version);
}

int vsc_get_events_missed(struct vsc_dev *d, uint32_t *v)
{
	return vsc_ioctl(d, VHOST_SCSI_GET_EVENTS_MISSED, v);
}

int vsc_set_events_missed(struct vsc_dev *d, uint32_t v)
{
	return vsc_ioctl(d, VHOST_SCSI_SET_EVENTS_MISSED, &v);
}

/* ----------------------------------------------------------------- arena */

/* 64 B .. 4 KiB in powers of two, then four steps per power of two. */
static size_t cls_size(unsigned int c)
{
	unsigned int k;

	if (c < 7)
		return 64UL << c;
	k = (c - 7) / 4 + 12;
	return (size_t)(4 + (c - 7) % 4) << (k - 2);
}

static unsigned int size_cls(size_t sz)
{
	unsigned int c;

	for (c = 0; c < NCLS; c++)
		if (cls_size(c) >= sz)
			return c;
	return NCLS;
}

struct vsc_buf *vsc_buf_alloc(struct vsc_dev *d, size_t len, unsigned int flags,
			      unsigned int misalign)
{
	bool guard = flags & VSC_BUF_GUARD;
	size_t need, cap, off, align;
	struct freelist *fl;
	struct vsc_buf *b;
	unsigned int c;

	misalign &= 63;
	need = len + (guard ? 2 * VSC_CANARY_LEN : 0) + misalign;
	c = size_cls(need ? need : 1);
	if (c >= NCLS) {
		errno = ENOMEM;
		return NULL;
	}
	cap = cls_size(c);
	align = cap < 4096 ? 64 : 4096;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;

	pthread_mutex_lock(&d->lock);
	fl = &d->fl[c];
	if (fl->n) {
		off = fl->off[--fl->n];
	} else {
		off = (d->bump + align - 1) & ~(align - 1);
		if (off + cap > d->arena_size) {
			pthread_mutex_unlock(&d->lock);
			free(b);
			errno = ENOMEM;
			return NULL;
		}
		d->bump = off + cap;
	}
	d->live += cap;
	b->off = off;
	b->cap = cap;
	b->cls = c;
	b->len = len;
	b->p = d->arena + off + (guard ? VSC_CANARY_LEN : 0) + misalign;
	b->guarded = guard;
	if (guard) {
		b->gnext = d->guarded;
		if (d->guarded)
			d->guarded->gprev = b;
		d->guarded = b;
	}
	pthread_mutex_unlock(&d->lock);

	if (guard) {
		memset(b->p - VSC_CANARY_LEN, VSC_CANARY_BYTE, VSC_CANARY_LEN);
		memset(b->p + len, VSC_CANARY_BYTE, VSC_CANARY_LEN);
	}
	if (flags & VSC_BUF_ZERO)
		memset(b->p, 0, len);
	else if (flags & VSC_BUF_FILL)
		memset(b->p, 0xcc, len);
	return b;
}

void vsc_buf_free(struct vsc_dev *d, struct vsc_buf *b)
{
	struct freelist *fl;

	if (!b)
		return;
	pthread_mutex_lock(&d->lock);
	if (b->guarded) {
		if (b->gprev)
			b->gprev->gnext = b->gnext;
		else
			d->guarded = b->gnext;
		if (b->gnext)
			b->gnext->gprev = b->gprev;
	}
	fl = &d->fl[b->cls];
	if (fl->n == fl->cap) {
		unsigned int ncap = fl->cap ? fl->cap * 2 : 64;
		size_t *n = realloc(fl->off, ncap * sizeof(*n));

		if (!n) {	/* leak the block rather than fail */
			pthread_mutex_unlock(&d->lock);
			free(b);
			return;
		}
		fl->off = n;
		fl->cap = ncap;
	}
	fl->off[fl->n++] = b->off;
	d->live -= b->cap;
	pthread_mutex_unlock(&d->lock);
	free(b);
}

int vsc_buf_check(const struct vsc_buf *b, long *where)
{
	unsigned int i;

	if (!b->guarded)
		return 0;
	for (i = 0; i < VSC_CANARY_LEN; i++) {
		if (b->p[-(long)VSC_CANARY_LEN + i] != VSC_CANARY_BYTE) {
			if (where)
				*where = -(long)VSC_CANARY_LEN + i;
			return -EFAULT;
		}
		if (b->p[b->len + i] != VSC_CANARY_BYTE) {
			if (where)
				*where = (long)(b->len + i);
			return -EFAULT;
		}
	}
	return 0;
}

int vsc_canary_check_all(struct vsc_dev *d)
{
	struct vsc_buf *b;
	int bad = 0;

	pthread_mutex_lock(&d->lock);
	for (b = d->guarded; b; b = b->gnext)
		if (vsc_buf_check(b, NULL))
			bad++;
	pthread_mutex_unlock(&d->lock);
	return bad;
}

/* ------------------------------------------------------------------ ring */

static struct vsc_vq *getq(struct vsc_dev *d, unsigned int vq)
{
	if (vq >= VSC_MAX_VQS || !d->vq[vq].setup)
		return NULL;
	return &d->vq[vq];
}

static void publish(struct vsc_vq *q, uint16_t head)
{
	q->avail->ring[q->avail_shadow % q->num] = head;
	q->avail_shadow++;
	/* pairs with the device's read barrier after reading avail->idx */
	__atomic_store_n(&q->avail->idx, q->avail_shadow, __ATOMIC_RELEASE);
}

static uint16_t take_desc(struct vsc_vq *q)
{
	uint16_t i = q->free_head;

	q->free_head = q->next[i];
	q->num_free--;
	return i;
}

static void give_desc(struct vsc_vq *q, uint16_t i)
{
	q->next[i] = q->free_head;
	q->free_head = i;
	q->num_free++;
}

int vsc_submit_chain(struct vsc_dev *d, unsigned int vq, const struct vsc_iov *iov,
		     unsigned int n, bool indirect, struct vsc_op *op)
{
	struct vsc_vq *q = getq(d, vq);
	uint16_t head, i, prev = 0;
	unsigned int k;

	if (!q || !n || n > 65535)
		return -EINVAL;
	op->vq = vq;
	op->done = false;
	op->inflight = false;
	op->used_len = 0;
	op->itab = NULL;
	op->descs = NULL;
	if (indirect) {
		struct vring_desc *t;

		if (q->num_free < 1)
			return -ENOSPC;
		op->itab = vsc_buf_alloc(d, 16UL * n, 0, 0);
		if (!op->itab)
			return -ENOMEM;
		t = (void *)op->itab->p;
		for (k = 0; k < n; k++) {
			t[k].addr = (uintptr_t)iov[k].addr;
			t[k].len = iov[k].len;
			t[k].flags = (iov[k].write ? VRING_DESC_F_WRITE : 0) |
				     (k + 1 < n ? VRING_DESC_F_NEXT : 0);
			t[k].next = (uint16_t)(k + 1 < n ? k + 1 : 0);
		}
		head = take_desc(q);
		q->desc[head].addr = (uintptr_t)t;
		q->desc[head].len = 16 * n;
		q->desc[head].flags = VRING_DESC_F_INDIRECT;
		q->desc[head].next = 0;
		op->ndesc = 1;
	} else {
		if (q->num_free < n)
			return -ENOSPC;
		head = q->free_head;
		for (k = 0; k < n; k++) {
			i = take_desc(q);
			q->desc[i].addr = (uintptr_t)iov[k].addr;
			q->desc[i].len = iov[k].len;
			q->desc[i].flags = iov[k].write ? VRING_DESC_F_WRITE : 0;
			q->desc[i].next = 0;
			if (k) {
				q->desc[prev].flags |= VRING_DESC_F_NEXT;
				q->desc[prev].next = i;
			}
			prev = i;
		}
		op->ndesc = (uint16_t)n;
	}
	op->head = head;
	op->inflight = true;
	op->submit_ns = vsc_now_ns();
	q->ops[head] = op;
	q->inflight++;
	publish(q, head);
	return 0;
}

static void do_kick(struct vsc_vq *q)
{
	uint64_t one = 1;

	if (write(q->kick_fd, &one, sizeof(one)) < 0) {
		/* eventfd counter overflow is impossible at our rates */
	}
}

void vsc_kick_force(struct vsc_dev *d, unsigned int vq)
{
	struct vsc_vq *q = getq(d, vq);

	if (!q)
		return;
	q->kicked = q->avail_shadow;
	do_kick(q);
}

void vsc_kick(struct vsc_dev *d, unsigned int vq)
{
	struct vsc_vq *q = getq(d, vq);
	uint16_t old, new;
	bool need;

	if (!q)
		return;
	old = q->kicked;
	new = q->avail_shadow;
	q->kicked = new;
	/* avail->idx store before reading the device's suppression state */
	mb();
	if (d->o.always_kick)
		need = true;
	else if (d->acked & VSC_F(VIRTIO_RING_F_EVENT_IDX))
		need = vring_need_event(__atomic_load_n((uint16_t *)&q->used->ring[q->num],
							__ATOMIC_RELAXED), new, old);
	else
		need = !(__atomic_load_n(&q->used->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY);
	if (need)
		do_kick(q);
}

static void op_finish(struct vsc_dev *d, struct vsc_vq *q, struct vsc_op *op, uint32_t len)
{
	unsigned int k;

	if (op->descs) {
		for (k = 0; k < op->ndesc; k++)
			give_desc(q, op->descs[k]);
		free(op->descs);
		op->descs = NULL;
	} else {
		/* walk our shadow links: the chain was taken in free-list order */
		uint16_t i = op->head, nx;

		for (k = 0; k < op->ndesc; k++) {
			nx = q->next[i];
			give_desc(q, i);
			i = nx;
		}
	}
	if (op->itab) {
		vsc_buf_free(d, op->itab);
		op->itab = NULL;
	}
	q->inflight--;
	op->used_len = len;
	op->inflight = false;
	op->done = true;
	op->done_ns = vsc_now_ns();
	op->seq = __atomic_add_fetch(&d->seq, 1, __ATOMIC_RELAXED);
	if (op->on_done)
		op->on_done(op);
}

/*
 * Shadow chain links: a non-indirect chain of n descriptors taken from the
 * free list is head, next[head], ... which give_desc() would break, so
 * give them back after reading the link.
 */
static int process_used(struct vsc_dev *d, struct vsc_vq *q)
{
	uint16_t uidx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	int n = 0;

	while (q->last_used != uidx) {
		struct vring_used_elem e = q->used->ring[q->last_used % q->num];
		struct vsc_op *op;

		q->last_used++;
		if (e.id >= q->num || !(op = q->ops[e.id])) {
			q->stray++;
			continue;
		}
		q->ops[e.id] = NULL;
		op_finish(d, q, op, e.len);
		n++;
	}
	return n;
}

static void arm_interrupt(struct vsc_dev *d, struct vsc_vq *q)
{
	if (d->acked & VSC_F(VIRTIO_RING_F_EVENT_IDX)) {
		uint16_t *ue = &q->avail->ring[q->num];	/* used_event */

		__atomic_store_n(ue, q->last_used, __ATOMIC_RELAXED);
		mb();
	}
}

static void drain_fd(int fd, uint64_t *acc)
{
	uint64_t v;

	if (fd >= 0 && read(fd, &v, sizeof(v)) == sizeof(v) && acc)
		*acc += v;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = vsc_now_ns();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

int vsc_reap(struct vsc_dev *d, unsigned int vq, int timeout_ms)
{
	struct vsc_vq *q = getq(d, vq);
	uint64_t deadline;
	int n;

	if (!q)
		return -EINVAL;
	deadline = timeout_ms < 0 ? UINT64_MAX : vsc_now_ns() + (uint64_t)timeout_ms * 1000000;
	for (;;) {
		drain_fd(q->call_fd, &q->calls);
		n = process_used(d, q);
		if (n || timeout_ms == 0)
			return n;
		arm_interrupt(d, q);
		n = process_used(d, q);
		if (n)
			return n;
		if (timeout_ms >= 0 && !remaining_ms(deadline))
			return 0;
		if (q->call_fd < 0) {
			usleep(20);
		} else {
			struct pollfd p = { .fd = q->call_fd, .events = POLLIN };
			int ms = timeout_ms < 0 ? 1000 : remaining_ms(deadline);

			if (poll(&p, 1, ms > 1000 ? 1000 : ms) < 0 && errno != EINTR)
				return -errno;
		}
	}
}

/* A vq error arrived since we last looked (it is added to the vq's count). */
static bool new_vq_error(struct vsc_dev *d)
{
	unsigned int i;
	bool seen = false;

	for (i = 0; i < d->nvqs; i++) {
		struct vsc_vq *q = &d->vq[i];
		uint64_t before = q->errs;

		if (!q->setup)
			continue;
		drain_fd(q->err_fd, &q->errs);
		if (q->errs != before)
			seen = true;
	}
	return seen;
}

/* vsc_reap_all(), and with @stop_on_err vsc_reap_all_err(). */
static int reap_all(struct vsc_dev *d, int timeout_ms, bool stop_on_err)
{
	struct pollfd p[2 * VSC_MAX_VQS];
	uint64_t deadline;
	unsigned int i, np;
	int n;

	deadline = timeout_ms < 0 ? UINT64_MAX : vsc_now_ns() + (uint64_t)timeout_ms * 1000000;
	for (;;) {
		n = 0;
		np = 0;
		for (i = 0; i < d->nvqs; i++) {
			struct vsc_vq *q = &d->vq[i];

			if (!q->setup)
				continue;
			drain_fd(q->call_fd, &q->calls);
			n += process_used(d, q);
		}
		if (n || (stop_on_err && new_vq_error(d)) || timeout_ms == 0)
			return n;
		for (i = 0; i < d->nvqs; i++) {
			struct vsc_vq *q = &d->vq[i];

			if (!q->setup)
				continue;
			arm_interrupt(d, q);
			n += process_used(d, q);
			if (q->call_fd >= 0) {
				p[np].fd = q->call_fd;
				p[np].events = POLLIN;
				np++;
			}
			if (stop_on_err && q->err_fd >= 0) {
				p[np].fd = q->err_fd;
				p[np].events = POLLIN;
				np++;
			}
		}
		if (n)
			return n;
		if (timeout_ms >= 0 && !remaining_ms(deadline))
			return 0;
		if (!np || d->o.poll_mode) {
			usleep(20);
		} else {
			int ms = timeout_ms < 0 ? 1000 : remaining_ms(deadline);

			if (poll(p, np, ms > 1000 ? 1000 : ms) < 0 && errno != EINTR)
				return -errno;
		}
	}
}

int vsc_reap_all(struct vsc_dev *d, int timeout_ms)
{
	return reap_all(d, timeout_ms, false);
}

int vsc_reap_all_err(struct vsc_dev *d, int timeout_ms)
{
	return reap_all(d, timeout_ms, true);
}

int vsc_wait(struct vsc_dev *d, struct vsc_op *op, int timeout_ms)
{
	uint64_t deadline = vsc_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000;
	int r;

	while (!op->done) {
		int ms = timeout_ms < 0 ? -1 : remaining_ms(deadline);

		if (timeout_ms >= 0 && !ms)
			return -ETIMEDOUT;
		r = vsc_reap(d, op->vq, ms);
		if (r < 0)
			return r;
	}
	return 0;
}

int vsc_drain(struct vsc_dev *d, unsigned int vq, int timeout_ms)
{
	uint64_t deadline = vsc_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000;
	struct vsc_vq *q = getq(d, vq);
	int r;

	if (!q)
		return -EINVAL;
	while (q->inflight) {
		int ms = timeout_ms < 0 ? -1 : remaining_ms(deadline);

		if (timeout_ms >= 0 && !ms)
			return -ETIMEDOUT;
		r = vsc_reap(d, vq, ms);
		if (r < 0)
			return r;
	}
	return 0;
}

unsigned int vsc_inflight(const struct vsc_dev *d, unsigned int vq)
{
	return vq < VSC_MAX_VQS ? d->vq[vq].inflight : 0;
}

unsigned int vsc_free_descs(const struct vsc_dev *d, unsigned int vq)
{
	return vq < VSC_MAX_VQS ? d->vq[vq].num_free : 0;
}

unsigned int vsc_stray_used(const struct vsc_dev *d, unsigned int vq)
{
	return vq < VSC_MAX_VQS ? d->vq[vq].stray : 0;
}

uint64_t vsc_vq_errors(struct vsc_dev *d, unsigned int vq)
{
	if (vq >= VSC_MAX_VQS)
		return 0;
	drain_fd(d->vq[vq].err_fd, &d->vq[vq].errs);
	return d->vq[vq].errs;
}

uint64_t vsc_vq_calls(struct vsc_dev *d, unsigned int vq)
{
	if (vq >= VSC_MAX_VQS)
		return 0;
	drain_fd(d->vq[vq].call_fd, &d->vq[vq].calls);
	return d->vq[vq].calls;
}

/*
 * A caller that gives up on an op (timeout) must not leave a pointer to
 * its (stack) memory in the ring: replace it with a heap zombie that
 * frees itself when the device finally answers. Buffers are leaked.
 */
static void zombie_done(struct vsc_op *op)
{
	free(op);
}

static void op_abandon(struct vsc_dev *d, struct vsc_op *op)
{
	struct vsc_vq *q = getq(d, op->vq);
	struct vsc_op *z;

	if (!q || !op->inflight || q->ops[op->head] != op)
		return;
	z = malloc(sizeof(*z));
	if (!z)
		return;
	*z = *op;
	z->on_done = zombie_done;
	z->itab = NULL;		/* leaked with the buffers */
	q->ops[op->head] = z;
	op->inflight = false;
}

/* ------------------------------------------------------------------- raw */

struct vring_desc *vsc_raw_desc(struct vsc_dev *d, unsigned int vq)
{
	struct vsc_vq *q = getq(d, vq);

	return q ? q->desc : NULL;
}

struct vring_avail *vsc_raw_avail(struct vsc_dev *d, unsigned int vq)
{
	struct vsc_vq *q = getq(d, vq);

	return q ? q->avail : NULL;
}

struct vring_used *vsc_raw_used(struct vsc_dev *d, unsigned int vq)
{
	struct vsc_vq *q = getq(d, vq);

	return q ? q->used : NULL;
}

int vsc_raw_take(struct vsc_dev *d, unsigned int vq, unsigned int n, uint16_t *idx)
{
	struct vsc_vq *q = getq(d, vq);
	unsigned int k;

	if (!q)
		return -EINVAL;
	if (q->num_free < n)
		return -ENOSPC;
	for (k = 0; k < n; k++)
		idx[k] = take_desc(q);
	return 0;
}

void vsc_raw_give(struct vsc_dev *d, unsigned int vq, unsigned int n, const uint16_t *idx)
{
	struct vsc_vq *q = getq(d, vq);
	unsigned int k;

	if (!q)
		return;
	for (k = 0; k < n; k++)
		give_desc(q, idx[k]);
}

void vsc_raw_set_desc(struct vsc_dev *d, unsigned int vq, uint16_t i, uint64_t addr,
		      uint32_t len, uint16_t flags, uint16_t next)
{
	struct vsc_vq *q = getq(d, vq);

	if (!q || i >= q->num)
		return;
	q->desc[i].addr = addr;
	q->desc[i].len = len;
	q->desc[i].flags = flags;
	q->desc[i].next = next;
}

void vsc_raw_track(struct vsc_dev *d, unsigned int vq, uint16_t head, struct vsc_op *op,
		   unsigned int n, const uint16_t *descs)
{
	struct vsc_vq *q = getq(d, vq);

	if (!q || !op || head >= q->num)
		return;
	op->vq = vq;
	op->head = head;
	op->done = false;
	op->itab = NULL;
	op->ndesc = (uint16_t)n;
	op->descs = NULL;
	if (n) {
		op->descs = malloc(n * sizeof(*descs));
		if (op->descs)
			memcpy(op->descs, descs, n * sizeof(*descs));
		else
			op->ndesc = 0;
	}
	op->inflight = true;
	op->submit_ns = vsc_now_ns();
	q->ops[head] = op;
	q->inflight++;
}

void vsc_raw_publish(struct vsc_dev *d, unsigned int vq, uint16_t head, struct vsc_op *op,
		     unsigned int n, const uint16_t *descs)
{
	struct vsc_vq *q = getq(d, vq);

	if (!q)
		return;
	vsc_raw_track(d, vq, head, op, n, descs);
	publish(q, head);
}

void vsc_raw_put_avail(struct vsc_dev *d, unsigned int vq, uint16_t slot, uint16_t head)
{
	struct vsc_vq *q = getq(d, vq);

	if (q)
		q->avail->ring[slot % q->num] = head;
}

void vsc_raw_set_avail_idx(struct vsc_dev *d, unsigned int vq, uint16_t idx)
{
	struct vsc_vq *q = getq(d, vq);

	if (!q)
		return;
	q->avail_shadow = idx;
	__atomic_store_n(&q->avail->idx, idx, __ATOMIC_RELEASE);
}

uint16_t vsc_raw_avail_idx(const struct vsc_dev *d, unsigned int vq)
{
	return vq < VSC_MAX_VQS && d->vq[vq].setup ? d->vq[vq].avail_shadow : 0;
}

uint16_t vsc_raw_used_idx(const struct vsc_dev *d, unsigned int vq)
{
	if (vq >= VSC_MAX_VQS || !d->vq[vq].setup)
		return 0;
	return __atomic_load_n(&d->vq[vq].used->idx, __ATOMIC_ACQUIRE);
}

uint16_t vsc_raw_last_used(const struct vsc_dev *d, unsigned int vq)
{
	return vq < VSC_MAX_VQS ? d->vq[vq].last_used : 0;
}

/* ------------------------------------------------------------- layouting */

struct stream {
	uint8_t *piece[2];
	size_t plen[2];
	unsigned int npieces;
	size_t hlen;		/* header part (stream offset 0..hlen) */
	size_t total;
	uint32_t hsplit, dsplit;
	const uint32_t *cuts;
	unsigned int ncuts;
	bool write;
};

static size_t next_cut(const struct stream *s, size_t pos)
{
	size_t best = s->total, c;
	unsigned int k;

	if (s->npieces == 2 && s->plen[0] > pos && s->plen[0] < best)
		best = s->plen[0];
	if (pos < s->hlen) {
		if (s->hsplit) {
			c = (pos / s->hsplit + 1) * s->hsplit;
			if (c > s->hlen)
				c = s->hlen;
			if (c < best)
				best = c;
		}
	} else if (s->dsplit) {
		c = s->hlen + ((pos - s->hlen) / s->dsplit + 1) * s->dsplit;
		if (c < best)
			best = c;
	}
	if (pos < s->hlen && s->dsplit && s->hlen < best && s->npieces == 1)
		best = s->hlen;	/* data splitting starts at the data */
	for (k = 0; k < s->ncuts; k++)
		if (s->cuts[k] > pos && s->cuts[k] < best)
			best = s->cuts[k];
	return best;
}

static uint8_t *stream_addr(const struct stream *s, size_t pos)
{
	if (s->npieces == 2 && pos >= s->plen[0])
		return s->piece[1] + (pos - s->plen[0]);
	return s->piece[0] + pos;
}

/* Appends the stream's descriptors to iov (if non-NULL); returns count. */
static unsigned int stream_emit(const struct stream *s, struct vsc_iov *iov, unsigned int at)
{
	size_t pos = 0, nx;
	unsigned int n = 0;

	while (pos < s->total) {
		nx = next_cut(s, pos);
		if (iov) {
			iov[at + n].addr = stream_addr(s, pos);
			iov[at + n].len = (uint32_t)(nx - pos);
			iov[at + n].write = s->write;
		}
		n++;
		pos = nx;
	}
	return n;
}

/*
 * Builds one stream: header bytes @h (hlen) and data (dlen, copied from
 * @data if non-NULL) as one merged buffer or two. Buffers land in
 * bufs[0..1]. Device-writable streams are guarded and pre-filled.
 */
static int stream_build(struct vsc_dev *d, struct stream *s, const void *h, size_t hlen,
			const void *data, size_t dlen, bool merge, bool write,
			const struct vsc_layout *l, struct vsc_buf **bufs, struct vsc_buf *ext)
{
	unsigned int fl = write ? (VSC_BUF_FILL | (l->no_guard ? 0 : VSC_BUF_GUARD)) : 0;

	if (ext && !merge) {
		/* caller-owned data buffer, used in place (no copy, no fill) */
		dlen = ext->len;
	}

	memset(s, 0, sizeof(*s));
	s->write = write;
	s->hlen = hlen;
	s->total = hlen + dlen;
	s->hsplit = write ? l->resp_split : l->hdr_split;
	s->dsplit = l->data_split;
	s->cuts = write ? l->in_cuts : l->out_cuts;
	s->ncuts = write ? l->n_in_cuts : l->n_out_cuts;
	if (merge || !dlen) {
		bufs[0] = vsc_buf_alloc(d, hlen + dlen, fl, l->misalign);
		if (!bufs[0])
			return -ENOMEM;
		if (!write) {
			memcpy(bufs[0]->p, h, hlen);
			if (data)
				memcpy(bufs[0]->p + hlen, data, dlen);
			else
				memset(bufs[0]->p + hlen, 0, dlen);
		} else if (h) {
			memcpy(bufs[0]->p, h, hlen);
		}
		s->piece[0] = bufs[0]->p;
		s->plen[0] = hlen + dlen;
		s->npieces = 1;
		return 0;
	}
	bufs[0] = vsc_buf_alloc(d, hlen, fl, l->misalign);
	if (!ext)
		bufs[1] = vsc_buf_alloc(d, dlen, fl, l->misalign);
	if (!bufs[0] || (!ext && !bufs[1]))
		return -ENOMEM;
	if (!write) {
		memcpy(bufs[0]->p, h, hlen);
		if (!ext && data)
			memcpy(bufs[1]->p, data, dlen);
		else if (!ext)
			memset(bufs[1]->p, 0, dlen);
	} else if (h) {
		memcpy(bufs[0]->p, h, hlen);
	}
	s->piece[0] = bufs[0]->p;
	s->plen[0] = hlen;
	s->piece[1] = ext ? ext->p : bufs[1]->p;
	s->plen[1] = dlen;
	s->npieces = hlen ? 2 : 1;
	if (!hlen) {
		s->piece[0] = s->piece[1];
		s->plen[0] = dlen;
	}
	return 0;
}

/* Submits out stream + in stream as one chain. */
static int submit_streams(struct vsc_dev *d, unsigned int vq, const struct stream *o,
			  const struct stream *in, bool indirect, struct vsc_op *op)
{
	unsigned int no = stream_emit(o, NULL, 0), ni = stream_emit(in, NULL, 0);
	struct vsc_iov small[32], *iov = small;
	int r;

	if (no + ni > 32) {
		iov = malloc((no + ni) * sizeof(*iov));
		if (!iov)
			return -ENOMEM;
	}
	stream_emit(o, iov, 0);
	stream_emit(in, iov, no);
	r = vsc_submit_chain(d, vq, iov, no + ni, indirect, op);
	if (iov != small)
		free(iov);
	return r;
}

/* ------------------------------------------------------------------ scsi */

void vsc_lun_encode(uint8_t lun[8], uint8_t target, uint16_t lun_id)
{
	memset(lun, 0, 8);
	lun[0] = 1;
	lun[1] = target;
	if (lun_id < 256) {
		lun[2] = 0;
		lun[3] = (uint8_t)lun_id;
	} else {
		lun[2] = (uint8_t)(0x40 | ((lun_id >> 8) & 0x3f));
		lun[3] = (uint8_t)lun_id;
	}
}

void vsc_req_init(struct vsc_dev *d, struct vsc_req *r, unsigned int vq, uint8_t target,
		  uint16_t lun, const uint8_t *cdb, unsigned int cdb_len)
{
	static uint64_t tag;

	memset(r, 0, sizeof(*r));
	r->op.vq = vq;
	vsc_lun_encode(r->lun, target, lun);
	r->tag = __atomic_add_fetch(&tag, 1, __ATOMIC_RELAXED);
	r->task_attr = VIRTIO_SCSI_S_SIMPLE;
	if (cdb)
		memcpy(r->cdb, cdb, cdb_len > VSC_CDB_MAX ? VSC_CDB_MAX : cdb_len);
	r->pi_hdr = d && vsc_has_feature(d, VIRTIO_SCSI_F_T10_PI);
}

static void req_done(struct vsc_op *op)
{
	struct vsc_req *r = (struct vsc_req *)op;
	unsigned int k;

	vsc_req_decode(r);
	for (k = 0; k < 4; k++)
		if (r->bufs[k] && vsc_buf_check(r->bufs[k], NULL))
			r->canary_err = -EFAULT;
	if (r->din_buf && vsc_buf_check(r->din_buf, NULL))
		r->canary_err = -EFAULT;
}

void vsc_req_decode(struct vsc_req *r)
{
	struct virtio_scsi_cmd_resp rsp;
	uint8_t *in = r->bufs[2] ? r->bufs[2]->p : NULL;
	size_t n = r->resp_len < sizeof(rsp) ? r->resp_len : sizeof(rsp);

	memset(&r->res, 0, sizeof(r->res));
	if (!in)
		return;
	memset(&rsp, 0xcc, sizeof(rsp));
	/* the response may be followed by data-in in the same buffer */
	memcpy(&rsp, in, n);
	r->res.response = rsp.response;
	r->res.status = rsp.status;
	r->res.status_qualifier = le16toh(rsp.status_qualifier);
	r->res.sense_len = le32toh(rsp.sense_len);
	r->res.resid = le32toh(rsp.resid);
	memcpy(r->res.sense, rsp.sense, sizeof(r->res.sense));
	if (r->res.sense_len && r->res.sense_len != 0xcccccccc)
		vsc_sense_decode(r->res.sense,
				 r->res.sense_len > VSC_SENSE_MAX ? VSC_SENSE_MAX : r->res.sense_len,
				 &r->res.key, &r->res.asc, &r->res.ascq);
}

_Static_assert(offsetof(struct virtio_scsi_cmd_req, crn) ==
	       offsetof(struct virtio_scsi_cmd_req_pi, crn), "virtio-scsi request headers");

int vsc_req_submit(struct vsc_dev *d, struct vsc_req *r)
{
	uint8_t hdr[sizeof(struct virtio_scsi_cmd_req_pi) + 256];
	struct virtio_scsi_cmd_req *h;
	struct stream so, si;
	size_t hfull, hlen;
	int ret;

	memset(hdr, 0, sizeof(hdr));
	/* The T10 PI header begins as the plain one does: lun, tag, task_attr, prio, crn. */
	h = (void *)hdr;
	memcpy(h->lun, r->lun, 8);
	h->tag = htole64(r->tag);
	h->task_attr = r->task_attr;
	h->prio = r->prio;
	h->crn = r->crn;
	if (r->pi_hdr) {
		struct virtio_scsi_cmd_req_pi *p = (void *)hdr;

		p->pi_bytesout = htole32(r->pi_bytesout);
		p->pi_bytesin = htole32(r->pi_bytesin);
		memcpy(p->cdb, r->cdb, VSC_CDB_MAX);
		hfull = sizeof(*p);
	} else {
		memcpy(h->cdb, r->cdb, VSC_CDB_MAX);
		hfull = sizeof(*h);
	}
	hlen = r->hdr_len ? r->hdr_len : hfull;
	if (hlen > sizeof(hdr))
		return -EINVAL;
	if (!r->resp_len)
		r->resp_len = sizeof(struct virtio_scsi_cmd_resp);
	memset(r->bufs, 0, sizeof(r->bufs));
	r->din = NULL;
	r->canary_err = 0;
	if (r->dout_buf && r->layout.merge_out)
		return -EINVAL;
	if (r->din_buf && r->layout.merge_in)
		return -EINVAL;
	if (r->dout_buf)
		r->dout_len = r->dout_buf->len;
	if (r->din_buf)
		r->din_len = r->din_buf->len;
	ret = stream_build(d, &so, hdr, hlen, r->dout, r->dout_len, r->layout.merge_out, false,
			   &r->layout, &r->bufs[0], r->dout_len ? r->dout_buf : NULL);
	if (!ret)
		ret = stream_build(d, &si, NULL, r->resp_len, NULL, r->din_len,
				   r->layout.merge_in, true, &r->layout, &r->bufs[2],
				   r->din_len ? r->din_buf : NULL);
	if (ret)
		goto fail;
	if (r->din_buf)
		r->din = r->din_buf->p;
	else
		r->din = r->bufs[3] ? r->bufs[3]->p : r->bufs[2]->p + r->resp_len;
	r->op.on_done = req_done;
	ret = submit_streams(d, r->op.vq, &so, &si, r->layout.indirect, &r->op);
	if (ret)
		goto fail;
	return 0;
fail:
	vsc_req_release(d, r);
	return ret;
}

void vsc_req_release(struct vsc_dev *d, struct vsc_req *r)
{
	unsigned int k;

	if (r->op.inflight) {
		/* the device still owns the buffers: leak them */
		op_abandon(d, &r->op);
		memset(r->bufs, 0, sizeof(r->bufs));
		r->din = NULL;
		return;
	}
	for (k = 0; k < 4; k++) {
		if (r->bufs[k])
			vsc_buf_free(d, r->bufs[k]);
		r->bufs[k] = NULL;
	}
	r->din = NULL;
}

int vsc_cmd_layout(struct vsc_dev *d, struct vsc_req *r, void *din, struct vsc_result *res,
		   int timeout_ms)
{
	int ret;

	ret = vsc_req_submit(d, r);
	if (ret)
		return ret;
	vsc_kick(d, r->op.vq);
	ret = vsc_wait(d, &r->op, timeout_ms);
	if (ret) {
		/* buffers stay with the device; the op is re-homed */
		op_abandon(d, &r->op);
		memset(r->bufs, 0, sizeof(r->bufs));
		return ret;
	}
	if (res)
		*res = r->res;
	if (din && r->din_len)
		memcpy(din, r->din, r->din_len);
	ret = r->canary_err;
	vsc_req_release(d, r);
	return ret;
}

int vsc_cmd(struct vsc_dev *d, unsigned int vq, uint8_t target, uint16_t lun,
	    const uint8_t *cdb, unsigned int cdb_len, const void *dout, size_t dout_len,
	    void *din, size_t din_len, struct vsc_result *res, int timeout_ms)
{
	struct vsc_req r;

	vsc_req_init(d, &r, vq, target, lun, cdb, cdb_len);
	r.dout = dout;
	r.dout_len = dout_len;
	r.din_len = din_len;
	return vsc_cmd_layout(d, &r, din, res, timeout_ms);
}

/* --------------------------------------------------------------- control */

void vsc_tmf_init(struct vsc_ctl *c, uint32_t subtype, uint8_t target, uint16_t lun,
		  uint64_t tag)
{
	memset(c, 0, sizeof(*c));
	c->op.vq = VSC_VQ_CTL;
	c->type = VIRTIO_SCSI_T_TMF;
	c->subtype = subtype;
	vsc_lun_encode(c->lun, target, lun);
	c->tag = tag;
}

void vsc_an_init(struct vsc_ctl *c, bool subscribe, uint8_t target, uint16_t lun,
		 uint32_t events)
{
	memset(c, 0, sizeof(*c));
	c->op.vq = VSC_VQ_CTL;
	c->type = subscribe ? VIRTIO_SCSI_T_AN_SUBSCRIBE : VIRTIO_SCSI_T_AN_QUERY;
	vsc_lun_encode(c->lun, target, lun);
	c->event_requested = events;
}

static void ctl_done(struct vsc_op *op)
{
	struct vsc_ctl *c = (struct vsc_ctl *)op;
	uint8_t *p = c->bufs[1]->p;

	if (c->type == VIRTIO_SCSI_T_TMF) {
		c->response = p[0];
	} else {
		uint32_t ev;

		memcpy(&ev, p, 4);
		c->event_actual = le32toh(ev);
		c->response = c->resp_len >= 5 ? p[4] : 0xcc;
	}
	if (vsc_buf_check(c->bufs[1], NULL))
		c->canary_err = -EFAULT;
}

int vsc_ctl_submit(struct vsc_dev *d, struct vsc_ctl *c)
{
	uint8_t req[256];
	size_t full, rfull;
	struct stream so, si;
	int ret;

	memset(req, 0, sizeof(req));
	if (c->type == VIRTIO_SCSI_T_TMF) {
		struct virtio_scsi_ctrl_tmf_req *t = (void *)req;

		t->type = htole32(c->type);
		t->subtype = htole32(c->subtype);
		memcpy(t->lun, c->lun, 8);
		t->tag = htole64(c->tag);
		full = sizeof(*t);
		rfull = sizeof(struct virtio_scsi_ctrl_tmf_resp);
	} else {
		struct virtio_scsi_ctrl_an_req *a = (void *)req;

		a->type = htole32(c->type);
		memcpy(a->lun, c->lun, 8);
		a->event_requested = htole32(c->event_requested);
		full = sizeof(*a);
		rfull = sizeof(struct virtio_scsi_ctrl_an_resp);
	}
	if (!c->req_len)
		c->req_len = (uint32_t)full;
	if (!c->resp_len)
		c->resp_len = (uint32_t)rfull;
	if (c->req_len > sizeof(req))
		return -EINVAL;
	c->response = 0xcc;
	c->canary_err = 0;
	memset(c->bufs, 0, sizeof(c->bufs));
	ret = stream_build(d, &so, req, c->req_len, NULL, 0, true, false, &c->layout, &c->bufs[0],
			   NULL);
	if (!ret)
		ret = stream_build(d, &si, NULL, c->resp_len, NULL, 0, true, true, &c->layout,
				   &c->bufs[1], NULL);
	if (!ret) {
		c->op.on_done = ctl_done;
		ret = submit_streams(d, VSC_VQ_CTL, &so, &si, c->layout.indirect, &c->op);
	}
	if (ret)
		vsc_ctl_release(d, c);
	return ret;
}

void vsc_ctl_release(struct vsc_dev *d, struct vsc_ctl *c)
{
	if (c->op.inflight) {
		op_abandon(d, &c->op);
		c->bufs[0] = c->bufs[1] = NULL;
		return;
	}
	vsc_buf_free(d, c->bufs[0]);
	vsc_buf_free(d, c->bufs[1]);
	c->bufs[0] = c->bufs[1] = NULL;
}

int vsc_ctl_sync(struct vsc_dev *d, struct vsc_ctl *c, int timeout_ms)
{
	int ret = vsc_ctl_submit(d, c);

	if (ret)
		return ret;
	vsc_kick(d, VSC_VQ_CTL);
	ret = vsc_wait(d, &c->op, timeout_ms);
	if (ret) {
		op_abandon(d, &c->op);
		c->bufs[0] = c->bufs[1] = NULL;
		return ret;
	}
	ret = c->canary_err;
	vsc_ctl_release(d, c);
	return ret;
}

/* ----------------------------------------------------------------- event */

static void evt_done(struct vsc_op *op)
{
	struct vsc_evt *e = (struct vsc_evt *)op;
	struct virtio_scsi_event ev;

	if (e->len >= sizeof(ev)) {
		memcpy(&ev, e->buf->p, sizeof(ev));
		e->event = le32toh(ev.event);
		e->reason = le32toh(ev.reason);
		memcpy(e->lun, ev.lun, 8);
	}
}

int vsc_evt_repost(struct vsc_dev *d, struct vsc_evt *e)
{
	struct vsc_iov iov;

	if (!e->buf) {
		e->buf = vsc_buf_alloc(d, e->len, VSC_BUF_GUARD | VSC_BUF_FILL, 0);
		if (!e->buf)
			return -ENOMEM;
	} else {
		memset(e->buf->p, 0xcc, e->len);
	}
	e->taken = false;
	e->event = e->reason = 0;
	memset(e->lun, 0, 8);
	e->op.on_done = evt_done;
	iov.addr = e->buf->p;
	iov.len = e->len;
	iov.write = true;
	return vsc_submit_chain(d, VSC_VQ_EVT, &iov, 1, false, &e->op);
}

int vsc_evt_post(struct vsc_dev *d, struct vsc_evt *e, unsigned int n, uint32_t len)
{
	unsigned int k;
	int r;

	for (k = 0; k < n; k++) {
		memset(&e[k], 0, sizeof(e[k]));
		e[k].len = len;
		r = vsc_evt_repost(d, &e[k]);
		if (r)
			return r;
	}
	vsc_kick(d, VSC_VQ_EVT);
	return 0;
}

struct vsc_evt *vsc_evt_next(struct vsc_dev *d, struct vsc_evt *e, unsigned int n,
			     int timeout_ms)
{
	uint64_t deadline = vsc_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000;

	for (;;) {
		struct vsc_evt *best = NULL;
		unsigned int k;
		int ms;

		vsc_reap(d, VSC_VQ_EVT, 0);
		for (k = 0; k < n; k++)
			if (e[k].op.done && !e[k].taken && (!best || e[k].op.seq < best->op.seq))
				best = &e[k];
		if (best) {
			best->taken = true;
			return best;
		}
		ms = timeout_ms < 0 ? 1000 : remaining_ms(deadline);
		if (!ms)
			return NULL;
		vsc_reap(d, VSC_VQ_EVT, ms);
	}
}

void vsc_evt_release(struct vsc_dev *d, struct vsc_evt *e, unsigned int n)
{
	unsigned int k;

	for (k = 0; k < n; k++) {
		if (e[k].op.inflight)
			op_abandon(d, &e[k].op);
		else if (e[k].buf)
			vsc_buf_free(d, e[k].buf);
		e[k].buf = NULL;
	}
}
