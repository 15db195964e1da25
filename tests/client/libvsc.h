/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libvsc - a userspace virtio-scsi "guest driver" for /dev/vhost-scsi.
 *
 * The process plays the guest: one anonymous mapping (the arena) is
 * registered as the guest memory with guest_phys_addr == userspace_addr,
 * so every descriptor address is a plain pointer into the arena.
 *
 * Layers, bottom-up:
 *   device    vsc_open()/vsc_close(), endpoint and feature ioctls
 *   arena     vsc_buf_alloc()/vsc_buf_free(), canaries around buffers
 *   ring      vsc_submit_chain(): one chain of descriptors from iovecs,
 *             direct or indirect; vsc_reap()/vsc_wait() collect used
 *             entries and complete the struct vsc_op they belong to
 *   raw       vsc_raw_*(): hand-built descriptors and avail-index games
 *   scsi      struct vsc_req: request header + data-out, response +
 *             data-in, laid out across descriptors by struct vsc_layout
 *   control   TMF / AN requests on vq 0, event buffers on vq 1
 *   helpers   CDB builders, sense decoding (scsi.c), configfs (tgt.c)
 *
 * Single-threaded per virtqueue: different threads may drive different
 * virtqueues of one device (the arena allocator is locked).
 * Functions returning int return 0 or a negative errno unless stated.
 */
#ifndef LIBVSC_H
#define LIBVSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_scsi.h>

#ifndef VHOST_SCSI_SET_ENDPOINT
#error "linux/vhost.h lacks the VHOST_SCSI ioctls"
#endif

#define VSC_F(bit)		(1ULL << (bit))
#define VSC_VQ_CTL		0
#define VSC_VQ_EVT		1
#define VSC_VQ_REQ(n)		(2 + (n))
#define VSC_MAX_REQ_VQS		128
#define VSC_MAX_VQS		(2 + VSC_MAX_REQ_VQS)
#define VSC_MAX_RING		32768
#define VSC_CANARY_LEN		128	/* > a 108-byte cmd response */
#define VSC_CANARY_BYTE		0xa5
#define VSC_SENSE_MAX		VIRTIO_SCSI_SENSE_SIZE
#define VSC_CDB_MAX		VIRTIO_SCSI_CDB_SIZE

/* Every feature a vhost-scsi device may offer; vsc_open() masks it. */
#define VSC_FEATURES_ALL (VSC_F(VIRTIO_F_NOTIFY_ON_EMPTY) |		\
			  VSC_F(VIRTIO_RING_F_INDIRECT_DESC) |		\
			  VSC_F(VIRTIO_RING_F_EVENT_IDX) |		\
			  VSC_F(VIRTIO_F_ANY_LAYOUT) |			\
			  VSC_F(VIRTIO_F_VERSION_1) |			\
			  VSC_F(VIRTIO_SCSI_F_HOTPLUG))

struct vsc_dev;

/* ---------------------------------------------------------------- device */

enum vsc_stage {
	VSC_STAGE_ALL = 0,	/* owner, features, memory, rings (default) */
	VSC_STAGE_OWNER,	/* open + SET_OWNER only */
	VSC_STAGE_FEATURES,	/* + GET/SET_FEATURES */
	VSC_STAGE_MEM,		/* + SET_MEM_TABLE */
};

struct vsc_opts {
	const char *path;		/* default /dev/vhost-scsi */
	unsigned int num_req_queues;	/* request vqs, default 1 */
	unsigned int ring_size;		/* every vq, power of two; default 128 */
	unsigned int ctl_ring_size;	/* 0: ring_size */
	unsigned int evt_ring_size;	/* 0: ring_size */
	bool evt_ring_unset;		/* vq 1: error eventfd only, no ring (firmware) */
	uint64_t features;		/* wanted; 0 means VSC_FEATURES_ALL */
	bool features_exact;		/* set exactly .features, even if not offered */
	bool no_features;		/* skip SET_FEATURES entirely */
	size_t arena_size;		/* default 256 MiB (lazily backed) */
	bool poll_mode;			/* no call eventfds: spin on used idx */
	bool always_kick;		/* ignore NO_NOTIFY / avail_event */
	bool worker_per_vq;		/* QEMU's worker_per_virtqueue=on */
	enum vsc_stage stage;
};

