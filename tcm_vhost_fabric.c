// SPDX-License-Identifier: GPL-2.0
/*
 * The "vhost" fabric: target_core_fabric_ops and the
 * configfs tree below /sys/kernel/config/target/vhost.
 *
 *   vhost/<naa.|fc.|iqn.name>/          a WWN (struct tvh_tport)
 *     version                          read-only
 *     tpgt_<N>/                        a TPG, N < 256 (struct tvh_tpg)
 *       nexus                          initiator WWN, or NULL to drop it
 *       attrib/fabric_prot_type        0, 1 or 3
 *       lun/lun_<M>/ -> backstore      LUN links (hotplug events)
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/configfs.h>
#include <linux/ctype.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <generated/utsrelease.h>
#include <scsi/scsi_proto.h>
#include <target/target_core_base.h>
#include <target/target_core_fabric.h>

#include "tcm_vhost.h"

/*
 * Every TPG of every WWN, for SET_ENDPOINT to search.  The lock is held
 * only to walk or change the list, never across a wait for I/O.
 */
static DEFINE_MUTEX(tvh_tpg_list_lock);
static LIST_HEAD(tvh_tpg_list);

static struct tvh_tpg *to_tvh_tpg(struct se_portal_group *se_tpg)
{
	return container_of(se_tpg, struct tvh_tpg, se_tpg);
}

static char *tvh_tpg_get_wwn(struct se_portal_group *se_tpg)
{
	return to_tvh_tpg(se_tpg)->tport->name;
}

static u16 tvh_tpg_get_tag(struct se_portal_group *se_tpg)
{
	return to_tvh_tpg(se_tpg)->tag;
}

/* Demo mode: the nexus' initiator sees every LUN of the TPG. */
static int tvh_check_true(struct se_portal_group *se_tpg)
{
	return 1;
}

/* Asked while a nexus is made, under the TPG's lock (tvh_nexus_make()). */
static int tvh_check_prot_fabric_only(struct se_portal_group *se_tpg)
{
	return to_tvh_tpg(se_tpg)->prot_type;
}

static int tvh_check_stop_free(struct se_cmd *se_cmd)
{
	return target_put_sess_cmd(se_cmd);
}

static void tvh_release_cmd(struct se_cmd *se_cmd)
{
	if (se_cmd->se_cmd_flags & SCF_SCSI_TMR_CDB)
		tvh_tmf_release(se_cmd);
	else
		tvh_io_release(se_cmd);
}

/* Data-out is mapped before submission: nothing to fetch. */
static int tvh_write_pending(struct se_cmd *se_cmd)
{
	target_execute_cmd(se_cmd);
	return 0;
}

static void tvh_aborted_task(struct se_cmd *se_cmd)
{
	if (!(se_cmd->se_cmd_flags & SCF_SCSI_TMR_CDB))
		tvh_io_aborted(se_cmd);
}

/*
 * A LUN appeared in or left a TPG.  A guest using the TPG is told with a
 * TRANSPORT_RESET event so that it rescans or removes the disk.  The event
 * names the guest's own number of the LUN, which an explicit ACL may
 * renumber; a LUN the nexus does not map is not the guest's, and an event
 * for its TPG number would name another disk.  target_core maps a new LUN
 * into demo-mode ACLs before post_link and unmaps it after pre_unlink.
 */
static void tvh_port_event(struct tvh_tpg *tpg, struct se_lun *lun,
			   u32 reason)
{
	u64 mapped;

	lockdep_assert_held(&tpg->lock);
	if (tpg->vdev && tvh_nexus_lun(tpg, lun->unpacked_lun, false, &mapped))
		tvh_evt_post(tpg->vdev, VIRTIO_SCSI_T_TRANSPORT_RESET, tpg->tag,
			     mapped, reason);
}

static int tvh_port_link(struct se_portal_group *se_tpg, struct se_lun *lun)
{
	struct tvh_tpg *tpg = to_tvh_tpg(se_tpg);

	mutex_lock(&tpg->lock);
	tpg->lun_count++;
	tvh_port_event(tpg, lun, VIRTIO_SCSI_EVT_RESET_RESCAN);
	mutex_unlock(&tpg->lock);
	return 0;
}

static void tvh_port_unlink(struct se_portal_group *se_tpg,
			    struct se_lun *lun)
{
	struct tvh_tpg *tpg = to_tvh_tpg(se_tpg);

