/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tcm_vhost - a LIO fabric that serves SCSI LUNs to KVM guests over vhost.
 *
 * Where things live:
 *   tcm_vhost.c         module load/unload, parameters, /dev/vhost-scsi,
 *                       ioctls, endpoint set/clear and device teardown
 *   tcm_vhost_vq.c      what every virtqueue uses: taking chains, writing
 *                       responses, the serve loop, the kick hook and the
 *                       request queue threads
 *   tcm_vhost_map.c     guest memory for target_core: pinned pages, bounces
 *   tcm_vhost_io.c      request virtqueues: command pool, request parsing,
 *                       submission, completion, the dirty-log wait
 *   tcm_vhost_ctl.c     control queue (task management, AN) and event queue
 *   tcm_vhost_fabric.c  target_core_fabric_ops and the configfs tree
 *   tcm_vhost_compat.h  everything that depends on the kernel version
 *   tcm_vhost_trace.h   the tcm_vhost trace events
 *
 * Lock order, outermost first.  Nothing is ever taken in the other direction:
 *
 *   struct vhost_dev.mutex
 *     configfs's inode locks and subsystem mutex (configfs calls in with
 *     them held; target_depend_item() takes them)
 *       tvh_tpg_list_lock (global, static in tcm_vhost_fabric.c: the TPG list)
 *         struct tvh_tpg.lock
 *           struct vhost_virtqueue.mutex
 *
 * Context rules.  Everything that touches a virtqueue or guest memory runs
 * with that queue's mutex held, in a thread that has the owner's mm: the
 * device's vhost worker, or the request queue's thread (tcm_vhost_vq.c),
 * which runs in the owner's cgroups like the vhost worker does.
 * target_core calls back from its own contexts (queue_status, queue_data_in,
 * queue_tm_rsp, aborted_task, release_cmd); those callbacks only push the
 * command onto a lock-free list and queue vhost work, never touch a ring.
 */
#ifndef _TCM_VHOST_H
#define _TCM_VHOST_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/llist.h>
#include <linux/memcontrol.h>
#include <linux/mutex.h>
#include <linux/sbitmap.h>
#include <linux/scatterlist.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/uio.h>
#include <linux/virtio_scsi.h>
#include <linux/wait.h>
#include <target/target_core_base.h>

#include "vhost.h"
#include "vhost_scsi_ioctl.h"
#include "tcm_vhost_compat.h"
#include "tcm_vhost_trace.h"

#define TVH_VERSION "1.0"

/* Longest fabric WWN name we accept, NUL included ("naa.", "fc.", "iqn."). */
#define TVH_NAMELEN VHOST_SCSI_WWPN_LEN
/* Requests handled in one pass of a queue before it yields (CVE-2019-3900). */
#define TVH_WEIGHT 256
/*
 * Data bytes of the requests taken in one pass before it yields too: a
 * pass over large transfers ends early enough for the answers that came
 * in meanwhile to go out before the next one.
 */
#define TVH_BYTE_WEIGHT SZ_4M
/*
 * iov_limit for vhost_dev_init(): the vhost core sizes each queue's log
 * and heads arrays by it, and the module uses neither (tvh_vq.log is its
 * own dirty-log scratch; answers go out with used-ring arrays of its own).
 * UIO_MAXIOV there would cost 24 KiB per virtqueue from SET_OWNER on,
 * about 3 MiB for the 130 virtqueues of a default device.
 */
#define TVH_CORE_IOV_LIMIT 1
/*
 * Guest descriptors an event pass looks at in unusable buffers before it
 * yields: four of the longest chains, whatever their number.
 */