/* Opens and sets up the device; NULL on failure with errno set. */
struct vsc_dev *vsc_open(const struct vsc_opts *opts);
void vsc_close(struct vsc_dev *d);
/*
 * A device that lives in an arena its caller already has: one that
 * vsc_close_keep_arena() left (or any mapping of opts->arena_size bytes,
 * rounded up to a page), whose pages are already backed. The arena starts
 * empty: nothing allocated from it before survives.
 */
struct vsc_dev *vsc_open_arena(const struct vsc_opts *opts, void *arena);
/* vsc_close() that leaves the arena mapped and returns it (for vsc_open_arena()). */
void *vsc_close_keep_arena(struct vsc_dev *d);
int vsc_fd(const struct vsc_dev *d);
/* ioctl(fd, req, arg): 0 or -errno */
int vsc_ioctl(struct vsc_dev *d, unsigned long req, void *arg);
/*
 * worker_per_vq: once the rings are set up, every request queue after the
 * first gets a vhost worker of its own (VHOST_NEW_WORKER, then
 * VHOST_ATTACH_VRING_WORKER), as QEMU does; vq 0, 1 and the first request
 * queue keep the device's default worker. A device without the worker
 * ioctls (-ENOTTY: Linux before 6.5, tcm_vhost) keeps its one worker and
 * the open goes on; any other error fails the open.
 * True iff worker_per_vq was asked and took effect (with one request queue
 * there is nothing to do, and it is true).
 */
bool vsc_workers_attached(const struct vsc_dev *d);
uint64_t vsc_features_offered(const struct vsc_dev *d);
uint64_t vsc_features(const struct vsc_dev *d);	/* acked */
bool vsc_has_feature(const struct vsc_dev *d, unsigned int bit);
unsigned int vsc_num_vqs(const struct vsc_dev *d);	/* 2 + request vqs */
unsigned int vsc_vq_size(const struct vsc_dev *d, unsigned int vq);
/* Sets up (or re-sets up) one virtqueue with a fresh ring of @num entries. */
int vsc_vq_setup(struct vsc_dev *d, unsigned int vq, unsigned int num);

/* (Re)sends the memory table: the arena as one region, guest address = its own. */
int vsc_set_mem_table(struct vsc_dev *d);
int vsc_get_abi_version(struct vsc_dev *d, int *version);
int vsc_set_endpoint(struct vsc_dev *d, const char *wwpn);
int vsc_clear_endpoint(struct vsc_dev *d, const char *wwpn);
/* Exact struct passed through (reserved, abi_version, tpgt as given). */
int vsc_set_endpoint_raw(struct vsc_dev *d, const struct vhost_scsi_target *t);
int vsc_clear_endpoint_raw(struct vsc_dev *d, const struct vhost_scsi_target *t);
int vsc_get_events_missed(struct vsc_dev *d, uint32_t *v);
int vsc_set_events_missed(struct vsc_dev *d, uint32_t v);

/* ----------------------------------------------------------------- arena */

struct vsc_buf {
	uint8_t *p;		/* usable bytes (inside the arena) */
	size_t len;
	/* private */
	size_t off, cap;
	unsigned int cls;
	bool guarded;
	struct vsc_buf *gprev, *gnext;
};

#define VSC_BUF_GUARD	0x1	/* canary bytes before and after */
#define VSC_BUF_ZERO	0x2	/* zero the usable bytes */
#define VSC_BUF_FILL	0x4	/* fill usable bytes with 0xcc (device must overwrite) */

/* @misalign: offset of p from a 64-byte boundary (0..63). */
struct vsc_buf *vsc_buf_alloc(struct vsc_dev *d, size_t len, unsigned int flags,
			      unsigned int misalign);
