/*  figures: this region's monitoring figures (the informatiecoördinator's
 *  figures on the Levensloopaanpak, PROTOCOL 4.10): per month, how many
 *  cases were included, moved in and out, ended a joint phase and closed
 *  here, and how many signals of each kind were raised here. Counts only.
 *
 *  Invariant: a figure is counted in the same transaction as the change it
 *  counts, so the figures survive restarts and kill -9 and never disagree
 *  with the case records and the signal log.
 */
#ifndef ZVH_FIGURES_H
#define ZVH_FIGURES_H

#include "figure.h"
#include "store.h"

typedef struct _figures_t figures_t;

//  Bit (1 << kind) per figure kind.
typedef unsigned figures_mask_t;

//  Create the figures kept in store's meta.
figures_t *
    figures_new (store_t *store);

//  Destroy and null the pointer.
void
    figures_destroy (figures_t **self_p);

//  At start: note now as the start of counting if this store has not
//  counted before. Returns 0 or an LMDB code.
int
    figures_start (figures_t *self, MDB_txn *txn, int64_t now_ms);

//  When this store started counting (epoch ms), 0 if it has not.
int64_t
    figures_since (figures_t *self, MDB_txn *txn);

//  Count one of kind (a Zvh__V1__FigureKind) in the month of time_ms.
//  Returns 0 or an LMDB code.
int
    figures_count (figures_t *self, MDB_txn *txn, int kind, int64_t time_ms);

//  The figures a case's change of state here from was to now (CaseState;
//  0 = no record) counts.
figures_mask_t
    figures_of_change (int was, int now);

//  Count what a case's change of state from was to now counts.
int
    figures_count_change (figures_t *self, MDB_txn *txn, int was, int now,
                          int64_t time_ms);

//  The count of kind in month (a figure_month_of number).
uint64_t
    figures_read (figures_t *self, MDB_txn *txn, int month, int kind);

#endif