#define TVH_EVT_DESC_WEIGHT (4 * UIO_MAXIOV)
/* Hotplug events queued for a guest before further ones count as missed. */
#define TVH_MAX_EVENTS 128
/* Used ring entries written at once when answering finished commands. */
#define TVH_USED_BATCH 32
/* Response header pieces kept inline in a command (more is allocated). */
#define TVH_RESP_IOV_INLINE 4
/* Hard limits of the max_io_vqs module parameter. */
#define TVH_MAX_IO_VQS 1024
/* Longest host polling window a queue thread may be given (poll_us). */
#define TVH_MAX_POLL_US 1000
/*
 * Requests a guest must send with one kick before its queue's thread polls
 * the ring: one that waits for each answer before sending its next request
 * is not worth polling for.
 */
#define TVH_POLL_MIN_BATCH 2
/* Longest a queue thread may hold back a guest signal (signal_delay_us). */
#define TVH_MAX_SIGNAL_DELAY_US 1000
/* How late the wake-up for a signal held back may come (timer slack). */
#define TVH_SIGNAL_SLACK_NS (5 * NSEC_PER_USEC)
/* How long a wait for commands in the backstore goes before it says so. */
#define TVH_DRAIN_REPORT (30 * HZ)
/*
 * Offload budget of a request queue: sixteen 1 MiB commands, or many small
 * ones, handed to the executor and not answered yet.  A larger command is
 * offloaded only when nothing else is; what does not fit runs in the queue
 * thread, so that large transfers are shared between the two threads.
 */
#define TVH_OFFLOAD_UNITS (1 + SZ_16M / PAGE_SIZE)
/* How often a queue thread with an executor looks for idle CPUs. */
#define TVH_IDLE_SAMPLE_NS (2 * NSEC_PER_MSEC)
/* Largest data transfer of one command, whatever the guest asks. */
#define TVH_MAX_IO_BYTES (32U << 20)
/* Sense the module builds itself: fixed format, ILLEGAL REQUEST. */
#define TVH_SENSE_FIXED_LEN 18
#define TVH_ASC_INVALID_FIELD_IN_CDB 0x24
/* Bounce copies (misaligned data, PI) one device may hold at once: 64 MiB. */
#define TVH_MAX_BOUNCE_PAGES ((64U << 20) >> PAGE_SHIFT)
/* PARAM_CHANGE reason: ASC 2Ah, ASCQ 09h (CAPACITY DATA HAS CHANGED). */
#define TVH_EVT_CAPACITY_CHANGED (0x2a | 0x09 << 8)
/* Bytes of one T10 PI tuple (guard, application and reference tags). */
#define TVH_PI_TUPLE_SIZE 8

/* Module parameters, validated when set (tcm_vhost.c). */
extern unsigned int tvh_max_io_vqs;
extern unsigned int tvh_inline_sg;
extern bool tvh_direct_submit;
extern bool tvh_vq_threads;
extern bool tvh_offload;
extern unsigned int tvh_poll_us;
extern unsigned int tvh_signal_delay_us;

/* A WWN directory: /sys/kernel/config/target/vhost/<name>. */
struct tvh_tport {
	u8 proto_id;			/* SCSI_PROTOCOL_SAS/FCP/ISCSI */
	char name[TVH_NAMELEN];		/* immutable after creation */
	struct se_wwn wwn;
};

/* A target portal group: <wwn>/tpgt_<tag>. */
struct tvh_tpg {
	u16 tag;			/* immutable: the virtio-scsi target byte */
	struct tvh_tport *tport;	/* immutable */
	struct se_portal_group se_tpg;
	struct list_head node;		/* on tvh_tpg_list, tvh_tpg_list_lock */

	struct mutex lock;		/* protects the fields below */
	/*
	 * The I_T nexus.  While a device has this TPG attached (vdev set) the
	 * nexus cannot be dropped, so the request path reads it unlocked.
	 */
	struct se_session *sess;
	struct tvh_dev *vdev;		/* device that has us attached */
	/*
	 * sess is to be made again once vdev lets go: target_core closed it
	 * (its ACL went), or the nexus takes the initiator in nexus_next.
	 */
	bool sess_closed;
	char nexus_next[TVH_NAMELEN];	/* "" unless an ACL's initiator waits */
	unsigned int lun_count;		/* LUNs linked into this TPG */
	int prot_type;			/* attrib/fabric_prot_type: 0, 1 or 3 */
};