void vsc_buf_free(struct vsc_dev *d, struct vsc_buf *b);
/* 0 if both canaries are intact, else -EFAULT (and *where = offset hit). */
int vsc_buf_check(const struct vsc_buf *b, long *where);
/* Checks every live guarded buffer: number of corrupted ones. */
int vsc_canary_check_all(struct vsc_dev *d);
void *vsc_arena_base(const struct vsc_dev *d);
size_t vsc_arena_size(const struct vsc_dev *d);
size_t vsc_arena_used(const struct vsc_dev *d);
/* Arena bytes handed out so far, free lists included (never shrinks). */
size_t vsc_arena_reserved(const struct vsc_dev *d);

/* ------------------------------------------------------------------ ring */

struct vsc_op;
typedef void (*vsc_done_fn)(struct vsc_op *op);

/* One chain in flight. Embed it first in bigger request structs. */
struct vsc_op {
	unsigned int vq;
	uint16_t head;
	uint16_t ndesc;		/* ring descriptors it holds */
	bool inflight;
	bool done;
	uint32_t used_len;	/* as written by the device */
	uint64_t submit_ns, done_ns;
	uint64_t seq;		/* completion order within the device */
	vsc_done_fn on_done;
	void *priv;
	/* private */
	struct vsc_buf *itab;	/* indirect table */
	uint16_t *descs;	/* raw ops: descriptors to recycle */
};

struct vsc_iov {
	void *addr;		/* becomes desc.addr (arena pointer, or anything) */
	uint32_t len;
	bool write;		/* device-writable */
};

/*
 * Posts one chain: descriptors in iov order (the caller keeps readable
 * ones first unless it wants a bad chain). Publishes avail idx but does
 * not kick. -ENOSPC if the ring lacks free descriptors.
 */
int vsc_submit_chain(struct vsc_dev *d, unsigned int vq, const struct vsc_iov *iov,
		     unsigned int n, bool indirect, struct vsc_op *op);
/* Kick if the device wants it (or always with always_kick / force). */
void vsc_kick(struct vsc_dev *d, unsigned int vq);
void vsc_kick_force(struct vsc_dev *d, unsigned int vq);
/*
 * Collects used entries of @vq, completing their ops. Waits up to
 * @timeout_ms (0 = don't wait, -1 forever) for at least one.
 * Returns the number collected, or -errno.
 */
int vsc_reap(struct vsc_dev *d, unsigned int vq, int timeout_ms);
/* Same over every set-up vq. */
int vsc_reap_all(struct vsc_dev *d, int timeout_ms);
/*
 * vsc_reap_all() that also stops waiting when a vq error is signalled on
 * any set-up vq (counted for vsc_vq_errors()): the number collected, maybe 0.
 */
int vsc_reap_all_err(struct vsc_dev *d, int timeout_ms);
/* Waits for @op; 0, or -ETIMEDOUT. */
int vsc_wait(struct vsc_dev *d, struct vsc_op *op, int timeout_ms);
/* Waits until @vq has nothing in flight; 0 or -ETIMEDOUT. */
int vsc_drain(struct vsc_dev *d, unsigned int vq, int timeout_ms);
unsigned int vsc_inflight(const struct vsc_dev *d, unsigned int vq);
unsigned int vsc_free_descs(const struct vsc_dev *d, unsigned int vq);
/* Used entries whose id matched no op in flight (a device bug). */
unsigned int vsc_stray_used(const struct vsc_dev *d, unsigned int vq);
/* Count of vq_err() signals from the device on @vq's error eventfd (cumulative). */
uint64_t vsc_vq_errors(struct vsc_dev *d, unsigned int vq);
/* Call-eventfd signals seen so far on @vq (cumulative). */
uint64_t vsc_vq_calls(struct vsc_dev *d, unsigned int vq);

/* ------------------------------------------------------------------- raw */

