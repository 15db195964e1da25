// SPDX-License-Identifier: GPL-2.0
/*
 * Request queues: from a guest's descriptor chain to
 * target_core and back.
 *
 * A request is one descriptor chain.  Its device-readable part holds a
 * virtio_scsi_cmd_req (or _req_pi) and then the data-out bytes; its
 * device-writable part holds room for a virtio_scsi_cmd_resp and then the
 * data-in bytes.  Headers may be split across any number of descriptors.
 * Data pages are pinned where they are and given to target_core as a
 * scatterlist: nothing is copied.
 *
 * Every request gets exactly one answer on the used ring: a SCSI status from
 * target_core, or a virtio-scsi error response built here when the request
 * cannot be executed.  Only a chain with no room for a response at all is
 * returned without one (used length 0).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk_types.h>
#include <linux/cgroup.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <scsi/scsi_common.h>
#include <scsi/scsi_proto.h>
#include <target/target_core_fabric.h>

#include "tcm_vhost.h"

/**
 * tvh_get_desc - take the next descriptor chain of @vq into vq->iov
 * @vq: the queue, mutex held
 * @out_num: device-readable iovecs, first in vq->iov
 * @in_num: device-writable iovecs, after them
 *
 * Returns the head, vq->num when the ring is empty, or a negative errno
 * (the vhost core has logged it).  While dirty logging is on (live
 * migration), the writable descriptors are also recorded in vq->log.
 */
int tvh_get_desc(struct vhost_virtqueue *vq, unsigned int *out_num,
		 unsigned int *in_num)
{
	struct tvh_vq *tvq = tvh_vq(vq);
	bool logging = vhost_has_feature(vq, VHOST_F_LOG_ALL);

	lockdep_assert_held(&vq->mutex);

	tvq->log_num = 0;
	return vhost_get_vq_desc(vq, vq->iov, ARRAY_SIZE(vq->iov), out_num,
				 in_num, logging ? vq->log : NULL,
				 logging ? &tvq->log_num : NULL);
}

/*
 * Describe the chain tvh_get_desc() just took: @out over its device-readable
 * part (the request), @in over its device-writable part (the response).
 */
void tvh_desc_iters(struct vhost_virtqueue *vq, unsigned int out_num,
		    unsigned int in_num, struct iov_iter *out,
		    struct iov_iter *in)
{
	iov_iter_init(out, ITER_SOURCE, vq->iov, out_num,
		      iov_length(vq->iov, out_num));
	iov_iter_init(in, ITER_DEST, &vq->iov[out_num], in_num,
		      iov_length(&vq->iov[out_num], in_num));
}

/*
 * Mark the first @len bytes of the writable descriptors in @log dirty:
 * what we just wrote into guest memory.  Under the queue's mutex, so the
 * log base cannot change underneath (CVE-2025-38074).  A log that cannot
 * be written is reported on the queue's error eventfd: the VMM must not
 * believe a migration that lost dirty pages.
 */
void tvh_log_write(struct vhost_virtqueue *vq, struct vhost_log *log,
		   unsigned int log_num, u64 len)
{
	if (log_num && len &&
	    vhost_log_write(vq, log, log_num, len, NULL, 0) < 0) {
		tvh_guest_err(vq, "cannot write the dirty log\n");
		vq_err(vq, "dirty log not writable\n");
	}
}

/* Build fixed-format sense for an error detected before target_core. */
static void tvh_build_sense(u8 *sense, u8 key, u8 asc, u8 ascq)
{
	scsi_build_sense_buffer(0, sense, key, asc, ascq);
}

/* Count an answer given without target_core by what it tells the guest. */
static void tvh_io_count_sync_answer(struct vhost_virtqueue *vq, u8 response,
				     u8 status)
{
	if (response != VIRTIO_SCSI_S_OK)
		tvh_stat_add(vq, TVH_STAT_REJECTED, 1);
	else if (status == SAM_STAT_TASK_SET_FULL)
		tvh_stat_add(vq, TVH_STAT_QUEUE_FULL, 1);
	else if (status == SAM_STAT_BUSY)
		tvh_stat_add(vq, TVH_STAT_BUSY, 1);
	else
		tvh_stat_add(vq, TVH_STAT_REJECTED, 1);	/* CHECK CONDITION of ours */
}

/**
 * tvh_send_cmd_resp - answer a request without target_core
 * @vq: the queue, mutex held, in the worker
 * @resp_iter: where the response header goes (consumed)
 * @head: descriptor head to return
 * @response: VIRTIO_SCSI_S_*
 * @status: SAM status when @response is VIRTIO_SCSI_S_OK
 * @sense: sense data or NULL
 * @sense_len: bytes of @sense
 *
 * The caller signals the guest once its pass is over.
 */
void tvh_send_cmd_resp(struct vhost_virtqueue *vq, struct iov_iter *resp_iter,
		       unsigned int head, u8 response, u8 status,
		       const u8 *sense, u32 sense_len)
{
	struct virtio_scsi_cmd_resp resp = {
		.response = response,
		.status = status,
	};

	lockdep_assert_held(&vq->mutex);
	tvh_io_count_sync_answer(vq, response, status);
	if (sense && sense_len) {
		sense_len = min_t(u32, sense_len, sizeof(resp.sense));
		memcpy(resp.sense, sense, sense_len);
		resp.sense_len = cpu_to_vhost32(vq, sense_len);
	}
	if (copy_to_iter(&resp, sizeof(resp), resp_iter) != sizeof(resp))
		tvh_guest_err(vq, "request %u: response buffer not writable\n",
			      head);
	tvh_log_write(vq, vq->log, tvh_vq(vq)->log_num, sizeof(resp));
	vhost_add_used(vq, head, sizeof(resp));
}

static void tvh_send_check_condition(struct vhost_virtqueue *vq,
				     struct iov_iter *resp_iter,
				     unsigned int head, u8 asc)
{
	u8 sense[TRANSPORT_SENSE_BUFFER] = {};

	tvh_build_sense(sense, ILLEGAL_REQUEST, asc, 0);
	tvh_send_cmd_resp(vq, resp_iter, head, VIRTIO_SCSI_S_OK,
			  SAM_STAT_CHECK_CONDITION, sense, TVH_SENSE_FIXED_LEN);
}

/* Unpin the pages of @buf; @dirty when the backend wrote into them. */
static void tvh_sgbuf_put(struct tvh_sgbuf *buf, bool dirty)
{
	unsigned int i;

	for (i = 0; i < buf->nents; i++) {
		/* A page still dirty needs no lock to stay so (as bio does). */
		if (dirty && !PageDirty(buf->pages[i]))
			set_page_dirty_lock(buf->pages[i]);
		put_page(buf->pages[i]);
	}
	if (buf->sgl != buf->own_sgl) {
		kvfree(buf->sgl);
		kvfree(buf->pages);
		buf->sgl = buf->own_sgl;
		buf->pages = buf->own_pages;
		buf->cap = buf->own_cap;
	}
	buf->nents = 0;
	buf->misaligned = false;
}

/*
 * Make room for @npages entries.  Commands up to the preallocated size
 * (module parameter inline_sg) never allocate.
 */
