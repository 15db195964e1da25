// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory for target_core: a request's data and protection bytes are
 * pinned where they are and described by a scatterlist (nothing copied),
 * except where a backstore or target_core cannot take the guest's layout
 * as it is (tvh_map_needs_bounce()): then an aligned bounce buffer stands
 * in for them, copied in before a data-out and out after a data-in.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk_types.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <scsi/scsi_proto.h>
#include <target/target_core_fabric.h>

#include "tcm_vhost.h"

/* Unpin the pages of @buf; @dirty when the backend wrote into them. */
void tvh_map_put(struct tvh_sgbuf *buf, bool dirty)
{
	unsigned int i;

	for (i = 0; i < buf->nents; i++) {
		struct page *page = sg_page(&buf->sgl[i]);

		/* A page still dirty needs no lock to stay so (as bio does). */
		if (dirty && !PageDirty(page))
			set_page_dirty_lock(page);
		put_page(page);
	}
	if (buf->sgl != buf->own_sgl) {
		kvfree(buf->sgl);
		buf->sgl = buf->own_sgl;
		buf->cap = buf->own_cap;
	}
	buf->nents = 0;
	buf->misaligned = false;
}

/*
 * Make room for @npages entries.  Commands up to the preallocated size
 * (module parameter inline_sg) never allocate.
 */
static int tvh_map_reserve(struct tvh_sgbuf *buf, unsigned int npages)
{
	struct scatterlist *sgl;

	if (npages <= buf->cap)
		return 0;
	sgl = kvmalloc_array(npages, sizeof(*sgl), GFP_KERNEL_ACCOUNT);
	if (!sgl)
		return -ENOMEM;
	buf->sgl = sgl;
	buf->cap = npages;
	return 0;
}

/* Pages pinned per iov_iter_get_pages2() call, on the stack */
#define TVH_PIN_BATCH	32

/**
 * tvh_map_pin - pin the next @len bytes of @iter into @buf
 * @buf: empty scatterlist buffer
 * @iter: guest buffers, advanced by @len on success
 * @len: bytes to map, at most what @iter holds
 *
 * Pages are taken with their offsets as they are: misaligned guest buffers
 * are described exactly, not bounced.  The scatterlist is the only record
 * of the pinned pages (tvh_map_put() finds them there).
 */