struct vring_desc *vsc_raw_desc(struct vsc_dev *d, unsigned int vq);
struct vring_avail *vsc_raw_avail(struct vsc_dev *d, unsigned int vq);
struct vring_used *vsc_raw_used(struct vsc_dev *d, unsigned int vq);
/* Takes @n free descriptors off the free list (indices in @idx). */
int vsc_raw_take(struct vsc_dev *d, unsigned int vq, unsigned int n, uint16_t *idx);
/* Gives them back (only for descriptors never published). */
void vsc_raw_give(struct vsc_dev *d, unsigned int vq, unsigned int n, const uint16_t *idx);
void vsc_raw_set_desc(struct vsc_dev *d, unsigned int vq, uint16_t i, uint64_t addr,
		      uint32_t len, uint16_t flags, uint16_t next);
/*
 * Publishes @head: avail->ring[shadow % num] = head, shadow++, then
 * avail->idx = shadow. @op (may be NULL) completes when the device uses
 * @head; the @n descriptors in @descs are recycled then.
 */
void vsc_raw_publish(struct vsc_dev *d, unsigned int vq, uint16_t head,
		     struct vsc_op *op, unsigned int n, const uint16_t *descs);
/*
 * The bookkeeping half of vsc_raw_publish(): @op completes when the device
 * uses @head, which the caller put in an avail slot itself (say, in place
 * of a head the device refused); nothing is published.
 */
void vsc_raw_track(struct vsc_dev *d, unsigned int vq, uint16_t head, struct vsc_op *op,
		   unsigned int n, const uint16_t *descs);
/* Writes avail->ring[slot % num] without touching idx. */
void vsc_raw_put_avail(struct vsc_dev *d, unsigned int vq, uint16_t slot, uint16_t head);
/* Stores avail->idx (and the shadow) to any value. */
void vsc_raw_set_avail_idx(struct vsc_dev *d, unsigned int vq, uint16_t idx);
uint16_t vsc_raw_avail_idx(const struct vsc_dev *d, unsigned int vq);
uint16_t vsc_raw_used_idx(const struct vsc_dev *d, unsigned int vq);
uint16_t vsc_raw_last_used(const struct vsc_dev *d, unsigned int vq);

/* ------------------------------------------------------------------ scsi */

/*
 * How a request is spread over descriptors. The out stream is
 * header [+ data-out], the in stream is response [+ data-in].
 */
struct vsc_layout {
	uint32_t hdr_split;	/* request header: a descriptor every N bytes (0 = one) */
	uint32_t resp_split;	/* response header: a descriptor every N bytes */
	uint32_t data_split;	/* data: a descriptor every N bytes */
	const uint32_t *out_cuts;	/* extra cut offsets in the out stream */
	unsigned int n_out_cuts;
	const uint32_t *in_cuts;	/* extra cut offsets in the in stream */
	unsigned int n_in_cuts;
	bool merge_out;		/* header and data-out share descriptors */
	bool merge_in;		/* response and data-in share descriptors */
	bool indirect;
	unsigned int misalign;	/* byte offset of every buffer (0..63) */
	bool no_guard;		/* no canaries on device-writable buffers */
};

struct vsc_result {
	uint8_t response;	/* VIRTIO_SCSI_S_* */
	uint8_t status;		/* SCSI status */
	uint16_t status_qualifier;
	uint32_t sense_len;
	uint32_t resid;
	uint8_t sense[VSC_SENSE_MAX];
	uint8_t key, asc, ascq;	/* decoded from sense (0 if none) */
};