static int tvh_sgbuf_reserve(struct tvh_sgbuf *buf, unsigned int npages)
{
	if (npages <= buf->cap)
		return 0;
	buf->sgl = kvmalloc_array(npages, sizeof(*buf->sgl), GFP_KERNEL_ACCOUNT);
	buf->pages = kvmalloc_array(npages, sizeof(*buf->pages),
				    GFP_KERNEL_ACCOUNT);
	if (!buf->sgl || !buf->pages) {
		kvfree(buf->sgl);
		kvfree(buf->pages);
		buf->sgl = buf->own_sgl;
		buf->pages = buf->own_pages;
		return -ENOMEM;
	}
	buf->cap = npages;
	return 0;
}

/**
 * tvh_sgbuf_map - pin the next @len bytes of @iter into @buf
 * @buf: empty scatterlist buffer
 * @iter: guest buffers, advanced by @len on success
 * @len: bytes to map, at most what @iter holds
 *
 * Pages are taken with their offsets as they are: misaligned guest buffers
 * are described exactly, not bounced.
 */
static int tvh_sgbuf_map(struct tvh_sgbuf *buf, struct iov_iter *iter,
			 size_t len)
{
	struct iov_iter it = *iter;
	unsigned int npages;
	int ret;

	if (!len)
		return 0;
	iov_iter_truncate(&it, len);
	npages = iov_iter_npages(&it, INT_MAX);
	ret = tvh_sgbuf_reserve(buf, npages);
	if (ret)
		return ret;
	sg_init_table(buf->sgl, npages);

	while (iov_iter_count(&it)) {
		struct page **pages = buf->pages + buf->nents;
		size_t offset;
		ssize_t bytes;

		if (buf->nents >= npages)
			return -EINVAL;
		bytes = iov_iter_get_pages2(&it, pages, iov_iter_count(&it),
					    npages - buf->nents, &offset);
		if (bytes <= 0)
			return bytes ? bytes : -EFAULT;
		while (bytes) {
			unsigned int seg = min_t(size_t, bytes,
						 PAGE_SIZE - offset);

			sg_set_page(&buf->sgl[buf->nents++], *pages++, seg,
				    offset);
			if ((offset | seg) & (SECTOR_SIZE - 1))
				buf->misaligned = true;
			bytes -= seg;
			offset = 0;
		}
	}
	sg_mark_end(&buf->sgl[buf->nents - 1]);
	iov_iter_advance(iter, len);
	return 0;
}

/* Copy the first @len bytes of @src into @dst. */
static void tvh_sg_copy(struct scatterlist *dst, unsigned int dst_nents,
			struct scatterlist *src, unsigned int src_nents,
			size_t len)
{
	struct sg_mapping_iter miter;
	size_t done = 0;

	sg_miter_start(&miter, src, src_nents, SG_MITER_FROM_SG);
	while (done < len && sg_miter_next(&miter)) {
		size_t n = min(miter.length, len - done);

		sg_pcopy_from_buffer(dst, dst_nents, miter.addr, n, done);
		done += n;
	}
	sg_miter_stop(&miter);
}

/*
 * A bounce copy of @len bytes in whole pages, charged to the owner's memory
 * cgroup (the caller runs in its cgroups) and counted against the device's
 * TVH_MAX_BOUNCE_PAGES: -EBUSY past that, so that one guest with a slow
 * backstore cannot make the host hold more.
 */
static int tvh_bounce_alloc(struct tvh_cmd *cmd, struct scatterlist **sgl,
			    unsigned int *nents, u32 len, bool zero)
{
	atomic_t *held = &cmd->tvq->vdev->bounce_pages;
	unsigned int n = DIV_ROUND_UP(len, PAGE_SIZE), i;
	gfp_t gfp = GFP_KERNEL_ACCOUNT | (zero ? __GFP_ZERO : 0);
	struct scatterlist *sg;

	if (atomic_add_return(n, held) > TVH_MAX_BOUNCE_PAGES) {
		atomic_sub(n, held);
		return -EBUSY;
	}
	sg = kvmalloc_array(n, sizeof(*sg), GFP_KERNEL_ACCOUNT);
	if (!sg)
		goto out_unaccount;
	sg_init_table(sg, n);
	for (i = 0; i < n; i++) {
		struct page *page = alloc_page(gfp);
		u32 seg = min_t(u32, len, PAGE_SIZE);

		if (!page)
			goto out_free_pages;
		sg_set_page(&sg[i], page, seg, 0);
		len -= seg;
	}
	*sgl = sg;
	*nents = n;
	return 0;

out_free_pages:
	while (i--)
		__free_page(sg_page(&sg[i]));
	kvfree(sg);
out_unaccount:
	atomic_sub(n, held);
	return -ENOMEM;
}

static void tvh_bounce_free(struct tvh_cmd *cmd, struct scatterlist **sgl,
			    unsigned int nents)
{
	unsigned int i;

	if (!*sgl)
		return;
	for (i = 0; i < nents; i++)
		__free_page(sg_page(&(*sgl)[i]));
	kvfree(*sgl);
	*sgl = NULL;
	atomic_sub(nents, &cmd->tvq->vdev->bounce_pages);
}

/*
 * Guest buffers that are not in whole sectors (Windows guests do this) are
 * fine for ramdisk and file backstores but not for every block device.
 * Such data goes through an aligned copy: allocated for this command only.
 */
static int tvh_io_bounce(struct tvh_cmd *cmd, int dir)
{
	int ret;

	if (!cmd->data.misaligned)
		return 0;
	/*
	 * What the backstore does not write of a data-in copy goes back to
	 * the guest too (a short REQUEST SENSE, say): it must not be stale
	 * host memory, whatever init_on_alloc says.
	 */
	ret = tvh_bounce_alloc(cmd, &cmd->bounce_sgl, &cmd->bounce_nents,
			       cmd->data_len, dir == DMA_FROM_DEVICE);
	if (ret)
		return ret;
	if (dir == DMA_TO_DEVICE)
		tvh_sg_copy(cmd->bounce_sgl, cmd->bounce_nents, cmd->data.sgl,
			    cmd->data.nents, cmd->data_len);
	return 0;
}

/* Bytes of one T10 PI tuple (guard, application and reference tags). */
#define TVH_PI_TUPLE_SIZE 8

/*
 * PI always goes through a copy of ours, in whole pages.  target_core's DIF
 * code writes 8-byte tuples per scatterlist entry, which would run past an
 * entry the guest shaped (4 bytes at page offset 4092, say), and it inserts
 * PI for WRITEs sent without any (PROTECT=0) into the PI buffer, which for
 * a WRITE are guest pages pinned for reading only.  The copy holds as much
 * PI as the data can need (a tuple per 512-byte block), whatever the guest
 * offered: backstores move prot_length bytes, computed from the CDB.
 */
static int tvh_io_bounce_prot(struct tvh_cmd *cmd, int dir)
{
	u32 len;
	int ret;

	if (!cmd->prot_len)
		return 0;
	len = max(cmd->prot_len, DIV_ROUND_UP(cmd->data_len, SECTOR_SIZE) *
				 TVH_PI_TUPLE_SIZE);
	ret = tvh_bounce_alloc(cmd, &cmd->prot_bounce_sgl,
			       &cmd->prot_bounce_nents, len, true);
	if (ret)
		return ret;
	if (dir == DMA_TO_DEVICE)
		tvh_sg_copy(cmd->prot_bounce_sgl, cmd->prot_bounce_nents,
			    cmd->prot.sgl, cmd->prot.nents, cmd->prot_len);
	return 0;
}

