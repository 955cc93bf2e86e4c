/*  version: the protocol version this daemon speaks on its links.
 *
 *  Every LinkFrame and SubFrame carries its sender's version (PROTOCOL 12.1).
 *  A peer of another minor version is spoken to as usual (fields it does not
 *  know are ignored); one of another major version is refused. The values
 *  live in version.c, apart from everything else, so that the test build can
 *  link daemons that claim the next minor or major version.
 */
#ifndef ZVH_VERSION_H
#define ZVH_VERSION_H

#include "wire.h"
#include <stdbool.h>
#include <stdint.h>

//  The version of docs/PROTOCOL.md this source implements.
#define VERSION_PROTOCOL_MAJOR  WIRE_PROTOCOL_MAJOR
#define VERSION_PROTOCOL_MINOR  WIRE_PROTOCOL_MINOR

//  The version this daemon announces (VERSION_PROTOCOL_* but in test builds).
extern const uint32_t version_major;
extern const uint32_t version_minor;

//  A frame's announced major version: 0.0 is a sender from before
//  versioning, which spoke 1.0.
static inline uint32_t
version_major_of (uint32_t major, uint32_t minor)
{
    return major == 0 && minor == 0 ? 1 : major;
}

//  True if a frame announcing major.minor may be handled here.
static inline bool
version_compatible (uint32_t major, uint32_t minor)
{
    return version_major_of (major, minor) == version_major;
}

#endif