struct vsc_req {
	struct vsc_op op;	/* first */
	/* addressing and header, filled by vsc_req_init(), editable */
	uint8_t lun[8];
	uint64_t tag;
	uint8_t task_attr, prio, crn;
	uint8_t cdb[VSC_CDB_MAX];
	bool pi_hdr;		/* use the _pi header (default: iff T10_PI acked) */
	uint32_t pi_bytesout, pi_bytesin;
	/* data */
	const void *dout;	/* copied into the arena at submit */
	size_t dout_len;
	size_t din_len;		/* device-writable data buffer size */
	/*
	 * Zero-copy alternative (benchmarks): caller-owned arena buffers used
	 * in place, not freed by vsc_req_release(); their len is the data
	 * length. Not with merge_out / merge_in.
	 */
	struct vsc_buf *dout_buf;
	struct vsc_buf *din_buf;
	struct vsc_layout layout;
	uint32_t resp_len;	/* response buffer size (default sizeof resp) */
	uint32_t hdr_len;	/* request header size sent (default sizeof req) */
	/* results (valid once op.done) */
	struct vsc_result res;
	uint8_t *din;		/* data-in inside the arena (until release) */
	int canary_err;		/* canary damage found at completion */
	/* private */
	struct vsc_buf *bufs[4];
};

/* Fills addressing (lun[0]=1, lun[1]=target, flat LUN) and a CDB. */
void vsc_req_init(struct vsc_dev *d, struct vsc_req *r, unsigned int vq, uint8_t target,
		  uint16_t lun, const uint8_t *cdb, unsigned int cdb_len);
/* Standard SAM LUN encoding used by virtio-scsi (flat above 255). */
void vsc_lun_encode(uint8_t lun[8], uint8_t target, uint16_t lun_id);
/* Builds buffers and descriptors and posts (no kick). */
int vsc_req_submit(struct vsc_dev *d, struct vsc_req *r);
/* Decodes response/sense (called automatically on completion). */
void vsc_req_decode(struct vsc_req *r);
/* Frees the arena buffers of a completed (or never submitted) request. */
void vsc_req_release(struct vsc_dev *d, struct vsc_req *r);

/*
 * Synchronous command: submit, kick, wait. On success (0) *res holds the
 * virtio-scsi answer and din_len bytes of data-in are copied to @din.
 * -ETIMEDOUT if no answer in timeout_ms, -EFAULT on canary damage.
 */
int vsc_cmd(struct vsc_dev *d, unsigned int vq, uint8_t target, uint16_t lun,
	    const uint8_t *cdb, unsigned int cdb_len, const void *dout, size_t dout_len,
	    void *din, size_t din_len, struct vsc_result *res, int timeout_ms);
/* Same with a layout and full control; r is released before return. */
int vsc_cmd_layout(struct vsc_dev *d, struct vsc_req *r, void *din, struct vsc_result *res,
		   int timeout_ms);

/* --------------------------------------------------------------- control */

struct vsc_ctl {
	struct vsc_op op;
	uint32_t type;		/* VIRTIO_SCSI_T_TMF / _AN_QUERY / _AN_SUBSCRIBE */
	uint32_t subtype;	/* TMF subtype */
	uint8_t lun[8];
	uint64_t tag;		/* TMF: task to act on */
	uint32_t event_requested;	/* AN */
	uint32_t req_len;	/* 0: the size of the typed request */
	uint32_t resp_len;	/* 0: the size of the typed response */
	struct vsc_layout layout;
	/* results */
	uint8_t response;
	uint32_t event_actual;
	int canary_err;
	struct vsc_buf *bufs[2];
};

void vsc_tmf_init(struct vsc_ctl *c, uint32_t subtype, uint8_t target, uint16_t lun,
		  uint64_t tag);
void vsc_an_init(struct vsc_ctl *c, bool subscribe, uint8_t target, uint16_t lun,
		 uint32_t events);
int vsc_ctl_submit(struct vsc_dev *d, struct vsc_ctl *c);
void vsc_ctl_release(struct vsc_dev *d, struct vsc_ctl *c);
/* Submit + kick + wait + release; 0 with c->response set, or -errno. */
int vsc_ctl_sync(struct vsc_dev *d, struct vsc_ctl *c, int timeout_ms);

/* ----------------------------------------------------------------- event */

struct vsc_evt {
	struct vsc_op op;
	struct vsc_buf *buf;
	uint32_t len;
	/* decoded once done (if len >= 16) */
	uint32_t event, reason;
	uint8_t lun[8];
	bool taken;		/* returned by vsc_evt_next() */
};