/*
 * Count @cmd against its queue's offload budget, if it fits: a command of
 * @data_len bytes costs one unit plus one per page.  Only the queue's
 * thread takes (vq.mutex); completions in any context give back.
 */
static bool tvh_io_offload_take(struct tvh_cmd *cmd, u32 data_len)
{
	struct tvh_vq *tvq = cmd->tvq;
	unsigned int units = 1 + DIV_ROUND_UP(data_len, PAGE_SIZE);
	int used = atomic_read(&tvq->offloaded);

	if (used && used + units > TVH_OFFLOAD_UNITS)
		return false;
	cmd->offload_units = units;
	atomic_add(units, &tvq->offloaded);
	return true;
}

/*
 * @cmd is answered (or given up): its offload units are free again.  Called
 * from its answer and from its recycling, never at once: the answer queues
 * the command for the thread that recycles it.
 */
static void tvh_io_offload_give(struct tvh_cmd *cmd)
{
	if (cmd->offload_units) {
		atomic_sub(cmd->offload_units, &cmd->tvq->offloaded);
		cmd->offload_units = 0;
	}
}

/* Give the command back to the pool: the last step of every command. */
static void tvh_io_recycle(struct tvh_cmd *cmd)
{
	struct tvh_vq *tvq = cmd->tvq;
	struct tvh_dev *vdev = tvq->vdev;
	bool dirty = test_bit(TVH_CMD_DATA_IN, &cmd->flags);

	tvh_io_offload_give(cmd);
	tvh_sgbuf_put(&cmd->data, dirty);
	tvh_sgbuf_put(&cmd->prot, dirty);
	if (cmd->resp_iov != cmd->resp_iov_inline)
		kfree(cmd->resp_iov);
	cmd->resp_iov = cmd->resp_iov_inline;
	kfree(cmd->log);
	cmd->log = NULL;
	WRITE_ONCE(cmd->log_num, 0);
	tvh_bounce_free(cmd, &cmd->bounce_sgl, cmd->bounce_nents);
	tvh_bounce_free(cmd, &cmd->prot_bounce_sgl, cmd->prot_bounce_nents);
	clear_bit(TVH_CMD_LIVE, &cmd->flags);
	sbitmap_clear_bit(&tvq->tags, cmd->tag);
	/*
	 * Only teardown waits; wq_has_sleeper() orders against its check.
	 * Once inflight reads 0 release may free the device: the RCU read
	 * side keeps it until tvh_release()'s synchronize_rcu().
	 */
	rcu_read_lock();
	if (atomic_dec_and_test(&tvq->inflight) && wq_has_sleeper(&vdev->idle_wq))
		wake_up(&vdev->idle_wq);
	rcu_read_unlock();
}

/* Have the queue's thread do @what; false if the queue has no thread. */
static bool tvh_io_thread_wake(struct tvh_vq *tvq, enum tvh_vq_pending what)
{
	struct tvh_io_thread *thread;
	bool woken = false;

	rcu_read_lock();
	thread = rcu_dereference(tvq->thread);
	if (thread) {
		set_bit(what, &tvq->pending);
		/* Pairs with set_current_state() in tvh_io_thread(). */
		smp_mb__after_atomic();
		wake_up_process(thread->task);
		woken = true;
	}
	rcu_read_unlock();
	return woken;
}

static void tvh_io_push_done(struct tvh_cmd *cmd)
{
	struct tvh_vq *tvq = cmd->tvq;

	if (!llist_add(&cmd->done_node, &tvq->done))
		return;		/* whoever added the first one woke the worker */
	if (!tvh_io_thread_wake(tvq, TVH_VQ_DONE))
		tvh_dev_queue_work(tvq->vdev, &tvq->vq, &tvq->done_work);
}

/* target_core's queue_status and queue_data_in: any context. */
int tvh_io_queue_answer(struct se_cmd *se_cmd)
{
	struct tvh_cmd *cmd = container_of(se_cmd, struct tvh_cmd, se_cmd);

	if (test_and_set_bit(TVH_CMD_ANSWER_QUEUED, &cmd->flags))
		return 0;
	cmd->response = VIRTIO_SCSI_S_OK;
	tvh_io_offload_give(cmd);
	tvh_io_push_done(cmd);
	return 0;
}

/*
 * target_core's aborted_task: the command will not get a status from the
 * core.  Nothing to undo yet; release_cmd follows and answers the guest.
 */
void tvh_io_aborted(struct se_cmd *se_cmd)
{
}

/*
 * target_core's release_cmd for SCSI commands: the core holds no more
 * references.  A command that was never answered (cancelled by a TMF) still
 * owes the guest an answer from its worker, then it is recycled: RESET when
 * a LUN or I_T nexus reset cancelled it, ABORTED otherwise (virtio spec).
 */
void tvh_io_release(struct se_cmd *se_cmd)
{
	struct tvh_cmd *cmd = container_of(se_cmd, struct tvh_cmd, se_cmd);

	if (test_and_set_bit(TVH_CMD_ANSWER_QUEUED, &cmd->flags)) {
		tvh_io_recycle(cmd);
		return;
	}
	cmd->response = test_bit(TVH_CMD_RESET, &cmd->flags) ?
			VIRTIO_SCSI_S_RESET : VIRTIO_SCSI_S_ABORTED;
	set_bit(TVH_CMD_RELEASED, &cmd->flags);
	tvh_io_push_done(cmd);
}

/* Count a command target_core finished; @transferred data bytes. */
static void tvh_io_count_completion(struct vhost_virtqueue *vq,
				    struct tvh_cmd *cmd, u32 transferred)
{
	if (cmd->response != VIRTIO_SCSI_S_OK) {
		tvh_stat_add(vq, TVH_STAT_ABORTED, 1);
		return;
	}
	tvh_stat_add(vq, TVH_STAT_COMPLETED, 1);
	if (cmd->se_cmd.scsi_status != SAM_STAT_GOOD)
		tvh_stat_add(vq, TVH_STAT_STATUS_ERRORS, 1);
	else if (test_bit(TVH_CMD_DATA_IN, &cmd->flags))
		tvh_stat_add(vq, TVH_STAT_BYTES_IN, transferred);
	else
		tvh_stat_add(vq, TVH_STAT_BYTES_OUT, transferred);
}

/*
 * Write the response header of a finished command (and copy back bounced
 * data); returns the used length to report with its head.
 */