int tvh_map_pin(struct tvh_sgbuf *buf, struct iov_iter *iter,
		size_t len)
{
	struct page *batch[TVH_PIN_BATCH];
	struct iov_iter it = *iter;
	unsigned int npages;
	int ret;

	if (!len)
		return 0;
	iov_iter_truncate(&it, len);
	npages = iov_iter_npages(&it, INT_MAX);
	ret = tvh_map_reserve(buf, npages);
	if (ret)
		return ret;
	sg_init_table(buf->sgl, npages);

	while (iov_iter_count(&it)) {
		struct page **pages = batch;
		size_t offset;
		ssize_t bytes;

		if (buf->nents >= npages)
			return -EINVAL;
		bytes = iov_iter_get_pages2(&it, batch, iov_iter_count(&it),
					    min_t(unsigned int, TVH_PIN_BATCH,
						  npages - buf->nents),
					    &offset);
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

/*
 * Copy the first @len bytes of @src into @dst (less if either is shorter),
 * walking both lists once: a 4 MiB copy between a bounce buffer and a
 * guest's odd segments is a thousand entries on each side.
 */
void tvh_map_copy(struct scatterlist *dst, unsigned int dst_nents,
		  struct scatterlist *src, unsigned int src_nents,
		  size_t len)
{
	struct sg_mapping_iter from, to;
	size_t from_off = 0, to_off = 0, n;

	sg_miter_start(&from, src, src_nents, SG_MITER_FROM_SG);
	sg_miter_start(&to, dst, dst_nents, SG_MITER_TO_SG);
	while (len) {
		if (from_off == from.length) {
			if (!sg_miter_next(&from))
				break;
			from_off = 0;
		}
		if (to_off == to.length) {
			if (!sg_miter_next(&to))
				break;
			to_off = 0;
		}
		n = min3(len, from.length - from_off, to.length - to_off);
		memcpy(to.addr + to_off, from.addr + from_off, n);
		from_off += n;
		to_off += n;
		len -= n;
	}
	sg_miter_stop(&to);
	sg_miter_stop(&from);
}

/*
 * A bounce copy of @len bytes in whole pages, charged to the owner's memory
 * cgroup (the caller runs in its cgroups) and counted against the device's
 * TVH_MAX_BOUNCE_PAGES: -EBUSY past that, so that one guest with a slow
 * backstore cannot make the host hold more.
 */
static int tvh_map_bounce_alloc(struct tvh_cmd *cmd, struct scatterlist **sgl,
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

/*
 * Free a bounce copy and forget it, count included: the command slot is
 * reused, and target_core takes a stale PI count with a NULL list for a
 * list to walk.
 */
void tvh_map_bounce_free(struct tvh_cmd *cmd, struct scatterlist **sgl,
			 unsigned int *nents)
{
	unsigned int i;

	if (!*sgl)
		return;
	for (i = 0; i < *nents; i++)
		__free_page(sg_page(&(*sgl)[i]));
	kvfree(*sgl);
	*sgl = NULL;
	atomic_sub(*nents, &cmd->tvq->vdev->bounce_pages);
	*nents = 0;
}

/*
 * Whether target_core only reads the data-out buffer of @cdb.  Its emulated
 * commands (INQUIRY, MODE SENSE, REPORT LUNS...) write their answer into the
 * data scatterlist whatever its direction, and it checks the direction of
 * none: a guest that sends one with a data-out buffer would have the host
 * write into pages that the virtio spec makes read-only for the device and
 * that are pinned for reading only (the shared zero page, a KSM page, a
 * file's page cache).  Bulk writes keep the guest's pages; any other
 * data-out goes through a copy, so that safety does not depend on this list.
 */
static bool tvh_map_out_is_only_read(const u8 *cdb)
{
	switch (cdb[0]) {
	case WRITE_6:
	case WRITE_10:
	case WRITE_12:
	case WRITE_16:
	case WRITE_VERIFY:
	case WRITE_VERIFY_16:
		return true;
	default:
		return false;
	}
}

/*
 * Whether target_core hands the data-in of @cdb to the backstore as the
 * scatterlist it is.  It answers its emulated commands (INQUIRY, MODE
 * SENSE, REPORT LUNS...) through one mapping of the whole list, which
 * takes every entry after the first for a whole page: a guest's answer
 * buffer in sector-sized pieces of separate pages would get the answer at
 * the wrong offsets, partly outside the buffers it gave.
 */
static bool tvh_map_in_is_moved_as_is(const u8 *cdb)
{
	switch (cdb[0]) {
	case READ_6:
	case READ_10:
	case READ_12:
	case READ_16:
		return true;
	default:
		return false;
	}
}

/*
 * Guest buffers that are not in whole sectors (Windows guests do this) are
 * fine for ramdisk and file backstores but not for every block device;
 * target_core may write into the data-out of any command but a WRITE, and
 * maps the data-in of any command but a READ as if it were whole pages.
 * Such data goes through an aligned copy: allocated for this command only.
 */
static bool tvh_map_needs_bounce(const struct tvh_cmd *cmd, int dir)
{
	if (cmd->data.misaligned)
		return true;
	if (dir == DMA_TO_DEVICE)
		return !tvh_map_out_is_only_read(cmd->cdb);
	if (dir == DMA_FROM_DEVICE)
		return cmd->data.nents > 1 &&
		       !tvh_map_in_is_moved_as_is(cmd->cdb);
	return false;
}

int tvh_map_bounce(struct tvh_cmd *cmd, int dir)
{
	int ret;

	if (!tvh_map_needs_bounce(cmd, dir))
		return 0;
	/*
	 * What the backstore does not write of a data-in copy goes back to
	 * the guest too (a short REQUEST SENSE, say): it must not be stale
	 * host memory, whatever init_on_alloc says.
	 */
	ret = tvh_map_bounce_alloc(cmd, &cmd->bounce_sgl, &cmd->bounce_nents,
				   cmd->data_len, dir == DMA_FROM_DEVICE);
	if (ret)
		return ret;
	if (dir == DMA_TO_DEVICE)
		tvh_map_copy(cmd->bounce_sgl, cmd->bounce_nents, cmd->data.sgl,
			     cmd->data.nents, cmd->data_len);
	return 0;
}

/*
 * PI always goes through a copy of ours, in whole pages.  target_core's DIF
 * code writes 8-byte tuples per scatterlist entry, which would run past an
 * entry the guest shaped (4 bytes at page offset 4092, say), and it inserts
 * PI for WRITEs sent without any (PROTECT=0) into the PI buffer, which for
 * a WRITE are guest pages pinned for reading only.  The copy holds as much
 * PI as the data can need (a tuple per 512-byte block), whatever the guest
 * offered; tvh_map_trim_prot() cuts it to what the command moves once
 * target_core knows.
 */
int tvh_map_bounce_prot(struct tvh_cmd *cmd, int dir)
{
	u32 len;
	int ret;

	if (!cmd->prot_len)
		return 0;
	len = max(cmd->prot_len, DIV_ROUND_UP(cmd->data_len, SECTOR_SIZE) *
				 TVH_PI_TUPLE_SIZE);
	ret = tvh_map_bounce_alloc(cmd, &cmd->prot_bounce_sgl,
				   &cmd->prot_bounce_nents, len, true);
	if (ret)
		return ret;
	if (dir == DMA_TO_DEVICE)
		tvh_map_copy(cmd->prot_bounce_sgl, cmd->prot_bounce_nents,
			     cmd->prot.sgl, cmd->prot.nents, cmd->prot_len);
	return 0;
}

/*
 * After target_submit_prep(): target_core has computed the PI bytes the
 * command moves (prot_length: a tuple per block of the LUN, from the CDB).
 * fileio and iblock move the whole PI list they are handed, so a copy
 * longer than that (a LUN of 4096-byte blocks, or a guest that sent more)
 * would write other blocks' PI and fail.  Cut the list to prot_length; its
 * pages stay ours until tvh_map_bounce_free(), and the bytes past the cut
 * stay zero for the copy back.
 */
void tvh_map_trim_prot(struct tvh_cmd *cmd)
{
	struct se_cmd *se_cmd = &cmd->se_cmd;
	u32 left = se_cmd->prot_length;
	struct scatterlist *sg;
	unsigned int i;

	if (!cmd->prot_bounce_sgl || !left)
		return;
	for_each_sg(cmd->prot_bounce_sgl, sg, cmd->prot_bounce_nents, i) {
		if (sg->length >= left) {
			sg->length = left;
			se_cmd->t_prot_nents = i + 1;
			return;
		}
		left -= sg->length;
	}
}