	mutex_lock(&tpg->lock);
	tpg->lun_count--;
	tvh_port_event(tpg, lun, VIRTIO_SCSI_EVT_RESET_REMOVED);
	mutex_unlock(&tpg->lock);
}

/* The WWN prefix decides the SCSI transport the TPG reports. */
static int tvh_proto_from_name(const char *name, u8 *proto)
{
	static const struct {
		const char *prefix;
		u8 proto;
	} kinds[] = {
		{ "naa.", SCSI_PROTOCOL_SAS },
		{ "fc.", SCSI_PROTOCOL_FCP },
		{ "iqn.", SCSI_PROTOCOL_ISCSI },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		size_t len = strlen(kinds[i].prefix);

		if (!strncmp(name, kinds[i].prefix, len) && name[len]) {
			*proto = kinds[i].proto;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * The name a WWN of @proto goes by: an FC WWN's is what follows "fc.", as
 * upstream has it (QEMU's wwpn=, the target port and initiator names).
 */
static const char *tvh_wwn_port_name(const char *name, u8 proto)
{
	return proto == SCSI_PROTOCOL_FCP ? name + strlen("fc.") : name;
}

/* Is @name an initiator WWN in the format of @tport's own? */
static bool tvh_name_fits_tport(const char *name, struct tvh_tport *tport)
{
	u8 proto;

	return !tvh_proto_from_name(name, &proto) && proto == tport->proto_id;
}

/* Make the nexus for @initiator under the ACL that applies to it. */
static int tvh_nexus_make_locked(struct tvh_tpg *tpg, const char *initiator)
{
	struct se_session *sess;

	lockdep_assert_held(&tpg->lock);
	sess = target_setup_session(&tpg->se_tpg, 0, 0,
				    TARGET_PROT_DIN_PASS | TARGET_PROT_DOUT_PASS,
				    initiator, tpg, NULL);
	if (IS_ERR(sess)) {
		pr_err("%s/tpgt_%u: cannot create the nexus for %s: %ld\n",
		       tpg->tport->name, tpg->tag, initiator, PTR_ERR(sess));
		return PTR_ERR(sess);
	}
	/*
	 * target_core asks for the PI type once per initiator and keeps the
	 * answer in the node ACL, which it caches (demo mode): a
	 * fabric_prot_type written since an earlier nexus applies to this one.
	 */
	sess->se_node_acl->saved_prot_type = tpg->prot_type;
	sess->sess_prot_type = tpg->prot_type;
	WRITE_ONCE(tpg->sess, sess);
	return 0;
}

static int tvh_nexus_make(struct tvh_tpg *tpg, const char *initiator)
{
	int ret;

	mutex_lock(&tpg->lock);
	if (tpg->sess) {
		pr_err("%s/tpgt_%u: a nexus exists already; write NULL to drop it first\n",
		       tpg->tport->name, tpg->tag);
		ret = -EEXIST;
	} else {
		ret = tvh_nexus_make_locked(tpg, initiator);
	}
	mutex_unlock(&tpg->lock);
	return ret;
}

/*
 * target_core closed the nexus' session: its ACL is being removed (the
 * rmdir waits until the session is gone) or its queue depth changed.  The
 * nexus stays, made again for the same initiator under whatever ACL now
 * applies (demo mode once the ACL is gone).  No device may be attached: the
 * session's commands must all have ended.
 */
static void tvh_nexus_remake_locked(struct tvh_tpg *tpg)
{
	char initiator[TVH_NAMELEN];
	int ret;

	lockdep_assert_held(&tpg->lock);
	tpg->sess_closed = false;
	strscpy(initiator, tpg->nexus_next[0] ? tpg->nexus_next :
		tpg->sess->se_node_acl->initiatorname, sizeof(initiator));
	tpg->nexus_next[0] = '\0';
	target_remove_session(tpg->sess);
	WRITE_ONCE(tpg->sess, NULL);
	ret = tvh_nexus_make_locked(tpg, initiator);
	if (ret)
		pr_warn("%s/tpgt_%u: the nexus for %s went with its ACL: %d\n",
			tpg->tport->name, tpg->tag, initiator, ret);
}

/*
 * Is target_core closing @sess?  Removing an ACL takes each session off
 * the ACL's list and then calls tvh_close_session() without a reference:
 * until that call, the session must not be freed, and that call makes
 * the nexus again.
 */
static bool tvh_sess_closing(struct se_session *sess)
{
	struct se_node_acl *acl = sess->se_node_acl;
	unsigned long flags;
	bool closing;

	spin_lock_irqsave(&acl->nacl_sess_lock, flags);
	closing = list_empty(&sess->sess_acl_list);
	spin_unlock_irqrestore(&acl->nacl_sess_lock, flags);
	return closing;
}

/* tvh_nexus_remake_locked(), unless tvh_close_session() is about to. */
static void tvh_nexus_renew_locked(struct tvh_tpg *tpg)
{
	lockdep_assert_held(&tpg->lock);
	if (!tvh_sess_closing(tpg->sess))
		tvh_nexus_remake_locked(tpg);
}

static void tvh_close_session(struct se_session *sess)
{
	struct tvh_tpg *tpg = to_tvh_tpg(sess->se_tpg);

	mutex_lock(&tpg->lock);
	if (tpg->sess != sess)
		goto out;
	if (!tpg->vdev) {
		tvh_nexus_remake_locked(tpg);
		goto out;
	}
	tpg->sess_closed = true;
	pr_info("%s/tpgt_%u: the ACL of nexus %s changed; it applies once the guest stops using the TPG\n",
		tpg->tport->name, tpg->tag, sess->se_node_acl->initiatorname);
out:
	mutex_unlock(&tpg->lock);
}

/* Tell the admin that @acl, made over the nexus' demo-mode ACL, shows less than it maps. */
static void tvh_acl_warn_demo_map(struct tvh_tpg *tpg, struct se_node_acl *acl)
{
	struct se_dev_entry *deve;
	unsigned int hidden = 0;

	rcu_read_lock();
	hlist_for_each_entry_rcu(deve, &acl->lun_entry_hlist, link)
		hidden += !deve->se_lun_acl;
	rcu_read_unlock();
	if (hidden)
		pr_warn("%s/tpgt_%u: ACL %s took over the nexus' demo-mode LUN map: its %u LUNs stay visible to the guest without a mapped LUN in configfs (target_core); make the ACL before linking LUNs, or under another initiator name (the nexus then takes it)\n",
			tpg->tport->name, tpg->tag, acl->initiatorname, hidden);
}

/*
 * An ACL was made on @acl's TPG.  A vhost TPG has one initiator, its
 * nexus.  A nexus without an ACL of its own (demo mode) takes the
 * initiator of the first ACL made for this fabric's WWN format, so that
 * the ACL applies to the guest whatever name the nexus had: targetcli's
 * restoreconfig gives a TPG a new random nexus before it restores the
 * saved ACLs.  While a guest uses the nexus the change waits for it to
 * stop, as any ACL change does.
 */
static int tvh_init_nodeacl(struct se_node_acl *acl, const char *name)
{
	struct tvh_tpg *tpg = to_tvh_tpg(acl->se_tpg);
	struct se_node_acl *cur;

	mutex_lock(&tpg->lock);
	if (!tpg->sess)
		goto out;
	cur = tpg->sess->se_node_acl;
	if (cur == acl) {
		tvh_acl_warn_demo_map(tpg, acl);
		goto out;
	}
	if (!cur->dynamic_node_acl || tpg->nexus_next[0] ||
	    !tvh_name_fits_tport(name, tpg->tport))
		goto out;
	strscpy(tpg->nexus_next, name, sizeof(tpg->nexus_next));
	pr_info("%s/tpgt_%u: nexus %s had no ACL; it is %s now, under the new ACL%s\n",
		tpg->tport->name, tpg->tag, cur->initiatorname, name,
		tpg->vdev ? ", once the guest stops using the TPG" : "");
	if (tpg->vdev)
		tpg->sess_closed = true;
	else
		tvh_nexus_renew_locked(tpg);
out:
	mutex_unlock(&tpg->lock);
	return 0;
}

/*
 * A device lets go of @tpg (its endpoint is torn down, nothing in flight):
 * configfs may drop the nexus and remove the TPG again, and a session
 * target_core closed meanwhile is made again now.
 */
static void tvh_tpg_detach(struct tvh_tpg *tpg)
{
	mutex_lock(&tpg->lock);
	tpg->vdev = NULL;
	if (tpg->sess_closed)
		tvh_nexus_remake_locked(tpg);
	mutex_unlock(&tpg->lock);
	target_undepend_item(&tpg->se_tpg.tpg_group.cg_item);
}

/* Give the TPGs of @targets back to configfs. */
void tvh_tpgs_detach(struct tvh_tpg **targets)
{
	int i;

	for (i = 0; i < VHOST_SCSI_MAX_TARGET; i++)
		if (targets[i])
			tvh_tpg_detach(targets[i]);
}

/*
 * Pin @tpg for @vdev if it has a nexus and no device: 1 if it did.  The
 * pin comes before tpg->lock: configfs_depend_item() takes configfs's
 * inode locks, which configfs holds around tvh_port_link() when that takes
 * tpg->lock.  The caller's configfs reference keeps @tpg alive meanwhile.
 */
static int tvh_tpg_attach(struct tvh_tpg *tpg, struct tvh_dev *vdev)
{
	int ret;

	/* a hint, taken again under tpg->lock below */
	if (!READ_ONCE(tpg->sess) || READ_ONCE(tpg->vdev))
		return 0;
	ret = target_depend_item(&tpg->se_tpg.tpg_group.cg_item);
	if (ret) {
		pr_warn("%s/tpgt_%u: cannot pin the TPG: %d\n",
			tpg->tport->name, tpg->tag, ret);
		return ret;
	}
	mutex_lock(&tpg->lock);
	if (tpg->sess && !tpg->vdev) {
		tpg->vdev = vdev;
		ret = 1;
	}
	mutex_unlock(&tpg->lock);
	if (!ret)
		target_undepend_item(&tpg->se_tpg.tpg_group.cg_item);
	return ret;
}

/*
 * The TPGs of @wwpn that have a nexus and no device (a hint), into
 * @targets by tag, each with a reference on its configfs item: that keeps
 * the TPG, whose release is tvh_drop_tpg(), until tvh_tpgs_attach() has
 * pinned it or let it go.  target_depend_item() must not be called under
 * tvh_tpg_list_lock: configfs takes the subsystem mutex under its inode
 * locks (rmdir), and tvh_make_tpg() takes the list lock under the
 * subsystem mutex.  An item whose count is already 0 is being released.
 */
static void tvh_tpgs_collect(const char *wwpn, struct tvh_tpg **targets)
{
	struct tvh_tpg *tpg;

	mutex_lock(&tvh_tpg_list_lock);
	list_for_each_entry(tpg, &tvh_tpg_list, node) {
		if (strcmp(tpg->tport->name, wwpn) || !READ_ONCE(tpg->sess) ||
		    READ_ONCE(tpg->vdev))
			continue;
		if (config_item_get_unless_zero(&tpg->se_tpg.tpg_group.cg_item))
			targets[tpg->tag] = tpg;
	}
	mutex_unlock(&tvh_tpg_list_lock);
}

/*
 * Attach to @vdev every TPG of @wwpn that has a nexus and no other device;
 * @targets (indexed by tag, all NULL) holds them, pinned until
 * tvh_tpgs_detach().  On failure none stays attached (the caller frees
 * @targets).
 */
int tvh_tpgs_attach(struct tvh_dev *vdev, const char *wwpn,
		    struct tvh_tpg **targets)
{
	int i, one, err = 0, attached = 0;

	tvh_tpgs_collect(wwpn, targets);
	for (i = 0; i < VHOST_SCSI_MAX_TARGET; i++) {
		struct tvh_tpg *tpg = targets[i];

		if (!tpg)
			continue;
		one = err ? 0 : tvh_tpg_attach(tpg, vdev);
		if (one < 0)
			err = one;
		if (one <= 0)
			targets[i] = NULL;
		attached += one > 0;
		config_item_put(&tpg->se_tpg.tpg_group.cg_item);
	}
	if (err) {
		tvh_tpgs_detach(targets);
		return err;
	}
	if (!attached) {
		pr_warn_ratelimited("SET_ENDPOINT %s: no free TPG with a nexus under this WWPN\n",
				    wwpn);
		return -ENODEV;
	}
	return 0;
}

static int tvh_nexus_drop(struct tvh_tpg *tpg)
{
	int ret = 0;

	mutex_lock(&tpg->lock);
	if (!tpg->sess) {
		ret = -ENODEV;
		goto out;
	}
	if (tpg->vdev) {
		pr_err("%s/tpgt_%u: the nexus is in use by a vhost device; stop the guest first\n",
		       tpg->tport->name, tpg->tag);
		ret = -EBUSY;
		goto out;
	}
	if (tpg->lun_count) {
		pr_err("%s/tpgt_%u: %u LUNs still linked; unlink them before dropping the nexus\n",
		       tpg->tport->name, tpg->tag, tpg->lun_count);
		ret = -EBUSY;
		goto out;
	}
	if (tvh_sess_closing(tpg->sess)) {
		pr_err("%s/tpgt_%u: the nexus' ACL is being removed; try again\n",
		       tpg->tport->name, tpg->tag);
		ret = -EBUSY;
		goto out;
	}
	target_remove_session(tpg->sess);
	WRITE_ONCE(tpg->sess, NULL);
out:
	mutex_unlock(&tpg->lock);
	return ret;
}

static ssize_t tvh_tpg_nexus_show(struct config_item *item, char *page)
{
	struct se_portal_group *se_tpg = to_tpg(item);
	struct tvh_tpg *tpg = to_tvh_tpg(se_tpg);
	ssize_t ret = 0;

	mutex_lock(&tpg->lock);
	if (tpg->sess)
		ret = sysfs_emit(page, "%s\n",
				 tpg->sess->se_node_acl->initiatorname);
	mutex_unlock(&tpg->lock);
	return ret;
}

static ssize_t tvh_tpg_nexus_store(struct config_item *item, const char *page,
				   size_t count)
{
	struct tvh_tpg *tpg = to_tvh_tpg(to_tpg(item));
	char name[TVH_NAMELEN];
	size_t len = count;
	int ret;

	if (len && page[len - 1] == '\n')
		len--;			/* echo's newline is not the name's */
	if (len >= sizeof(name)) {
		pr_err("nexus: initiator name longer than %zu bytes\n",
		       sizeof(name) - 1);
		return -EINVAL;
	}
	memcpy(name, page, len);
	name[len] = '\0';
	strim(name);

	if (!strcmp(name, "NULL")) {
		ret = tvh_nexus_drop(tpg);
		return ret ? ret : count;
	}
	if (!tvh_name_fits_tport(name, tpg->tport)) {
		pr_err("nexus: initiator %s must use the WWN format of %s\n",
		       name, tpg->tport->name);
		return -EINVAL;
	}
	ret = tvh_nexus_make(tpg, tvh_wwn_port_name(name, tpg->tport->proto_id));
	return ret ? ret : count;
}

CONFIGFS_ATTR(tvh_tpg_, nexus);

static const char *const tvh_stat_names[TVH_NR_STATS] = {
	[TVH_STAT_REQUESTS] = "requests",
	[TVH_STAT_COMPLETED] = "completed",
	[TVH_STAT_BYTES_OUT] = "bytes_out",
	[TVH_STAT_BYTES_IN] = "bytes_in",
	[TVH_STAT_STATUS_ERRORS] = "status_errors",
	[TVH_STAT_ABORTED] = "aborted",
	[TVH_STAT_QUEUE_FULL] = "queue_full",
	[TVH_STAT_BUSY] = "busy",
	[TVH_STAT_REJECTED] = "rejected",
	[TVH_STAT_GUEST_ERRORS] = "guest_errors",
	[TVH_STAT_INFLIGHT_MAX] = "inflight_max",
	[TVH_STAT_KICKS] = "kicks",
	[TVH_STAT_POLLED] = "polled",
	[TVH_STAT_SIGNALS] = "signals",
	[TVH_STAT_SIGNALS_HELD] = "signals_held",
};

/*
 * One line: @name, then "counter value" pairs; returns the new offset.  At
 * the end of the page the text is cut (sysfs_emit_at() writes what fits).
 */
static int tvh_stats_line(char *page, int at, const char *name,
			  const u64 *st)
{
	int i;

	at += sysfs_emit_at(page, at, "%s", name);
	for (i = 0; i < TVH_NR_STATS; i++)
		at += sysfs_emit_at(page, at, " %s %llu", tvh_stat_names[i],
				    st[i]);
	return at + sysfs_emit_at(page, at, "\n");
}

/* Add @tvq's counters (each read once) to @sum; maxima are kept as such. */
static void tvh_stats_collect(const struct tvh_vq *tvq, u64 *sum)
{
	int i;

	for (i = 0; i < TVH_NR_STATS; i++) {
		u64 v = READ_ONCE(tvq->stats[i]);

		sum[i] = i == TVH_STAT_INFLIGHT_MAX ? max(sum[i], v) : sum[i] + v;
	}
}

/*
 * The counters of the device this TPG is attached to, since it was opened
 * (empty while none is): the request queues' sum first ("io"), then the
 * control queue ("ctl": TMFs and AN requests), then each request queue
 * the guest set up ("vqN") as long as the page has room.  The device
 * cannot go away while tpg->lock is held with tpg->vdev set.
 */
static ssize_t tvh_tpg_stats_show(struct config_item *item, char *page)
{
	struct tvh_tpg *tpg = to_tvh_tpg(to_tpg(item));
	u64 st[TVH_NR_STATS];
	struct tvh_dev *vdev;
	int i, at = 0;

	mutex_lock(&tpg->lock);
	vdev = tpg->vdev;
	if (!vdev)
		goto out;
	memset(st, 0, sizeof(st));
	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++)
		tvh_stats_collect(&vdev->vqs[i], st);
	at = tvh_stats_line(page, at, "io", st);
	memset(st, 0, sizeof(st));
	tvh_stats_collect(&vdev->vqs[VHOST_SCSI_VQ_CTL], st);
	at = tvh_stats_line(page, at, "ctl", st);
	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++) {
		char name[16];

		if (!vhost_vq_is_setup(&vdev->vqs[i].vq))
			continue;	/* never set up by the guest */
		snprintf(name, sizeof(name), "vq%d", i);
		memset(st, 0, sizeof(st));
		tvh_stats_collect(&vdev->vqs[i], st);
		at = tvh_stats_line(page, at, name, st);
	}
out:
	mutex_unlock(&tpg->lock);
	return at;
}

CONFIGFS_ATTR_RO(tvh_tpg_, stats);

/**
 * tvh_nexus_lun - look a LUN up in the LUN map of @tpg's nexus
 * @tpg: the TPG, its lock held or a device attached (either keeps the nexus)
 * @lun: the LUN to find
 * @guest_number: @lun is the guest's number (else the TPG's own)
 * @mapped: if not NULL, the guest's number of the LUN found
 *
 * The nexus' ACL maps the guest's LUN numbers to the TPG's LUNs: each to
 * itself in demo mode, as the admin chose with an explicit ACL.  The map is
 * RCU-protected.  False if the nexus does not see the LUN.
 */
bool tvh_nexus_lun(struct tvh_tpg *tpg, u64 lun, bool guest_number,
		   u64 *mapped)
{
	struct se_session *sess = READ_ONCE(tpg->sess);
	struct se_dev_entry *deve;
	struct se_lun *se_lun;
	bool found = false;

	if (!sess)
		return false;
	rcu_read_lock();
	hlist_for_each_entry_rcu(deve, &sess->se_node_acl->lun_entry_hlist, link) {
		se_lun = READ_ONCE(deve->se_lun);
		if (guest_number ? deve->mapped_lun == lun :
		    se_lun && se_lun->unpacked_lun == lun) {
			if (mapped)
				*mapped = deve->mapped_lun;
			found = true;
			break;
		}
	}
	rcu_read_unlock();
	return found;
}

/*
 * capacity_changed (write-only): the admin grew or shrank the backstore of
 * TPG LUN N and writes N here.  A guest using the TPG gets a PARAM_CHANGE
 * event, CAPACITY DATA HAS CHANGED (2Ah/09h), for its number of that LUN
 * and rescans it (Linux virtio_scsi does on this event).  target_core gives
 * fabrics no hook of its own for it.  Nothing happens while no guest uses
 * the TPG: it reads the capacity when it starts.
 */
static ssize_t tvh_tpg_capacity_changed_store(struct config_item *item,
					      const char *page, size_t count)
{
	struct tvh_tpg *tpg = to_tvh_tpg(to_tpg(item));
	u64 lun, mapped;
	int ret;

	ret = kstrtou64(page, 10, &lun);	/* as lun_<N>: "010" is 10 */
	if (ret) {
		pr_err("capacity_changed: takes the TPG's LUN number\n");
		return ret;
	}
	mutex_lock(&tpg->lock);
	if (!tpg->vdev) {
		ret = count;
	} else if (!tvh_nexus_lun(tpg, lun, false, &mapped)) {
		pr_err("%s/tpgt_%u: capacity_changed: the nexus has no LUN %llu\n",
		       tpg->tport->name, tpg->tag, lun);
		ret = -ENODEV;
	} else {
		tvh_evt_post(tpg->vdev, VIRTIO_SCSI_T_PARAM_CHANGE, tpg->tag,
			     mapped, TVH_EVT_CAPACITY_CHANGED);
		ret = count;
	}
	mutex_unlock(&tpg->lock);
	return ret;
}

CONFIGFS_ATTR_WO(tvh_tpg_, capacity_changed);

static struct configfs_attribute *tvh_tpg_attrs[] = {
	&tvh_tpg_attr_nexus,
	&tvh_tpg_attr_capacity_changed,
	&tvh_tpg_attr_stats,
	NULL,
};

static ssize_t tvh_tpg_attrib_fabric_prot_type_show(struct config_item *item,
						    char *page)
{
	return sysfs_emit(page, "%d\n",
			  READ_ONCE(to_tvh_tpg(attrib_to_tpg(item))->prot_type));
}

static ssize_t tvh_tpg_attrib_fabric_prot_type_store(struct config_item *item,
						     const char *page,
						     size_t count)
{
	struct tvh_tpg *tpg = to_tvh_tpg(attrib_to_tpg(item));
	unsigned int val;
	int ret;

	ret = kstrtouint(page, 0, &val);
	if (ret)
		return ret;
	if (val != 0 && val != 1 && val != 3) {
		pr_err("fabric_prot_type: %u is not one of 0, 1, 3\n", val);
		return -EINVAL;
	}
	mutex_lock(&tpg->lock);
	if (val == tpg->prot_type) {
		/* nothing changes */
	} else if (tpg->vdev) {
		pr_err("%s/tpgt_%u: fabric_prot_type cannot change while a guest uses the TPG\n",
		       tpg->tport->name, tpg->tag);
		ret = -EBUSY;
	} else {
		WRITE_ONCE(tpg->prot_type, val);
		/*
		 * target_core reads the type when a session starts.  rtslib
		 * makes a nexus with the TPG and sets attributes afterwards:
		 * the nexus is made again, for the same initiator.
		 */
		if (tpg->sess)
			tvh_nexus_renew_locked(tpg);
	}
	mutex_unlock(&tpg->lock);
	return ret ? ret : count;
}

CONFIGFS_ATTR(tvh_tpg_attrib_, fabric_prot_type);

static struct configfs_attribute *tvh_tpg_attrib_attrs[] = {
	&tvh_tpg_attrib_attr_fabric_prot_type,
	NULL,
};

/*
 * The tag of "tpgt_N": N in decimal, below VHOST_SCSI_MAX_TARGET, spelled
 * one way only (no sign, no leading zero), so that two directories can
 * never name the same target byte.
 */
static int tvh_tpg_tag(const char *name, u16 *tag)
{
	const char *n = name + 5;

	if (strncmp(name, "tpgt_", 5) || !isdigit(n[0]) ||
	    (n[0] == '0' && n[1]) || kstrtou16(n, 10, tag) ||
	    *tag >= VHOST_SCSI_MAX_TARGET)
		return -EINVAL;
	return 0;
}

/* Is @tag of @tport taken?  Under tvh_tpg_list_lock. */
static bool tvh_tpg_tag_used(struct tvh_tport *tport, u16 tag)
{
	struct tvh_tpg *tpg;

	lockdep_assert_held(&tvh_tpg_list_lock);
	list_for_each_entry(tpg, &tvh_tpg_list, node)
		if (tpg->tport == tport && tpg->tag == tag)
			return true;
	return false;
}

static struct se_portal_group *tvh_make_tpg(struct se_wwn *wwn,
					    const char *name)
{
	struct tvh_tport *tport = container_of(wwn, struct tvh_tport, wwn);
	struct tvh_tpg *tpg;
	u16 tag;
	int ret;

	if (tvh_tpg_tag(name, &tag)) {
		pr_err("%s/%s: TPGs are named tpgt_N with N below %d, in decimal without leading zeros\n",
		       tport->name, name, VHOST_SCSI_MAX_TARGET);
		return ERR_PTR(-EINVAL);
	}

	tpg = kzalloc(sizeof(*tpg), GFP_KERNEL);
	if (!tpg)
		return ERR_PTR(-ENOMEM);
	mutex_init(&tpg->lock);
	INIT_LIST_HEAD(&tpg->node);
	tpg->tport = tport;
	tpg->tag = tag;

	/* Listed before it is registered, so the tag is reserved at once. */
	mutex_lock(&tvh_tpg_list_lock);
	if (tvh_tpg_tag_used(tport, tag)) {
		mutex_unlock(&tvh_tpg_list_lock);
		pr_err("%s/%s: target %u already has a TPG\n", tport->name,
		       name, tag);
		ret = -EEXIST;
		goto out_free;
	}
	list_add_tail(&tpg->node, &tvh_tpg_list);
	mutex_unlock(&tvh_tpg_list_lock);

	ret = core_tpg_register(wwn, &tpg->se_tpg, tport->proto_id);
	if (ret)
		goto out_unlist;
	return &tpg->se_tpg;

out_unlist:
	mutex_lock(&tvh_tpg_list_lock);
	list_del(&tpg->node);
	mutex_unlock(&tvh_tpg_list_lock);
out_free:
	kfree(tpg);
	return ERR_PTR(ret);
}

/* configfs keeps a TPG that a device has attached (target_depend_item). */
static void tvh_drop_tpg(struct se_portal_group *se_tpg)
{
	struct tvh_tpg *tpg = to_tvh_tpg(se_tpg);

	mutex_lock(&tvh_tpg_list_lock);
	list_del(&tpg->node);
	mutex_unlock(&tvh_tpg_list_lock);

	tvh_nexus_drop(tpg);
	core_tpg_deregister(se_tpg);
	kfree(tpg);
}

static struct se_wwn *tvh_make_tport(struct target_fabric_configfs *tf,
				     struct config_group *group,
				     const char *name)
{
	struct tvh_tport *tport;
	u8 proto;

	if (tvh_proto_from_name(name, &proto)) {
		pr_err("%s: WWNs start with naa., fc. or iqn.\n", name);
		return ERR_PTR(-EINVAL);
	}
	if (strlen(name) >= TVH_NAMELEN) {
		pr_err("%s: WWN longer than %d bytes\n", name, TVH_NAMELEN - 1);
		return ERR_PTR(-EINVAL);
	}
	tport = kzalloc(sizeof(*tport), GFP_KERNEL);
	if (!tport)
		return ERR_PTR(-ENOMEM);
	tport->proto_id = proto;
	strscpy(tport->name, tvh_wwn_port_name(name, proto), sizeof(tport->name));
	return &tport->wwn;
}

static void tvh_drop_tport(struct se_wwn *wwn)
{
	kfree(container_of(wwn, struct tvh_tport, wwn));
}

static ssize_t tvh_wwn_version_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "tcm_vhost %s on %s\n", TVH_VERSION,
			  UTS_RELEASE);
}