/* The scatterlist of pinned guest pages: preallocated, or past its size allocated. */
struct tvh_sgbuf {
	struct scatterlist *sgl;	/* sgl in use for this command */
	unsigned int nents;		/* entries in use, each a pinned page */
	unsigned int cap;		/* capacity of sgl */
	bool misaligned;		/* an entry not in whole 512-byte units */
	struct scatterlist *own_sgl;	/* the preallocated array */
	unsigned int own_cap;
};

enum tvh_cmd_flags {
	TVH_CMD_ANSWER_QUEUED,	/* on the done list, or already answered */
	TVH_CMD_RELEASED,	/* target core let go: answer, then recycle */
	TVH_CMD_DATA_IN,	/* guest pages were written: dirty them */
	TVH_CMD_RESET,		/* a LUN or I_T nexus reset is cancelling it */
	/*
	 * Filled in and about to be submitted: only then may a group TMF's
	 * scan look at it (its tag is taken before target, lun and id are
	 * written).  Set before submission, cleared at recycling.
	 */
	TVH_CMD_LIVE,
	/*
	 * A TMF that was in flight when the command was: the TMF's answer
	 * must follow the command's (it is counted in vdev->tmf_owed).
	 * Set by the TMF's scan, cleared when the answer is queued.
	 */
	TVH_CMD_TMF_OWED,
	/* Being put on the done list: no TMF may count it any more. */
	TVH_CMD_PUSHED,
};

/*
 * Above those bits, cmd->flags counts the times its tag was taken: a group
 * TMF's scan marks a command only if that count is still the one it saw,
 * not the next command that took the same tag meanwhile.
 */
#define TVH_CMD_GEN_ONE		BIT(8)
#define TVH_CMD_BITS		(TVH_CMD_GEN_ONE - 1)

/* One SCSI command in flight, preallocated per request queue. */
struct tvh_cmd {
	struct se_cmd se_cmd;
	struct tvh_vq *tvq;
	/*
	 * enum tvh_cmd_flags and the generation: atomic bitops once the
	 * command is LIVE, plain writes only by its taker before that.
	 */
	unsigned long flags;
	unsigned int tag;		/* index in tvq->cmds */
	unsigned int head;		/* descriptor head to return */
	/* Who the command is for; read unlocked by group TMFs (ctl.c). */
	u8 target;
	u64 lun;
	u64 id;				/* the guest's tag */
	u32 data_len;			/* bytes of the guest's data buffer */
	u32 seq;			/* tvq->taken when taken (vq.mutex) */
	/*
	 * Its share of tvq->offloaded, 0 when it holds none: set before
	 * submission, cleared by whichever comes first of its answer and its
	 * recycling, which are ordered (tvh_io_offload_give()).
	 */
	unsigned int offload_units;
	u8 response;			/* VIRTIO_SCSI_S_* to report */
	u64 taken_ns;			/* for tvh_cmd_done, when it is on */
	struct llist_node done_node;	/* on tvq->done */
	struct llist_node exec_node;	/* on its thread's exec_cmds */
	struct iovec *resp_iov;		/* where the response header goes */
	unsigned int resp_iov_cnt;
	struct iovec resp_iov_inline[TVH_RESP_IOV_INLINE];
	struct tvh_sgbuf data;
	struct tvh_sgbuf prot;
	/* Aligned copy of misaligned data (Windows guests), or NULL. */
	struct scatterlist *bounce_sgl;
	unsigned int bounce_nents;
	/* Our copy of the guest's PI (tvh_map_bounce_prot()), or NULL. */
	struct scatterlist *prot_bounce_sgl;
	unsigned int prot_bounce_nents;
	u32 prot_len;			/* PI bytes, either direction */
	/*
	 * Dirty logging: the writable descriptors, copied when the command
	 * is taken (vq.mutex).  log_num is 0 only for commands taken with
	 * logging off, which tvh_io_wait_unlogged() looks for.
	 */
	struct vhost_log *log;
	unsigned int log_num;
	unsigned char cdb[VIRTIO_SCSI_CDB_SIZE];
	unsigned char sense[TRANSPORT_SENSE_BUFFER];
};

