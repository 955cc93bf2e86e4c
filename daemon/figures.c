/*  figures: monitoring figures as per-month counters in the store's meta
 *  ("fig:2026-11:1" = inclusions in November 2026).
 *
 *  Why counters at the state changes and not a count over the audit trail:
 *  the trail does not say what a received event led to (an offer may be
 *  accepted or rejected; a complete ends a joint phase at the owner, not
 *  at the source), records no joint phase that ends when its time is up,
 *  and no signal kind. Counting the transitions themselves is exact. So a
 *  store from before the figures is not backfilled from the trail: its
 *  counting starts at the upgrade, and figures_since says when.
 *
 *  Each event is counted once in the federation, where it happens: an
 *  inclusion and a closure at the owner, a move in at the target when it
 *  accepts, a move out at the source when the accept arrives, a joint phase
 *  at the owner when it leaves the joint phase, a signal where it is raised.
 */
#include "figures.h"
#include <czmq.h>

#define FIGURES_META_SINCE  "figures_since"
#define FIGURES_META_PREFIX "fig:"
#define FIGURES_KEY_MAX     32          //  "fig:2026-11:10"

struct _figures_t {
    store_t *store;
};

figures_t *
figures_new (store_t *store)
{
    assert (store);
    figures_t *self = (figures_t *) zmalloc (sizeof (figures_t));
    self->store = store;
    return self;
}

void
figures_destroy (figures_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

int
figures_start (figures_t *self, MDB_txn *txn, int64_t now_ms)
{
    assert (self);
    if (store_meta_u64 (self->store, txn, FIGURES_META_SINCE))
        return 0;
    return store_set_meta_u64 (self->store, txn, FIGURES_META_SINCE, (uint64_t) now_ms);
}

int64_t
figures_since (figures_t *self, MDB_txn *txn)
{
    assert (self);
    return (int64_t) store_meta_u64 (self->store, txn, FIGURES_META_SINCE);
}

static void
s_key (char key [FIGURES_KEY_MAX], int month, int kind)
{
    char text [FIGURE_PERIOD_MAX];
    figure_month_text (month, text);
    snprintf (key, FIGURES_KEY_MAX, "%s%s:%d", FIGURES_META_PREFIX, text, kind);
}

int
figures_count (figures_t *self, MDB_txn *txn, int kind, int64_t time_ms)
{
    assert (self);
    assert (figure_kind_name (kind));
    char key [FIGURES_KEY_MAX];
    s_key (key, figure_month_of (time_ms), kind);
    uint64_t count = store_meta_u64 (self->store, txn, key);
    return store_set_meta_u64 (self->store, txn, key, count + 1);
}

uint64_t
figures_read (figures_t *self, MDB_txn *txn, int month, int kind)
{
    assert (self);
    char key [FIGURES_KEY_MAX];
    s_key (key, month, kind);
    return store_meta_u64 (self->store, txn, key);
}

#define S_BIT(kind)  ((figures_mask_t) 1 << ZVH__V1__FIGURE_KIND__ ## kind)
#define S_STATE(name)  ZVH__V1__CASE_STATE__CASE_ ## name

figures_mask_t
figures_of_change (int was, int now)
{
    figures_mask_t mask = 0;
    if (was == now)
        return 0;
    //  Only include makes a new record ACTIVE; an offer makes it JOINT_TARGET
    if (was == 0 && now == S_STATE (ACTIVE))
        mask |= S_BIT (FIGURE_INCLUSIONS);
    if (now == S_STATE (JOINT_TARGET))
        mask |= S_BIT (FIGURE_MOVES_IN);
    //  The target's accept arrived (or, after a restore, an accept of a
    //  lost offer): the case is owned elsewhere now
    if (now == S_STATE (JOINT_SOURCE) && (was == S_STATE (OFFERED) || was == S_STATE (ACTIVE)))
        mask |= S_BIT (FIGURE_MOVES_OUT);
    //  At the owner: completed, its time up, a chained move or a close
    if (was == S_STATE (JOINT_TARGET))
        mask |= S_BIT (FIGURE_JOINT_PHASES_ENDED);
    if (now == S_STATE (CLOSED))
        mask |= S_BIT (FIGURE_CLOSURES);
    return mask;
}

int
figures_count_change (figures_t *self, MDB_txn *txn, int was, int now, int64_t time_ms)
{
    assert (self);
    figures_mask_t mask = figures_of_change (was, now);
    int rc = 0;
    for (int kind = 1; rc == 0 && kind <= FIGURE_KINDS; kind++)
        if (mask & ((figures_mask_t) 1 << kind))
            rc = figures_count (self, txn, kind, time_ms);
    return rc;
}