CONFIGFS_ATTR_RO(tvh_wwn_, version);

static struct configfs_attribute *tvh_wwn_attrs[] = {
	&tvh_wwn_attr_version,
	NULL,
};

static const struct target_core_fabric_ops tvh_fabric_ops = {
	.module				= THIS_MODULE,
	.fabric_name			= "vhost",
	.max_data_sg_nents		= TVH_MAX_IO_BYTES / PAGE_SIZE,
	.tpg_get_wwn			= tvh_tpg_get_wwn,
	.tpg_get_tag			= tvh_tpg_get_tag,
	.tpg_check_demo_mode		= tvh_check_true,
	.tpg_check_demo_mode_cache	= tvh_check_true,
	.tpg_check_prot_fabric_only	= tvh_check_prot_fabric_only,
	.release_cmd			= tvh_release_cmd,
	.close_session			= tvh_close_session,
	.fabric_init_nodeacl		= tvh_init_nodeacl,
	.check_stop_free		= tvh_check_stop_free,
	.write_pending			= tvh_write_pending,
	.queue_data_in			= tvh_io_queue_answer,
	.queue_status			= tvh_io_queue_answer,
	.queue_tm_rsp			= tvh_tmf_queue_rsp,
	.aborted_task			= tvh_aborted_task,
	.fabric_make_wwn		= tvh_make_tport,
	.fabric_drop_wwn		= tvh_drop_tport,
	.fabric_make_tpg		= tvh_make_tpg,
	.fabric_drop_tpg		= tvh_drop_tpg,
	.fabric_post_link		= tvh_port_link,
	.fabric_pre_unlink		= tvh_port_unlink,
	.tfc_wwn_attrs			= tvh_wwn_attrs,
	.tfc_tpg_base_attrs		= tvh_tpg_attrs,
	.tfc_tpg_attrib_attrs		= tvh_tpg_attrib_attrs,
	TVH_FABRIC_SUBMIT_OPS
	TVH_FABRIC_DEFAULT_OPS
};

int tvh_fabric_register(void)
{
	return target_register_template(&tvh_fabric_ops);
}

void tvh_fabric_unregister(void)
{
	target_unregister_template(&tvh_fabric_ops);
}