/* Work a request queue's thread has pending (tvh_vq.pending bits). */
enum tvh_vq_pending {
	TVH_VQ_KICK,		/* requests on the ring: kicked, or found polling */
	TVH_VQ_DONE,		/* commands on @done await their answer */
};

/*
 * A thread that serves some of a device's request queues instead of the
 * device's single vhost worker (module parameter vq_threads): at most one
 * per online CPU, each set-up request queue served by exactly one.  It runs
 * with the owner's mm and in the owner's cgroups, as the vhost worker does.
 * Created at SET_ENDPOINT before the queues start, stopped once they are
 * idle again; immutable in between (tcm_vhost_vq.c).
 */
struct tvh_vq_thread {
	struct task_struct *task;
	/*
	 * Its executor (module parameter offload), or NULL: a second thread
	 * in the same cgroups that executes commands the queue thread hands
	 * it (exec_cmds, any number of producers' llist) while the queue
	 * thread goes on taking and mapping requests.  The scheduler puts it
	 * on whichever allowed CPU is idle.
	 */
	struct task_struct *exec_task;
	struct llist_head exec_cmds;
	/*
	 * Time the executor spent submitting commands, in ns: written only by
	 * the executor (WRITE_ONCE), read by the queue thread (READ_ONCE).
	 */
	u64 exec_busy_ns;
	/*
	 * The queue thread's own view of its spare CPU time (no lock: only it
	 * reads and writes these): the idle time of the CPUs it may run on
	 * and the executor's busy time at the last sample, when that was, and
	 * whether the two together made at least half a CPU in the interval
	 * before (tvh_vq_thread_sample_idle()).
	 */
	u64 idle_us;
	u64 exec_seen_ns;
	u64 idle_at_ns;
	bool idle_spare;
	/*
	 * Polling stopped early because the CPU was wanted: the rings whose
	 * kicks are off stay so until the thread runs again or until this
	 * ktime_get_ns(), the end of the polling window, when it turns them
	 * on (0: nothing due).  Only the thread reads and writes it.
	 */
	u64 kicks_due;
	struct tvh_dev *vdev;
	struct task_struct *owner;	/* start-up only: whose cgroups */
	/*
	 * The KCOV remote handle of the thread that set the endpoint (0
	 * without KCOV): the thread's work
	 * is reported to a fuzzer that collects remote coverage, as the vhost
	 * worker's is.  Set before the thread starts, read only by it.
	 */
	u64 kcov_handle;
	struct completion started;
	int start_ret;
	unsigned int nqueues;
	struct tvh_vq *queues[];
};

/*
 * What a queue has done since the device was opened, for the TPG's stats
 * attribute (names in tcm_vhost_fabric.c).  Written only with the queue's
 * mutex held (tvh_stat_add(), tvh_stat_max()); read unlocked, one
 * READ_ONCE() per counter.
 */
enum tvh_stat {
	TVH_STAT_REQUESTS,	/* chains taken off the ring */
	TVH_STAT_COMPLETED,	/* commands target_core finished */
	TVH_STAT_BYTES_OUT,	/* data of completed commands, guest to disk */
	TVH_STAT_BYTES_IN,	/* data of completed commands, disk to guest */
	TVH_STAT_STATUS_ERRORS,	/* completed with a SCSI status other than GOOD */
	TVH_STAT_ABORTED,	/* ended without a status: TMF, nexus loss */
	TVH_STAT_QUEUE_FULL,	/* answered TASK SET FULL: no free command */
	TVH_STAT_BUSY,		/* answered BUSY: bounce budget spent */
	TVH_STAT_REJECTED,	/* answered here: bad target, CDB, mapping */
	TVH_STAT_GUEST_ERRORS,	/* malformed chains (tvh_guest_err()) */
	TVH_STAT_INFLIGHT_MAX,	/* most commands in flight at once (a maximum) */
	/*
	 * Guest kicks received.  The one counter not under vq.mutex: the
	 * kick wake-up writes it under its eventfd's wait-queue lock.
	 */
	TVH_STAT_KICKS,
	TVH_STAT_POLLED,	/* passes started by host polling, not a kick */
	TVH_STAT_SIGNALS,	/* vhost_signal() calls (the guest may mute some) */
	TVH_STAT_SIGNALS_HELD,	/* signals held back by signal_delay_us */
	TVH_NR_STATS,
};

