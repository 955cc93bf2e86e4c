/*  fault: test-only fault points (see fault.h). */
#include "fault.h"
#include "log.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define FAULT_ENV_KILL  "ZVH_FAULT_KILL"

void
fault_point (const char *name)
{
#ifdef ZVH_FAULT_POINTS
    const char *wanted = getenv (FAULT_ENV_KILL);
    if (!wanted || strcmp (wanted, name) != 0)
        return;
    log_warning ("fault point %s reached (%s=%s): SIGKILL now", name, FAULT_ENV_KILL, wanted);
    raise (SIGKILL);
#else
    (void) name;
#endif
}

bool
fault_points_built (void)
{
#ifdef ZVH_FAULT_POINTS
    return true;
#else
    return false;
#endif
}