/* Posts @n event buffers of @len bytes each (16 is correct). */
int vsc_evt_post(struct vsc_dev *d, struct vsc_evt *e, unsigned int n, uint32_t len);
/* Next completed event buffer in completion order, or NULL after timeout. */
struct vsc_evt *vsc_evt_next(struct vsc_dev *d, struct vsc_evt *e, unsigned int n,
			     int timeout_ms);
/* Re-posts one completed event buffer. */
int vsc_evt_repost(struct vsc_dev *d, struct vsc_evt *e);
void vsc_evt_release(struct vsc_dev *d, struct vsc_evt *e, unsigned int n);

/* ----------------------------------------------------- scsi.c: CDBs/sense */

#define VSC_OP_TUR		0x00
#define VSC_OP_READ6		0x08
#define VSC_OP_WRITE6		0x0a
#define VSC_OP_INQUIRY		0x12
#define VSC_OP_MODE_SENSE6	0x1a
#define VSC_OP_READ_CAP10	0x25
#define VSC_OP_READ10		0x28
#define VSC_OP_WRITE10		0x2a
#define VSC_OP_SYNC_CACHE10	0x35
#define VSC_OP_UNMAP		0x42
#define VSC_OP_MODE_SENSE10	0x5a
#define VSC_OP_READ16		0x88
#define VSC_OP_WRITE16		0x8a
#define VSC_OP_SAI16		0x9e
#define VSC_OP_REPORT_LUNS	0xa0

/* SCSI status (SAM), sense keys and additional sense codes the tests check */
#define SAM_STAT_GOOD			0x00
#define SAM_STAT_CHECK_CONDITION	0x02
#define SAM_STAT_BUSY			0x08
#define SAM_STAT_TASK_SET_FULL		0x28
#define ILLEGAL_REQUEST			0x05
#define UNIT_ATTENTION			0x06
#define DATA_PROTECT			0x07
#define ABORTED_COMMAND			0x0b
#define ASC_INVALID_OPCODE		0x20	/* INVALID COMMAND OPERATION CODE */
#define ASC_LBA_OUT_OF_RANGE		0x21	/* LOGICAL BLOCK ADDRESS OUT OF RANGE */
#define ASC_INVALID_FIELD_IN_CDB	0x24
#define ASC_LUN_NOT_SUPPORTED		0x25	/* LOGICAL UNIT NOT SUPPORTED */
#define ASC_WRITE_PROTECTED		0x27
#define ASC_PI_CHECK_FAILED		0x10	/* LOGICAL BLOCK ... CHECK FAILED (T10 PI) */

/* Each returns the CDB length written into cdb[]. */
unsigned int vsc_cdb_tur(uint8_t *cdb);
unsigned int vsc_cdb_inquiry(uint8_t *cdb, bool evpd, uint8_t page, uint16_t alloc);
unsigned int vsc_cdb_report_luns(uint8_t *cdb, uint8_t select, uint32_t alloc);
unsigned int vsc_cdb_read_capacity10(uint8_t *cdb);
unsigned int vsc_cdb_read_capacity16(uint8_t *cdb, uint32_t alloc);
/* size 6, 10 or 16; returns 0 if lba/blocks don't fit */
unsigned int vsc_cdb_rw(uint8_t *cdb, bool write, unsigned int size, uint64_t lba,
			uint32_t blocks);
unsigned int vsc_cdb_sync_cache10(uint8_t *cdb, uint32_t lba, uint16_t blocks);
unsigned int vsc_cdb_mode_sense6(uint8_t *cdb, uint8_t page, uint8_t subpage, uint8_t alloc);
unsigned int vsc_cdb_mode_sense10(uint8_t *cdb, uint8_t page, uint8_t subpage, uint16_t alloc);
unsigned int vsc_cdb_unmap(uint8_t *cdb, uint16_t param_len);
/* UNMAP parameter list with one descriptor; returns its length (24). */
unsigned int vsc_unmap_param(uint8_t *buf, uint64_t lba, uint32_t blocks);