/* A virtqueue of the device and, for request queues, its command pool. */
struct tvh_vq {
	struct vhost_virtqueue vq;
	struct tvh_dev *vdev;
	/*
	 * Command pool: created at SET_ENDPOINT under dev.mutex with the
	 * backend unset, or (a ring set up after the endpoint) on the queue's
	 * first request, in its worker under the vq mutex, published last
	 * for the group TMFs' scans.  Destroyed at CLEAR with the backend
	 * unset and the worker flushed.  The worker takes tags; any context
	 * returns them.
	 */
	struct tvh_cmd *cmds;
	unsigned int ncmds;
	struct sbitmap tags;
	atomic_t inflight;		/* commands taken and not yet recycled */
	u32 taken;			/* commands taken so far, wraps (vq.mutex) */
	/*
	 * Work handed to the executor (offload) and not answered yet, in
	 * units of a command plus its data pages: a queue thread hands out
	 * no more than TVH_OFFLOAD_UNITS and executes the rest itself.
	 */
	atomic_t offloaded;
	struct llist_head done;		/* commands ready to be answered */
	/*
	 * Answers between their PUSHED mark and @done (tvh_io_push_done(),
	 * never preempted there): a TMF waits for none before it flushes.
	 */
	atomic_t pushing;
	struct vhost_work done_work;	/* answers @done from the vhost worker */
	/*
	 * The thread serving this queue, or NULL for the vhost worker.  Set
	 * under dev.mutex before the backend, cleared after the queue is
	 * idle; readers (kick wake-ups, completions) use RCU.
	 */
	struct tvh_vq_thread __rcu *thread;
	unsigned long pending;		/* enum tvh_vq_pending, atomic bitops */
	/*
	 * Dirty-log scratch of tvh_vq_get_desc(), an entry per iovec of
	 * vq.iov (a chain logs at most one per iovec).  Allocated under
	 * dev.mutex by the SET_FEATURES that first acks VHOST_F_LOG_ALL,
	 * before the ack is published under vq.mutex; freed at release.
	 * So it exists whenever the queue logs; read under vq.mutex.
	 */
	struct vhost_log *log;
	/* Entries of @log filled by the last tvh_vq_get_desc() (vq.mutex). */
	unsigned int log_num;
	/*
	 * The last pass left the guest's kicks off because the queue's
	 * thread polls the ring instead (poll_us); tvh_vq_poll_end() turns
	 * them back on.  Written by whoever serves the queue, which for a
	 * queue with a thread is only that thread; read by that thread.
	 */
	bool kicks_off;
	/*
	 * Requests taken since the guest's last kick, counted up to
	 * TVH_POLL_MIN_BATCH, where polling may start; and the kick count
	 * (stats[TVH_STAT_KICKS]) when the last pass began.  Written by
	 * whoever serves the queue, under vq.mutex.
	 */
	unsigned int taken_since_kick;
	u64 kicks_seen;
	/*
	 * Answers are on the used ring but the guest was not signalled for
	 * them yet (signal_delay_us): the ktime_get_ns() by which it must
	 * be, or 0.  Written under vq.mutex; the queue's thread reads it
	 * without, to know how long it may sleep.
	 */
	u64 signal_due;
	/* Data bytes taken in the current pass (vq.mutex, tvh_vq_serve()). */
	u64 pass_bytes;
	u64 stats[TVH_NR_STATS];	/* enum tvh_stat; vq.mutex for writers */
};