static u32 tvh_io_answer(struct vhost_virtqueue *vq, struct tvh_cmd *cmd)
{
	struct virtio_scsi_cmd_resp resp = { .response = cmd->response };
	struct se_cmd *se_cmd = &cmd->se_cmd;
	u32 data_written = 0, pi_written = 0, transferred = 0;
	struct iov_iter iter;

	if (cmd->response == VIRTIO_SCSI_S_OK) {
		u32 sense_len = min_t(u32, se_cmd->scsi_sense_length,
				      sizeof(resp.sense));
		u32 resid;

		resp.status = se_cmd->scsi_status;
		resp.sense_len = cpu_to_vhost32(vq, sense_len);
		memcpy(resp.sense, cmd->sense, sense_len);
		/*
		 * resid is the part of the guest's buffer not transferred: on
		 * overflow the whole buffer was used, and a command that
		 * failed transferred nothing.
		 */
		if (se_cmd->scsi_status != SAM_STAT_GOOD)
			resid = cmd->data_len;
		else if (se_cmd->se_cmd_flags & SCF_UNDERFLOW_BIT)
			resid = min(se_cmd->residual_count, cmd->data_len);
		else
			resid = 0;
		resp.resid = cpu_to_vhost32(vq, resid);
		transferred = cmd->data_len - resid;
		if (test_bit(TVH_CMD_DATA_IN, &cmd->flags))
			data_written = transferred;
		if (data_written && cmd->bounce_sgl)
			tvh_sg_copy(cmd->data.sgl, cmd->data.nents,
				    cmd->bounce_sgl, cmd->bounce_nents,
				    data_written);
		/* Data-in PI sits between the response and the data. */
		if (data_written && cmd->prot_bounce_sgl) {
			tvh_sg_copy(cmd->prot.sgl, cmd->prot.nents,
				    cmd->prot_bounce_sgl,
				    cmd->prot_bounce_nents, cmd->prot_len);
			pi_written = cmd->prot_len;
		}
	}
	tvh_io_count_completion(vq, cmd, transferred);
	trace_tvh_cmd_done(tvh_vq_index(vq), cmd->head, cmd->response,
			   resp.status, transferred,
			   cmd->taken_ns ? ktime_get_ns() - cmd->taken_ns : 0);

	iov_iter_init(&iter, ITER_DEST, cmd->resp_iov, cmd->resp_iov_cnt,
		      sizeof(resp));
	if (copy_to_iter(&resp, sizeof(resp), &iter) != sizeof(resp))
		tvh_guest_err(vq, "request %u: response buffer not writable\n",
			      cmd->head);
	tvh_log_write(vq, cmd->log, cmd->log_num,
		      sizeof(resp) + pi_written + data_written);
	return sizeof(resp) + pi_written + data_written;
}

/* Give answered (or dropped) commands back to target_core or their pool. */
static void tvh_io_finish_list(struct llist_node *list)
{
	struct tvh_cmd *cmd, *next;

	llist_for_each_entry_safe(cmd, next, list, done_node) {
		if (test_bit(TVH_CMD_RELEASED, &cmd->flags))
			tvh_io_recycle(cmd);
		else
			transport_generic_free_cmd(&cmd->se_cmd, 0);
	}
}

/**
 * tvh_io_flush_answers - answer every finished command of a queue
 * @tvq: the queue; called by whichever thread serves it, or by a TMF
 *
 * The used ring is written TVH_USED_BATCH entries at a time, and the guest
 * gets one signal per batch, however many commands it holds.  A
 * TMF calls this for every queue before writing its own answer, so that
 * the guest sees the commands it aborted answered first.
 */
void tvh_io_flush_answers(struct tvh_vq *tvq)
{
	struct vring_used_elem used[TVH_USED_BATCH];
	struct vhost_virtqueue *vq = &tvq->vq;
	struct tvh_cmd *cmd;
	struct llist_node *list;
	unsigned int n = 0;

	/*
	 * Take the list under the mutex: whoever holds the mutex next knows
	 * that every answer taken before is on the used ring.
	 */
	mutex_lock(&vq->mutex);
	list = llist_del_all(&tvq->done);
	if (!list) {
		mutex_unlock(&vq->mutex);
		return;
	}
	list = llist_reverse_order(list);
	llist_for_each_entry(cmd, list, done_node) {
		used[n].id = cpu_to_vhost32(vq, cmd->head);
		used[n].len = cpu_to_vhost32(vq, tvh_io_answer(vq, cmd));
		if (++n == ARRAY_SIZE(used)) {
			vhost_add_used_n(vq, used, n);
			n = 0;
		}
	}
	if (n)
		vhost_add_used_n(vq, used, n);
	vhost_signal(&tvq->vdev->dev, vq);
	mutex_unlock(&vq->mutex);

	tvh_io_finish_list(list);
}

/*
 * Nobody will read the answers of @tvq (its worker died with the owner):
 * give the finished commands back without writing guest memory, which only
 * a context holding the owner's mm may touch.
 */
void tvh_io_drop_answers(struct tvh_vq *tvq)
{
	tvh_io_finish_list(llist_del_all(&tvq->done));
}

void tvh_io_done_work(struct vhost_work *work)
{
	tvh_io_flush_answers(container_of(work, struct tvh_vq, done_work));
}

/*
 * Remember where the response header goes: the first bytes of the
 * device-writable part, possibly spread over many descriptors.
 */
static int tvh_io_save_resp(struct tvh_cmd *cmd, const struct iovec *in,
			    unsigned int in_num)
{
	size_t left = sizeof(struct virtio_scsi_cmd_resp);
	unsigned int n;

	for (n = 0; left && n < in_num; n++)
		left -= min(left, in[n].iov_len);
	if (left)
		return -EINVAL;
	if (n > TVH_RESP_IOV_INLINE) {
		cmd->resp_iov = kmalloc_array(n, sizeof(*in),
					      GFP_KERNEL_ACCOUNT);
		if (!cmd->resp_iov) {
			cmd->resp_iov = cmd->resp_iov_inline;
			return -ENOMEM;
		}
	}
	memcpy(cmd->resp_iov, in, n * sizeof(*in));
	cmd->resp_iov_cnt = n;
	return 0;
}

static int tvh_task_attr(u8 virtio_attr)
{
	switch (virtio_attr) {
	case VIRTIO_SCSI_S_ORDERED:
		return TCM_ORDERED_TAG;
	case VIRTIO_SCSI_S_HEAD:
		return TCM_HEAD_TAG;
	case VIRTIO_SCSI_S_ACA:
		return TCM_ACA_TAG;
	default:
		return TCM_SIMPLE_TAG;
	}
}

/*
 * A request as its header gave it (whichever of the two layouts it had),
 * then what the checks made of it.
 */
struct tvh_req {
	u8 lun[8];
	u64 id;
	u8 task_attr;
	u32 pi_out;
	u32 pi_in;
	u8 cdb[VIRTIO_SCSI_CDB_SIZE];
	/* filled in by tvh_io_session() and tvh_io_check() */
	u8 target;
	u64 unpacked_lun;
	u32 data_len;
	enum dma_data_direction dir;
};

static bool tvh_io_read_header(struct vhost_virtqueue *vq,
			       struct iov_iter *out, struct tvh_req *req)
{
	union {
		struct virtio_scsi_cmd_req plain;
		struct virtio_scsi_cmd_req_pi pi;
	} h;

