/*  signal_names: the names of signal enumerations, as libzvh, zvhctl and
 *  the JSON output spell them, and the mapping between zvh_raise_t /
 *  zvh_signal_t and the wire messages. Internal to libzvh.
 */
#ifndef ZVH_SIGNAL_NAMES_H
#define ZVH_SIGNAL_NAMES_H

#include "wire.h"
#include "zvh/zvh.h"

#define ZVH_SIGNAL_ERR_MAX  256

//  Fill message from raise (strings point into raise). Returns 0, or -1 with
//  a message naming the bad value in error.
int
    zvh_raise_encode (const zvh_raise_t *raise, Zvh__V1__SignalRaise *message,
                      char *error, size_t error_size);

//  The name of value of enumeration field ("kind", "urgency", "severity",
//  "certainty", "type"); NULL for 0 or an unknown value.
const char *
    zvh_signal_name (const char *field, int value);

//  Fill signal from a decoded view (strings point into view).
void
    zvh_signal_fill (zvh_signal_t *signal, const Zvh__V1__SignalView *view);

#endif