/* Event waiting for a guest event buffer. */
struct tvh_event {
	struct list_head node;		/* on tvh_dev.evt_list */
	u32 event;			/* VIRTIO_SCSI_T_* */
	u32 reason;			/* VIRTIO_SCSI_EVT_RESET_* */
	u16 target;
	u64 lun;
};

/* One open /dev/vhost-scsi. */
struct tvh_dev {
	struct vhost_dev dev;
	struct tvh_vq *vqs;		/* immutable after open */
	int nvqs;			/* 2 + request queues, immutable */

	/*
	 * The endpoint: TPGs by target byte, or NULL.  Written under
	 * dev.mutex with all queues stopped; each queue's backend points to
	 * the same array, which is how the worker reads it.
	 */
	struct tvh_tpg **targets;
	char wwpn[VHOST_SCSI_WWPN_LEN];	/* dev.mutex */
	/*
	 * The thread that called SET_OWNER (a reference, dropped at release):
	 * the request queue threads take its cgroups and its pid in their
	 * names, as the vhost worker does.  A VMM may set the endpoint from
	 * another thread (QEMU: the vCPU that started the device).  Set once
	 * under dev.mutex.
	 */
	struct task_struct *owner;
	/* Request queue threads, set with the endpoint (dev.mutex). */
	struct tvh_vq_thread **threads;
	unsigned int nthreads;

	atomic_t bounce_pages;		/* held by bounce copies, any context */
	wait_queue_head_t idle_wq;	/* woken when inflight work drains */
	atomic_t tmf_inflight;		/* TMFs submitted, not yet answered */
	atomic_t tmf_unlogged;		/* of those, taken with logging off */
	/*
	 * TMFs with an answer for the guest not written yet, by the parity of
	 * tmf_epoch when they were taken; tvh_io_wait_taken() flips it
	 * (dev.mutex and the control queue's vq.mutex) and waits for the old
	 * parity's count to drain.  Read under the control queue's vq.mutex.
	 */
	atomic_t tmf_taken[2];
	unsigned int tmf_epoch;
	struct llist_head tmf_done;	/* TMFs ready to be answered */
	/*
	 * Commands marked TVH_CMD_TMF_OWED whose answer is not queued yet
	 * (it may run high: it is raised before a mark is tried).  While it
	 * is not 0, finished TMFs wait on tmf_parked (only tmf_work and, once
	 * the worker is dead, reap_work touch that list).
	 */
	atomic_t tmf_owed;
	struct llist_head tmf_parked;
	struct vhost_work tmf_work;
	/*
	 * Finishes, without answering, what a dead vhost worker can no
	 * longer answer (6.10 on: its owner was killed); on system_wq.
	 */
	struct work_struct reap_work;

	/* Hotplug events; all protected by the event vq's mutex. */
	unsigned int evt_count;
	struct list_head evt_list;	/* struct tvh_event, oldest first */
	bool events_missed;
	struct vhost_work evt_work;
};

/* Result of looking at one descriptor chain. */
enum tvh_pass {
	TVH_EMPTY,		/* no more requests on the ring */
	TVH_ANSWERED,		/* answered here: the guest needs a signal */
	TVH_SUBMITTED,		/* handed on; answered later */
};

/* tcm_vhost.c */
void tvh_dev_queue_work(struct tvh_dev *vdev, struct vhost_virtqueue *vq,
			struct vhost_work *work);

/* tcm_vhost_vq.c */
int tvh_vq_get_desc(struct vhost_virtqueue *vq, unsigned int *out_num,
		    unsigned int *in_num);
void tvh_vq_desc_iters(struct vhost_virtqueue *vq, unsigned int out_num,
		       unsigned int in_num, struct iov_iter *out,
		       struct iov_iter *in);