	if (vhost_has_feature(vq, VIRTIO_SCSI_F_T10_PI)) {
		if (!copy_from_iter_full(&h.pi, sizeof(h.pi), out))
			return false;
		memcpy(req->lun, h.pi.lun, sizeof(req->lun));
		req->id = vhost64_to_cpu(vq, h.pi.tag);
		req->task_attr = h.pi.task_attr;
		req->pi_out = vhost32_to_cpu(vq, h.pi.pi_bytesout);
		req->pi_in = vhost32_to_cpu(vq, h.pi.pi_bytesin);
		memcpy(req->cdb, h.pi.cdb, sizeof(req->cdb));
	} else {
		if (!copy_from_iter_full(&h.plain, sizeof(h.plain), out))
			return false;
		memcpy(req->lun, h.plain.lun, sizeof(req->lun));
		req->id = vhost64_to_cpu(vq, h.plain.tag);
		req->task_attr = h.plain.task_attr;
		req->pi_out = 0;
		req->pi_in = 0;
		memcpy(req->cdb, h.plain.cdb, sizeof(req->cdb));
	}
	return true;
}

/*
 * The CPU after this one, for work handed out of a queue's thread: the
 * thread keeps taking requests while another CPU executes and completes.
 */
static int tvh_io_offload_cpu(void)
{
	int cpu = cpumask_next(raw_smp_processor_id(), cpu_online_mask);

	return cpu < nr_cpu_ids ? cpu : cpumask_first(cpu_online_mask);
}

/*
 * Hand a fully mapped command to target_core.
 *
 * A lone command is executed right here (direct_submit), which is the
 * shortest path.  When the device has CPUs to spare (fewer queue threads
 * than online CPUs) and the queue has other commands in flight, the
 * command goes to target_core's submission workqueue on the next CPU and
 * completes there (offload): one busy queue then uses two CPUs, the way a
 * guest with a deep queue on few vCPUs needs.  What does not fit in the
 * queue's offload budget runs right here, so that the thread shares large
 * transfers with the other CPU instead of leaving them all to it.
 */
static void tvh_io_submit(struct tvh_cmd *cmd, struct se_session *sess,
			  const struct tvh_req *req)
{
	struct se_cmd *se_cmd = &cmd->se_cmd;
	int flags = TARGET_SCF_ACK_KREF;
	bool direct = tvh_direct_submit;

	if (tvh_offload && cmd->tvq->vdev->spare_cpus &&
	    atomic_read(&cmd->tvq->inflight) > 1 &&
	    tvh_io_offload_take(cmd, req->data_len)) {
		se_cmd->cpuid = tvh_io_offload_cpu();
		flags |= TARGET_SCF_USE_CPUID;
		direct = false;
	}
	if (target_init_cmd(se_cmd, sess, cmd->sense, req->unpacked_lun,
			    req->data_len, tvh_task_attr(req->task_attr),
			    req->dir, flags)) {
		/* The session is going away: report it as the core would. */
		cmd->response = VIRTIO_SCSI_S_TRANSPORT_FAILURE;
		set_bit(TVH_CMD_ANSWER_QUEUED, &cmd->flags);
		set_bit(TVH_CMD_RELEASED, &cmd->flags);
		tvh_io_push_done(cmd);
		return;
	}
	se_cmd->tag = req->id;
	if (target_submit_prep(se_cmd, cmd->cdb,
			       cmd->bounce_sgl ? : cmd->data.sgl,
			       cmd->bounce_sgl ? cmd->bounce_nents :
						 cmd->data.nents,
			       NULL, 0, cmd->prot_bounce_sgl,
			       cmd->prot_bounce_nents,
			       GFP_KERNEL))
		return;	/* answered with CHECK CONDITION by the core */
	trace_tvh_cmd_submitted(tvh_vq_index(&cmd->tvq->vq), cmd->head,
				flags & TARGET_SCF_USE_CPUID ? se_cmd->cpuid : -1);
	tvh_target_submit(se_cmd, direct);
}

/*
 * Check the PI byte counts against the direction of the data.  PI precedes
 * the data it protects, in the same direction, in whole 8-byte tuples.
 */
static bool tvh_io_pi_valid(struct tvh_req *req, size_t out_len,
			    size_t in_len)
{
	if ((req->pi_out | req->pi_in) % TVH_PI_TUPLE_SIZE)
		return false;
	if (req->pi_out && (req->pi_in || req->pi_out >= out_len || in_len))
		return false;
	if (req->pi_in && (req->pi_in >= in_len || out_len))
		return false;
	return true;
}

/* The session of the target @req addresses, or NULL: BAD_TARGET. */
static struct se_session *tvh_io_session(struct tvh_tpg **targets,
					 struct tvh_req *req)
{
	if (!tvh_decode_lun(req->lun, &req->target, &req->unpacked_lun) ||
	    !targets[req->target])
		return NULL;
	return READ_ONCE(targets[req->target]->sess);
}

/*
 * Check @req against the @out_len and @in_len bytes that follow its header
 * and response: CDB size, PI, a single direction, the size bound.  Sets its
 * data length and direction.  False: INVALID FIELD IN CDB.
 */
static bool tvh_io_check(struct vhost_virtqueue *vq, int head,
			 struct tvh_req *req, size_t out_len, size_t in_len)
{
	size_t data_len;

	if (scsi_command_size(req->cdb) > VIRTIO_SCSI_CDB_SIZE) {
		tvh_guest_err(vq, "request %d: CDB of %u bytes, at most %u fit\n",
			      head, scsi_command_size(req->cdb),
			      VIRTIO_SCSI_CDB_SIZE);
		return false;
	}
	if (!tvh_io_pi_valid(req, out_len, in_len)) {
		tvh_guest_err(vq, "request %d: PI bytes out %u in %u do not fit the data\n",
			      head, req->pi_out, req->pi_in);
		return false;
	}
	out_len -= req->pi_out;
	in_len -= req->pi_in;
	if (out_len && in_len) {
		tvh_guest_err(vq, "request %d: bidirectional commands are not supported\n",
			      head);
		return false;
	}
	data_len = out_len ? out_len : in_len;
	if (data_len + req->pi_out + req->pi_in > TVH_MAX_IO_BYTES) {
		tvh_guest_err(vq, "request %d: %zu data bytes, at most %u\n",
			      head, data_len, TVH_MAX_IO_BYTES);
		return false;
	}
	req->data_len = data_len;
	req->dir = out_len ? DMA_TO_DEVICE :
		   in_len ? DMA_FROM_DEVICE : DMA_NONE;
	return true;
}

/*
 * A free command of @tvq for the request at @head, filled in from @req, or
 * NULL when all are in flight.  Not LIVE yet: group TMFs do not see it.
 */
static struct tvh_cmd *tvh_io_get_cmd(struct tvh_vq *tvq, int head,
				      const struct tvh_req *req)
{
	struct tvh_cmd *cmd;
	int tag, inflight;

	tag = sbitmap_get(&tvq->tags);
	if (tag < 0)
		return NULL;
	inflight = atomic_inc_return(&tvq->inflight);
	tvh_stat_max(&tvq->vq, TVH_STAT_INFLIGHT_MAX, inflight);
	cmd = &tvq->cmds[tag];
	memset(&cmd->se_cmd, 0, sizeof(cmd->se_cmd));
	cmd->flags = 0;
	cmd->head = head;
	WRITE_ONCE(cmd->target, req->target);
	WRITE_ONCE(cmd->lun, req->unpacked_lun);
	WRITE_ONCE(cmd->id, req->id);
	cmd->data_len = req->data_len;
	cmd->prot_len = req->dir == DMA_TO_DEVICE ? req->pi_out : req->pi_in;
	memcpy(cmd->cdb, req->cdb, sizeof(cmd->cdb));
	if (req->dir == DMA_FROM_DEVICE)
		__set_bit(TVH_CMD_DATA_IN, &cmd->flags);
	cmd->taken_ns = trace_tvh_cmd_done_enabled() ? ktime_get_ns() : 0;
	return cmd;
}

