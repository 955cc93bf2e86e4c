/*  status: the national status page (docs/PROTOCOL.md 4.10).
 *
 *  Every region sends its own summary (RegionStatus: versions, its links and
 *  their backlog, store use, cases per state; counts and states only) on
 *  its links every status_interval_s, and keeps the latest summary it heard
 *  from each region. So any one region can show the whole federation: as
 *  JSON (/status, zvhctl federation status) and as a page without external
 *  assets (/ on the metrics listener).
 */
#ifndef ZVH_STATUS_H
#define ZVH_STATUS_H

#include "config.h"
#include "federation.h"
#include "outbox.h"
#include "store.h"
#include "transfer.h"
#include "wire.h"

typedef struct _status_t status_t;

//  Create the status of this region's daemon (started now).
status_t *
    status_new (const config_t *config, store_t *store, outbox_t *outbox,
                transfer_t *transfer, federation_t *federation);

//  Destroy it and null the pointer.
void
    status_destroy (status_t **self_p);

//  A reload's config (the old one is about to be freed).
void
    status_set_config (status_t *self, const config_t *config);

//  Send this region's summary on every link if it is due; returns when the
//  next one is due (epoch ms).
int64_t
    status_pump (status_t *self, int64_t now_ms);

//  A summary that arrived on region from's link: kept if it is from's own
//  and well formed. Returns 0, or -1 (refused; counted, not logged per frame).
int
    status_take (status_t *self, const char *from, const uint8_t *bytes, size_t size,
                 int64_t now_ms);

//  Every region of the directory, this one first: its own summary now, the
//  others' latest (heard_ms set), or one with only the region's id (none
//  heard). Free with status_regions_free. Returns 0 or an LMDB code.
int
    status_regions (status_t *self, int64_t now_ms, Zvh__V1__RegionStatus ***regions_p,
                    size_t *count_p);

//  Free what status_regions returned.
void
    status_regions_free (Zvh__V1__RegionStatus ***regions_p, size_t count);

//  The federation as JSON (GET /status); NULL on a store error. Caller frees.
char *
    status_json (status_t *self, int64_t now_ms);

//  The federation as an HTML page (GET /); NULL on a store error. Caller frees.
char *
    status_html (status_t *self, int64_t now_ms);

#endif