void tvh_vq_log_write(struct vhost_virtqueue *vq, struct vhost_log *log,
		      unsigned int log_num, u64 len);
void tvh_vq_put_resp(struct vhost_virtqueue *vq, struct iov_iter *in,
		     unsigned int head, const void *resp, size_t len);
void tvh_vq_answer(struct vhost_virtqueue *vq, struct iov_iter *in,
		   unsigned int head, const void *resp, size_t len);
/* tvh_vq_serve() flags */
#define TVH_SERVE_POLL	BIT(0)	/* the caller polls next: leave kicks off */
void tvh_vq_serve(struct vhost_virtqueue *vq,
		  int (*handle_one)(struct vhost_virtqueue *vq,
				    struct tvh_tpg **targets),
		  unsigned int flags);
void tvh_vq_signal(struct vhost_virtqueue *vq);
void tvh_vq_signal_answers(struct tvh_vq *tvq, bool may_delay);
void tvh_vq_signal_held(struct tvh_vq *tvq);
bool tvh_vq_thread_wake(struct tvh_vq *tvq, enum tvh_vq_pending what);
void tvh_vq_init_kick(struct tvh_vq *tvq);
int tvh_vq_threads_start(struct tvh_dev *vdev);
void tvh_vq_threads_stop(struct tvh_dev *vdev);

/* tcm_vhost_map.c */
int tvh_map_pin(struct tvh_sgbuf *buf, struct iov_iter *iter, size_t len);
void tvh_map_put(struct tvh_sgbuf *buf, bool dirty);
void tvh_map_copy(struct scatterlist *dst, unsigned int dst_nents,
		  struct scatterlist *src, unsigned int src_nents, size_t len);
int tvh_map_bounce(struct tvh_cmd *cmd, int dir);
int tvh_map_bounce_prot(struct tvh_cmd *cmd, int dir);
void tvh_map_trim_prot(struct tvh_cmd *cmd);
void tvh_map_bounce_free(struct tvh_cmd *cmd, struct scatterlist **sgl,
			 unsigned int *nents);

/* tcm_vhost_io.c */
int tvh_io_handle_one(struct vhost_virtqueue *vq, struct tvh_tpg **targets);
void tvh_io_handle_kick(struct vhost_work *work);
void tvh_io_done_work(struct vhost_work *work);
void tvh_io_flush_answers(struct tvh_vq *tvq, bool may_delay);
void tvh_io_wait_pushes(struct tvh_vq *tvq);
void tvh_io_exec_list(struct llist_node *list, u64 *busy_ns);
void tvh_io_drop_answers(struct tvh_vq *tvq);
int tvh_io_wait_unlogged(struct tvh_dev *vdev);
int tvh_io_wait_taken(struct tvh_dev *vdev);
int tvh_io_pool_create(struct tvh_vq *tvq);
void tvh_io_pool_destroy(struct tvh_vq *tvq);
int tvh_io_queue_answer(struct se_cmd *se_cmd);
void tvh_io_aborted(struct se_cmd *se_cmd);
void tvh_io_release(struct se_cmd *se_cmd);

/* tcm_vhost_ctl.c */
void tvh_ctl_handle_kick(struct vhost_work *work);
void tvh_evt_handle_kick(struct vhost_work *work);
void tvh_tmf_done_work(struct vhost_work *work);
void tvh_tmf_owed_put(struct tvh_dev *vdev);
void tvh_tmf_drop_answers(struct tvh_dev *vdev);
void tvh_evt_work(struct vhost_work *work);
void tvh_tmf_queue_rsp(struct se_cmd *se_cmd);
void tvh_tmf_release(struct se_cmd *se_cmd);
void tvh_evt_post(struct tvh_dev *vdev, u32 event, u16 target, u64 lun,
		  u32 reason);
void tvh_evt_drain(struct tvh_dev *vdev);