/* Give back a command that was never submitted nor wrote guest memory. */
static void tvh_io_put_unsubmitted(struct tvh_cmd *cmd)
{
	__set_bit(TVH_CMD_ANSWER_QUEUED, &cmd->flags);
	__clear_bit(TVH_CMD_DATA_IN, &cmd->flags);
	tvh_io_recycle(cmd);
}

/*
 * What @cmd needs of guest memory: where its response goes, a copy of the
 * dirty log entries, its PI and data pinned (@out or @in, after the
 * header), then aligned copies where those are needed.  -EBUSY when the
 * device holds its share of copies already.
 */
static int tvh_io_map(struct tvh_cmd *cmd, struct vhost_virtqueue *vq,
		      unsigned int out_num, unsigned int in_num,
		      struct iov_iter *out, struct iov_iter *in, int dir)
{
	struct iov_iter *data = dir == DMA_TO_DEVICE ? out : in;
	struct tvh_vq *tvq = cmd->tvq;
	int ret;

	ret = tvh_io_save_resp(cmd, &vq->iov[out_num], in_num);
	if (ret)
		return ret;
	if (tvq->log_num) {
		cmd->log = kmemdup(vq->log, tvq->log_num * sizeof(*vq->log),
				   GFP_KERNEL_ACCOUNT);
		if (!cmd->log)
			return -ENOMEM;
		WRITE_ONCE(cmd->log_num, tvq->log_num);
	}
	if (dir != DMA_NONE) {
		ret = tvh_sgbuf_map(&cmd->prot, data, cmd->prot_len);
		if (!ret)
			ret = tvh_sgbuf_map(&cmd->data, data, cmd->data_len);
		if (ret)
			return ret;
	}
	ret = tvh_io_bounce(cmd, dir);
	if (!ret)
		ret = tvh_io_bounce_prot(cmd, dir);
	return ret;
}

/* One request chain as taken off a request queue. */
struct tvh_io_desc {
	int head;
	unsigned int out_num, in_num;
	struct iov_iter out;		/* after the request header */
	struct iov_iter in;		/* after the response header */
	struct iov_iter resp;		/* the response header */
};

/*
 * Take a command for a checked request and hand it to target_core; the
 * failures on the way are answered here.
 */
static int tvh_io_start(struct vhost_virtqueue *vq, struct se_session *sess,
			struct tvh_req *req, struct tvh_io_desc *d)
{
	struct tvh_vq *tvq = tvh_vq(vq);
	struct tvh_cmd *cmd;
	int ret;

	if (unlikely(!tvq->cmds) && tvh_io_pool_create(tvq)) {
		tvh_guest_err(vq, "request %d: no memory for the command pool\n",
			      d->head);
		goto answer_failure;
	}
	cmd = tvh_io_get_cmd(tvq, d->head, req);
	if (!cmd) {
		trace_tvh_queue_full(tvh_vq_index(vq), d->head,
				     atomic_read(&tvq->inflight));
		tvh_send_cmd_resp(vq, &d->resp, d->head, VIRTIO_SCSI_S_OK,
				  SAM_STAT_TASK_SET_FULL, NULL, 0);
		return TVH_ANSWERED;
	}
	trace_tvh_cmd_taken(tvh_vq_index(vq), d->head, req->id, req->target,
			    req->unpacked_lun, req->cdb[0], req->data_len,
			    req->dir == DMA_TO_DEVICE ? 'w' :
			    req->dir == DMA_FROM_DEVICE ? 'r' : '-');
	ret = tvh_io_map(cmd, vq, d->out_num, d->in_num, &d->out, &d->in,
			 req->dir);
	if (ret == -EBUSY)
		goto put_cmd_busy;
	if (ret) {
		tvh_guest_err(vq, "request %d: cannot map the guest buffers: %d\n",
			      d->head, ret);
		goto put_cmd;
	}

	/* Pairs with the test_bit() and smp_rmb() in tvh_tmf_scan_cmd(). */
	smp_mb__before_atomic();
	set_bit(TVH_CMD_LIVE, &cmd->flags);
	tvh_io_submit(cmd, sess, req);
	return TVH_SUBMITTED;

put_cmd_busy:
	/* The device holds TVH_MAX_BOUNCE_PAGES already: let the guest retry. */
	tvh_io_put_unsubmitted(cmd);
	tvh_send_cmd_resp(vq, &d->resp, d->head, VIRTIO_SCSI_S_OK,
			  SAM_STAT_BUSY, NULL, 0);
	return TVH_ANSWERED;
put_cmd:
	tvh_io_put_unsubmitted(cmd);
answer_failure:
	tvh_send_cmd_resp(vq, &d->resp, d->head, VIRTIO_SCSI_S_FAILURE, 0,
			  NULL, 0);
	return TVH_ANSWERED;
}

/* Take one request off the ring and answer or submit it. */
static int tvh_io_handle_one(struct vhost_virtqueue *vq,
			     struct tvh_tpg **targets)
{
	struct se_session *sess;
	struct tvh_io_desc d;
	struct tvh_req req;

	d.head = tvh_get_desc(vq, &d.out_num, &d.in_num);
	if (d.head < 0)
		return d.head;	/* the vhost core has logged it */
	if (d.head == vq->num)
		return TVH_EMPTY;

	tvh_desc_iters(vq, d.out_num, d.in_num, &d.out, &d.in);
	if (iov_iter_count(&d.in) < sizeof(struct virtio_scsi_cmd_resp)) {
		tvh_guest_err(vq, "request %d: %zu bytes for a %zu byte response, dropped\n",
			      d.head, iov_iter_count(&d.in),
			      sizeof(struct virtio_scsi_cmd_resp));
		vhost_add_used(vq, d.head, 0);
		return TVH_ANSWERED;
	}
	d.resp = d.in;
	iov_iter_advance(&d.in, sizeof(struct virtio_scsi_cmd_resp));

	if (!tvh_io_read_header(vq, &d.out, &req)) {
		tvh_guest_err(vq, "request %d: short or unreadable header\n",
			      d.head);
		tvh_send_cmd_resp(vq, &d.resp, d.head, VIRTIO_SCSI_S_FAILURE,
				  0, NULL, 0);
		return TVH_ANSWERED;
	}
	sess = tvh_io_session(targets, &req);
	if (unlikely(!sess)) {
		tvh_send_cmd_resp(vq, &d.resp, d.head, VIRTIO_SCSI_S_BAD_TARGET,
				  0, NULL, 0);
		return TVH_ANSWERED;
	}
	if (!tvh_io_check(vq, d.head, &req, iov_iter_count(&d.out),
			  iov_iter_count(&d.in))) {
		tvh_send_check_condition(vq, &d.resp, d.head,
					 TVH_ASC_INVALID_FIELD_IN_CDB);
		return TVH_ANSWERED;
	}
	return tvh_io_start(vq, sess, &req, &d);
}