/* Fixed or descriptor format; returns false if no sense. */
bool vsc_sense_decode(const uint8_t *sense, unsigned int len, uint8_t *key, uint8_t *asc,
		      uint8_t *ascq);
const char *vsc_response_name(uint8_t response);
/* "ABORT_TASK" ... for VIRTIO_SCSI_T_TMF_*, "TMF?" for others */
const char *vsc_tmf_name(uint32_t subtype);
const char *vsc_status_name(uint8_t status);
/* "resp=OK status=CHECK_CONDITION key=5 asc=0x20/0x00 resid=0" */
const char *vsc_result_str(const struct vsc_result *r, char *buf, size_t len);

uint16_t vsc_get_be16(const uint8_t *p);
uint32_t vsc_get_be32(const uint8_t *p);
uint64_t vsc_get_be64(const uint8_t *p);
void vsc_put_be16(uint8_t *p, uint16_t v);
void vsc_put_be32(uint8_t *p, uint32_t v);
void vsc_put_be64(uint8_t *p, uint64_t v);
uint64_t vsc_now_ns(void);

/* ------------------------------------------------------- tgt.c: configfs */

#define VSC_CFS_TARGET "/sys/kernel/config/target"
/* A tcm_vhost module parameter: VSC_TVH_PARAM("poll_us"). */
#define VSC_TVH_PARAM(name) "/sys/module/tcm_vhost/parameters/" name

/* Writes @val to a configfs/sysfs attribute; 0 or -errno. */
int vsc_cfs_write(const char *path, const char *val);
/* Reads an attribute into buf (NUL-terminated, trailing newline kept). */
int vsc_cfs_read(const char *path, char *buf, size_t len);
/*
 * Counter @key of line @line ("io", "ctl", "vqN") of a tcm_vhost TPG's
 * stats attribute, or -1 (no such line, counter or attribute).
 */
long long vsc_tpg_stat(const char *wwpn, unsigned int tpgt, const char *line,
		       const char *key);
int vsc_cfs_mkdir(const char *path);	/* -EEXIST is success */
bool vsc_path_exists(const char *path);

/* Backstores; @hba like "rd_mcp_7", result path "core/<hba>/<name>". */
int vsc_tgt_rd_create(const char *hba, const char *name, uint64_t bytes);
int vsc_tgt_fileio_create(const char *hba, const char *name, const char *file, uint64_t bytes);
int vsc_tgt_iblock_create(const char *hba, const char *name, const char *blkdev);
int vsc_tgt_backstore_remove(const char *hba, const char *name);
/* vhost fabric */
int vsc_tgt_tpg_create(const char *wwpn, unsigned int tpgt);
int vsc_tgt_nexus_set(const char *wwpn, unsigned int tpgt, const char *initiator);
int vsc_tgt_nexus_drop(const char *wwpn, unsigned int tpgt);
int vsc_tgt_lun_link(const char *wwpn, unsigned int tpgt, unsigned int lun,
		     const char *hba, const char *name);
int vsc_tgt_lun_unlink(const char *wwpn, unsigned int tpgt, unsigned int lun);
int vsc_tgt_tpg_remove(const char *wwpn, unsigned int tpgt);
/*
 * Removes every WWN below target/@fabric ("vhost", "loopback", ...): LUN links,
 * nexus, ACLs, TPGs; with @remove_fabric_dir target/@fabric too.  Backstores stay.
 */
int vsc_tgt_fabric_teardown(const char *fabric, bool remove_fabric_dir);
/*
 * Removes target/vhost's WWNs (vsc_tgt_fabric_teardown()) and then the
 * backstores below core/; one that another fabric still links stays.
 */
int vsc_tgt_teardown_all(bool remove_fabric_dir);
/* losetup helpers (via the losetup binary) */
int vsc_loop_attach(const char *file, char *dev, size_t devlen);
int vsc_loop_detach(const char *dev);

#endif /* LIBVSC_H */
