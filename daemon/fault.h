/*  fault: test-only fault points. A build configured with
 *  -DZVH_FAULT_POINTS=ON (scripts/test.sh does; packages and bench builds
 *  never) kills the daemon with SIGKILL at the named point when the
 *  environment says so (ZVH_FAULT_KILL=<name>), so that tests can stop it
 *  exactly between a turn's commit and its effects. Without the option
 *  every point compiles to nothing and the environment is never read.
 *
 *  Points: control_write (a batch of control changes committed, before its
 *  answers), federation_batch (inbound events committed, before their ACKs).
 */
#ifndef ZVH_FAULT_H
#define ZVH_FAULT_H

#include <stdbool.h>

//  SIGKILL now if this build has fault points and ZVH_FAULT_KILL names this one.
void
    fault_point (const char *name);

//  True if this build has fault points (zvhd --version says so).
bool
    fault_points_built (void);

#endif
