/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tcm_vhost trace system: /sys/kernel/tracing/events/tcm_vhost/.
 *
 * A request's life on a request queue is tvh_cmd_taken, tvh_cmd_submitted
 * and tvh_cmd_done, all naming it by queue (vq) and chain (its descriptor
 * head); a request the module answers itself shows tvh_queue_full or
 * tvh_guest_error instead.  Control requests are tvh_tmf_start and
 * tvh_tmf_done, hotplug events tvh_evt_post.  Disabled events cost one
 * static branch each.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM tcm_vhost

#if !defined(_TCM_VHOST_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TCM_VHOST_TRACE_H

#include <linux/tracepoint.h>
#include <linux/dma-direction.h>

/* so that trace-cmd, perf and bpftrace can read the direction's names */
TRACE_DEFINE_ENUM(DMA_BIDIRECTIONAL);
TRACE_DEFINE_ENUM(DMA_TO_DEVICE);
TRACE_DEFINE_ENUM(DMA_FROM_DEVICE);
TRACE_DEFINE_ENUM(DMA_NONE);

/* dir: the data's direction, write (to the LUN), read (to the guest) or none */
TRACE_EVENT(tvh_cmd_taken,
	    TP_PROTO(unsigned int vq, unsigned int chain, u64 id, u8 target,
		     u64 lun, u8 opcode, u32 len, enum dma_data_direction dir),
	    TP_ARGS(vq, chain, id, target, lun, opcode, len, dir),
	    TP_STRUCT__entry(__field(unsigned int, vq)
			     __field(unsigned int, chain)
			     __field(u64, id)
			     __field(u8, target)
			     __field(u64, lun)
			     __field(u8, opcode)
			     __field(u32, len)
			     __field(u8, dir)),
	    TP_fast_assign(__entry->vq = vq;
			   __entry->chain = chain;
			   __entry->id = id;
			   __entry->target = target;
			   __entry->lun = lun;
			   __entry->opcode = opcode;
			   __entry->len = len;
			   __entry->dir = dir;),
	    TP_printk("vq=%u chain=%u tag=0x%llx target=%u lun=%llu opcode=0x%02x len=%u dir=%s",
		      __entry->vq, __entry->chain, __entry->id, __entry->target,
		      __entry->lun, __entry->opcode, __entry->len,
		      __print_symbolic(__entry->dir,
				       { DMA_TO_DEVICE, "write" },
				       { DMA_FROM_DEVICE, "read" },
				       { DMA_NONE, "none" },
				       { DMA_BIDIRECTIONAL, "both" }))
);

/* cpu: where the queue thread's executor submits it (offload), -1 in place */
TRACE_EVENT(tvh_cmd_submitted,
	    TP_PROTO(unsigned int vq, unsigned int chain, int cpu),
	    TP_ARGS(vq, chain, cpu),
	    TP_STRUCT__entry(__field(unsigned int, vq)
			     __field(unsigned int, chain)
			     __field(int, cpu)),
	    TP_fast_assign(__entry->vq = vq;
			   __entry->chain = chain;
			   __entry->cpu = cpu;),
	    TP_printk("vq=%u chain=%u cpu=%d", __entry->vq, __entry->chain,
		      __entry->cpu)
);

/* latency_ns: from taken to answered; 0 if this event was off at the start */
TRACE_EVENT(tvh_cmd_done,
	    TP_PROTO(unsigned int vq, unsigned int chain, u8 response,
		     u8 status, u32 transferred, u64 latency_ns),
	    TP_ARGS(vq, chain, response, status, transferred, latency_ns),
	    TP_STRUCT__entry(__field(unsigned int, vq)
			     __field(unsigned int, chain)
			     __field(u8, response)
			     __field(u8, status)
			     __field(u32, transferred)
			     __field(u64, latency_ns)),
	    TP_fast_assign(__entry->vq = vq;
			   __entry->chain = chain;
			   __entry->response = response;
			   __entry->status = status;
			   __entry->transferred = transferred;
			   __entry->latency_ns = latency_ns;),
	    TP_printk("vq=%u chain=%u response=%u status=0x%02x transferred=%u latency_ns=%llu",
		      __entry->vq, __entry->chain, __entry->response,
		      __entry->status, __entry->transferred,
		      __entry->latency_ns)
);

TRACE_EVENT(tvh_queue_full,
	    TP_PROTO(unsigned int vq, unsigned int chain,
		     unsigned int inflight),
	    TP_ARGS(vq, chain, inflight),
	    TP_STRUCT__entry(__field(unsigned int, vq)
			     __field(unsigned int, chain)
			     __field(unsigned int, inflight)),
	    TP_fast_assign(__entry->vq = vq;
			   __entry->chain = chain;
			   __entry->inflight = inflight;),
	    TP_printk("vq=%u chain=%u inflight=%u", __entry->vq, __entry->chain,
		      __entry->inflight)
);

TRACE_EVENT(tvh_tmf_start,
	    TP_PROTO(unsigned int chain, u32 subtype, u8 target, u64 lun,
		     u64 id),
	    TP_ARGS(chain, subtype, target, lun, id),
	    TP_STRUCT__entry(__field(unsigned int, chain)
			     __field(u32, subtype)
			     __field(u8, target)
			     __field(u64, lun)
			     __field(u64, id)),
	    TP_fast_assign(__entry->chain = chain;
			   __entry->subtype = subtype;
			   __entry->target = target;
			   __entry->lun = lun;
			   __entry->id = id;),
	    TP_printk("chain=%u subtype=%u target=%u lun=%llu tag=0x%llx",
		      __entry->chain, __entry->subtype, __entry->target,
		      __entry->lun, __entry->id)
);

TRACE_EVENT(tvh_tmf_done,
	    TP_PROTO(unsigned int chain, u8 response),
	    TP_ARGS(chain, response),
	    TP_STRUCT__entry(__field(unsigned int, chain)
			     __field(u8, response)),
	    TP_fast_assign(__entry->chain = chain;
			   __entry->response = response;),
	    TP_printk("chain=%u response=%u", __entry->chain, __entry->response)
);

TRACE_EVENT(tvh_evt_post,
	    TP_PROTO(u32 event, u16 target, u64 lun, u32 reason),
	    TP_ARGS(event, target, lun, reason),
	    TP_STRUCT__entry(__field(u32, event)
			     __field(u16, target)
			     __field(u64, lun)
			     __field(u32, reason)),
	    TP_fast_assign(__entry->event = event;
			   __entry->target = target;
			   __entry->lun = lun;
			   __entry->reason = reason;),
	    TP_printk("event=0x%x target=%u lun=%llu reason=%u", __entry->event,
		      __entry->target, __entry->lun, __entry->reason)
);

/* the reason is in the ratelimited kernel log line */
TRACE_EVENT(tvh_guest_error,
	    TP_PROTO(unsigned int vq),
	    TP_ARGS(vq),
	    TP_STRUCT__entry(__field(unsigned int, vq)),
	    TP_fast_assign(__entry->vq = vq;),
	    TP_printk("vq=%u", __entry->vq)
);

#endif /* _TCM_VHOST_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE tcm_vhost_trace
#include <trace/define_trace.h>