/**
 * tvh_serve_queue - take requests off a queue until it is empty or has had
 * its share
 * @vq: the queue; its poll work is what runs this
 * @handle_one: takes one chain; returns enum tvh_pass or a negative errno
 *
 * After TVH_WEIGHT requests the pass is requeued so that other queues and
 * devices get the CPU, however busy the guest keeps this ring.  The guest is
 * signalled once per pass for everything answered in it.
 */
void tvh_serve_queue(struct vhost_virtqueue *vq,
		     int (*handle_one)(struct vhost_virtqueue *vq,
				       struct tvh_tpg **targets))
{
	struct vhost_dev *dev = vq->dev;
	struct tvh_tpg **targets;
	bool answered = false;
	int handled = 0;
	int ret;

	mutex_lock(&vq->mutex);
	targets = vhost_vq_get_backend(vq);
	if (!targets)
		goto out;

	vhost_disable_notify(dev, vq);
	do {
		ret = handle_one(vq, targets);
		if (ret == TVH_EMPTY) {
			/* Recheck after enabling: the guest may have raced. */
			if (unlikely(vhost_enable_notify(dev, vq))) {
				vhost_disable_notify(dev, vq);
				continue;
			}
			break;
		}
		if (ret < 0)
			break;
		tvh_stat_add(vq, TVH_STAT_REQUESTS, 1);
		if (ret == TVH_ANSWERED)
			answered = true;
	} while (!vhost_exceeds_weight(vq, ++handled, 0));

	if (answered)
		vhost_signal(dev, vq);
out:
	mutex_unlock(&vq->mutex);
}

/* A request queue was kicked: the vhost worker runs this. */
void tvh_io_handle_kick(struct vhost_work *work)
{
	struct vhost_virtqueue *vq = container_of(work, struct vhost_virtqueue,
						  poll.work);

	if (!tvh_io_thread_wake(tvh_vq(vq), TVH_VQ_KICK))
		tvh_serve_queue(vq, tvh_io_handle_one);
}

/*
 * The guest's kick eventfd fired (any context, the eventfd's wait queue lock
 * held).  A queue with a thread wakes it here, saving the vhost worker's
 * wake-up that would only pass the kick on; otherwise this does what the
 * vhost core's own poll callback does.
 */
static int tvh_io_kick_wakeup(wait_queue_entry_t *wait, unsigned int mode,
			      int sync, void *key)
{
	struct vhost_poll *poll = container_of(wait, struct vhost_poll, wait);
	struct tvh_vq *tvq = container_of(poll, struct tvh_vq, vq.poll);

	if (!(key_to_poll(key) & poll->mask))
		return 0;
	if (!tvh_io_thread_wake(tvq, TVH_VQ_KICK))
		vhost_poll_queue(poll);
	return 0;
}

/* At open, after vhost_dev_init(): request queue kicks go through us. */
void tvh_io_init_kick(struct tvh_vq *tvq)
{
	tvh_vq_poll_set_wakeup(&tvq->vq.poll, tvh_io_kick_wakeup);
}

/*
 * A request queue thread: answers finished commands, then takes new
 * requests, on each of its queues in turn, then sleeps until woken for
 * either.  Each pass over a queue is bounded (tvh_serve_queue), so one busy
 * ring does not starve the thread's other queues.
 */
static int tvh_io_thread(void *data)
{
	struct tvh_io_thread *thread = data;
	struct mm_struct *mm = thread->vdev->dev.mm;
	unsigned int i;

	thread->start_ret = cgroup_attach_task_all(thread->owner, current);
	complete(&thread->started);
	kthread_use_mm(mm);

	for (;;) {
		bool busy = false;

		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop()) {
			__set_current_state(TASK_RUNNING);
			break;
		}
		for (i = 0; i < thread->nqueues && !busy; i++)
			busy = READ_ONCE(thread->queues[i]->pending);
		if (!busy) {
			schedule();
			continue;
		}
		__set_current_state(TASK_RUNNING);
		for (i = 0; i < thread->nqueues; i++) {
			struct tvh_vq *tvq = thread->queues[i];

			if (test_and_clear_bit(TVH_VQ_DONE, &tvq->pending))
				tvh_io_flush_answers(tvq);
			if (test_and_clear_bit(TVH_VQ_KICK, &tvq->pending))
				tvh_serve_queue(&tvq->vq, tvh_io_handle_one);
		}
		cond_resched();
	}

	kthread_unuse_mm(mm);
	return 0;
}

/* Start @thread, whose queues are assigned; it joins the caller's cgroups. */
static int tvh_io_thread_run(struct tvh_io_thread *thread, unsigned int idx)
{
	struct task_struct *task;

	thread->owner = current;
	init_completion(&thread->started);
	task = kthread_create(tvh_io_thread, thread, "vhost-%d-io%u",
			      task_pid_nr(current), idx);
	if (IS_ERR(task))
		return PTR_ERR(task);
	get_task_struct(task);
	wake_up_process(task);
	wait_for_completion(&thread->started);
	thread->owner = NULL;
	if (thread->start_ret) {
		kthread_stop(task);
		put_task_struct(task);
		return thread->start_ret;
	}
	thread->task = task;
	return 0;
}

/* Stop (if started) and free the threads of @threads. */
static void tvh_io_threads_free(struct tvh_io_thread **threads,
				unsigned int nthreads)
{
	unsigned int t;

	for (t = 0; t < nthreads; t++) {
		if (threads[t] && threads[t]->task) {
			kthread_stop(threads[t]->task);
			put_task_struct(threads[t]->task);
		}
		kfree(threads[t]);
	}
	kfree(threads);
}

/**
 * tvh_io_threads_start - give the request queues their threads
 * @vdev: the device, in the owner's SET_ENDPOINT ioctl under dev.mutex;
 *	pools created, backends not yet set
 *
 * One thread per set-up request queue, but no more than there are online
 * CPUs: with more queues, queue k is served by thread k modulo that (more
 * threads than CPUs would only add switching).  Each thread's queues are
 * assigned before it starts and never change.
 */
int tvh_io_threads_start(struct tvh_dev *vdev)
{
	unsigned int nqueues = 0, nthreads, k = 0, t;
	struct tvh_io_thread **threads;
	int i, ret;

	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++)
		if (vhost_vq_is_setup(&vdev->vqs[i].vq))
			nqueues++;
	if (!nqueues)
		return 0;
	nthreads = min(nqueues, num_online_cpus());
	threads = kcalloc(nthreads, sizeof(*threads), GFP_KERNEL);
	if (!threads)
		return -ENOMEM;
	for (t = 0; t < nthreads; t++) {
		threads[t] = kzalloc(struct_size(threads[t], queues,
						 DIV_ROUND_UP(nqueues - t, nthreads)),
				     GFP_KERNEL);
		if (!threads[t]) {
			ret = -ENOMEM;
			goto out_free;
		}
		threads[t]->vdev = vdev;
	}
	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++) {
		struct tvh_io_thread *thread = threads[k % nthreads];

		if (!vhost_vq_is_setup(&vdev->vqs[i].vq))
			continue;
		thread->queues[thread->nqueues++] = &vdev->vqs[i];
		k++;
	}
	for (t = 0; t < nthreads; t++) {
		ret = tvh_io_thread_run(threads[t], t);
		if (ret)
			goto out_free;
	}
	for (t = 0; t < nthreads; t++) {
		for (k = 0; k < threads[t]->nqueues; k++) {
			threads[t]->queues[k]->pending = 0;
			rcu_assign_pointer(threads[t]->queues[k]->thread,
					   threads[t]);
		}
	}
	vdev->threads = threads;
	vdev->nthreads = nthreads;
	vdev->spare_cpus = nthreads < num_online_cpus();
	return 0;