/* tcm_vhost_fabric.c */
int tvh_fabric_register(void);
void tvh_fabric_unregister(void);
int tvh_tpgs_attach(struct tvh_dev *vdev, const char *wwpn,
		    struct tvh_tpg **targets);
void tvh_tpgs_detach(struct tvh_tpg **targets);
bool tvh_nexus_lun(struct tvh_tpg *tpg, u64 lun, bool guest_number,
		   u64 *mapped);

/* Shared helpers. */
static inline struct tvh_dev *tvh_vq_dev(struct vhost_virtqueue *vq)
{
	return container_of(vq->dev, struct tvh_dev, dev);
}

static inline struct tvh_vq *to_tvh_vq(struct vhost_virtqueue *vq)
{
	return container_of(vq, struct tvh_vq, vq);
}

/*
 * What a device allocates for its guest (GFP_KERNEL_ACCOUNT) is charged to
 * the memory cgroup of its owner, whichever task allocates it: a kernel
 * thread (queue thread, executor, 6.1's vhost worker) is charged to no one
 * by default, and a configfs writer is not the guest.  Between
 * tvh_charge_begin() and tvh_charge_end() on one task, such allocations go
 * to the memcg of @mm's owner.
 */
struct tvh_charge {
	struct mem_cgroup *memcg;
	struct mem_cgroup *old;
};

static inline void tvh_charge_begin(struct tvh_charge *c, struct mm_struct *mm)
{
	c->memcg = get_mem_cgroup_from_mm(mm);
	c->old = set_active_memcg(c->memcg);
}

static inline void tvh_charge_end(struct tvh_charge *c)
{
	set_active_memcg(c->old);
	mem_cgroup_put(c->memcg);
}

/* The largest LUN a single-level virtio-scsi LUN field can carry. */
#define TVH_MAX_LUN 0x3fff

/*
 * Decode the virtio-scsi LUN field: lun[0] = 1, lun[1] = target,
 * lun[2..3] = LUN in flat or peripheral addressing, lun[4..7] = 0.
 * Returns false if the field is not in that single-level format.
 */
static inline bool tvh_decode_lun(const u8 *lun, u8 *target, u64 *unpacked)
{
	if (lun[0] != 1 || (lun[2] >> 6) > 1 ||
	    lun[4] || lun[5] || lun[6] || lun[7])
		return false;
	*target = lun[1];
	*unpacked = ((lun[2] << 8) | lun[3]) & TVH_MAX_LUN;
	return true;
}

static inline unsigned int tvh_vq_index(struct vhost_virtqueue *vq)
{
	return to_tvh_vq(vq) - tvh_vq_dev(vq)->vqs;
}

/* Count @n into counter @stat of @vq; the caller holds vq->mutex. */
static inline void tvh_stat_add(struct vhost_virtqueue *vq, enum tvh_stat stat,
				u64 n)
{
	u64 *counter = &to_tvh_vq(vq)->stats[stat];

	lockdep_assert_held(&vq->mutex);
	WRITE_ONCE(*counter, *counter + n);
}

/* Raise counter @stat of @vq to @v if it is below; vq->mutex held. */
static inline void tvh_stat_max(struct vhost_virtqueue *vq, enum tvh_stat stat,
				u64 v)
{
	u64 *counter = &to_tvh_vq(vq)->stats[stat];

	lockdep_assert_held(&vq->mutex);
	if (v > *counter)
		WRITE_ONCE(*counter, v);
}

/* Ratelimited log line for guest misbehaviour, naming (and counting in) the queue. */
#define tvh_guest_err(vq, fmt, ...) do {				\
	struct vhost_virtqueue *__vq = (vq);				\
									\
	tvh_stat_add(__vq, TVH_STAT_GUEST_ERRORS, 1);				\
	trace_tvh_guest_error(tvh_vq_index(__vq));			\
	pr_err_ratelimited("vq %u: " fmt, tvh_vq_index(__vq), ##__VA_ARGS__); \
} while (0)

#endif /* _TCM_VHOST_H */