out_free:
	tvh_io_threads_free(threads, nthreads);
	return ret;
}

/**
 * tvh_io_threads_stop - stop the request queue threads
 * @vdev: the device, under dev.mutex, every request queue idle
 *
 * Kick wake-ups and completions that looked a thread up just before it was
 * unpublished finish under RCU; kicks passed on to the vhost worker finish
 * with its flush.  Only then do the threads go.
 */
void tvh_io_threads_stop(struct tvh_dev *vdev)
{
	int i;

	if (!vdev->threads)
		return;
	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++)
		RCU_INIT_POINTER(vdev->vqs[i].thread, NULL);
	synchronize_rcu();
	vhost_dev_flush(&vdev->dev);
	tvh_io_threads_free(vdev->threads, vdev->nthreads);
	vdev->threads = NULL;
	vdev->nthreads = 0;
}

/*
 * A command taken from @tvq before dirty logging was switched on is in
 * flight: it has no log, so what it writes into guest memory would escape
 * the migration.  A command taken while logging always has a log, if only
 * for its response descriptor.  Tags are taken and logs attached under the
 * queue's mutex, which is why this looks under it.
 */
static bool tvh_io_unlogged_inflight(struct tvh_vq *tvq)
{
	bool found = false;
	unsigned int i;

	mutex_lock(&tvq->vq.mutex);
	for (i = 0; i < tvq->ncmds && !found; i++)
		found = sbitmap_test_bit(&tvq->tags, i) &&
			!READ_ONCE(tvq->cmds[i].log_num);
	mutex_unlock(&tvq->vq.mutex);
	return found;
}

/* Does anything taken from queue @i before logging still owe an answer? */
static bool tvh_vq_unlogged_inflight(struct tvh_dev *vdev, int i)
{
	if (i == VHOST_SCSI_VQ_CTL)
		return atomic_read(&vdev->tmf_unlogged);
	if (i == VHOST_SCSI_VQ_EVT)
		return false;	/* events are written where they are taken */
	return tvh_io_unlogged_inflight(&vdev->vqs[i]);
}

/**
 * tvh_io_wait_unlogged - wait out the commands taken before dirty logging
 * @vdev: the device, dev.mutex held, VHOST_F_LOG_ALL acked on every queue
 *
 * Live migration switches logging on under I/O.  Once this returns, every
 * command still in flight logs what it writes, so no page the guest gets
 * data in is missed by the VMM's first pass over the dirty log.  Commands
 * are not cancelled: this waits as long as the backstore takes, as endpoint
 * teardown does (a QEMU that cannot start logging aborts).
 *
 * Returns 0, or -EINTR if the caller got a fatal signal while waiting.
 */
int tvh_io_wait_unlogged(struct tvh_dev *vdev)
{
	unsigned long report = jiffies + TVH_DRAIN_REPORT;
	int i;

	lockdep_assert_held(&vdev->dev.mutex);
	for (i = VHOST_SCSI_VQ_CTL; i < vdev->nvqs; i++) {
		while (tvh_vq_unlogged_inflight(vdev, i)) {
			if (fatal_signal_pending(current))
				return -EINTR;
			if (time_after(jiffies, report)) {
				pr_warn("%s: dirty logging waits for commands taken before it\n",
					vdev->wwpn);
				report = jiffies + TVH_DRAIN_REPORT;
			}
			usleep_range(500, 1000);
		}
	}
	return 0;
}

/* Pool size for a ring: every slot plus room for late releases. */
static unsigned int tvh_pool_size(unsigned int num)
{
	return min_t(unsigned int, num + num / 8 + 1, 4096);
}

/**
 * tvh_io_pool_create - preallocate the commands of a request queue
 * @tvq: a request queue whose ring is set up
 *
 * Each command owns inline_sg scatterlist entries and page pointers, carved
 * from two arrays shared by the pool, so that ordinary I/O never allocates.
 * Runs at SET_ENDPOINT (backend unset), or in the queue's worker with its
 * mutex held on the first request of a ring set up after the endpoint.  A
 * group TMF may scan the queue meanwhile: the pool is published last.
 */
int tvh_io_pool_create(struct tvh_vq *tvq)
{
	unsigned int n = tvh_pool_size(tvq->vq.num);
	/* One value for the whole pool: the parameter is writable (0644). */
	unsigned int inline_sg = READ_ONCE(tvh_inline_sg);
	struct scatterlist *sgl;
	struct tvh_cmd *cmds;
	struct page **pages;
	unsigned int i;
	int ret = -ENOMEM;

	cmds = kvcalloc(n, sizeof(*cmds), GFP_KERNEL_ACCOUNT);
	if (!cmds)
		goto out;
	sgl = kvcalloc(n, inline_sg * sizeof(*sgl), GFP_KERNEL_ACCOUNT);
	if (!sgl)
		goto out_free_cmds;
	pages = kvcalloc(n, inline_sg * sizeof(*pages), GFP_KERNEL_ACCOUNT);
	if (!pages)
		goto out_free_sgl;
	ret = sbitmap_init_node(&tvq->tags, n, -1, GFP_KERNEL, NUMA_NO_NODE,
				false, true);
	if (ret)
		goto out_free_pages;

	for (i = 0; i < n; i++) {
		struct tvh_cmd *cmd = &cmds[i];

		cmd->tvq = tvq;
		cmd->tag = i;
		cmd->resp_iov = cmd->resp_iov_inline;
		cmd->data.own_sgl = sgl + i * inline_sg;
		cmd->data.own_pages = pages + i * inline_sg;
		cmd->data.own_cap = inline_sg;
		cmd->data.sgl = cmd->data.own_sgl;
		cmd->data.pages = cmd->data.own_pages;
		cmd->data.cap = inline_sg;
		/* PI is rare: its arrays are allocated per command. */
	}
	tvq->ncmds = n;
	atomic_set(&tvq->inflight, 0);
	atomic_set(&tvq->offloaded, 0);
	/* Pairs with smp_load_acquire() in tvh_tmf_scan_all(). */
	smp_store_release(&tvq->cmds, cmds);
	return 0;

out_free_pages:
	kvfree(pages);
out_free_sgl:
	kvfree(sgl);
out_free_cmds:
	kvfree(cmds);
out:
	return ret;
}

/* Free a pool; every command must be back (inflight == 0). */
void tvh_io_pool_destroy(struct tvh_vq *tvq)
{
	if (!tvq->cmds)
		return;
	WARN_ON(atomic_read(&tvq->inflight));
	sbitmap_free(&tvq->tags);
	kvfree(tvq->cmds[0].data.own_pages);
	kvfree(tvq->cmds[0].data.own_sgl);
	kvfree(tvq->cmds);
	tvq->cmds = NULL;
	tvq->ncmds = 0;
}
