/*  version: the protocol version this daemon announces. Kept alone so that
 *  the test build can link daemons that claim the next minor or the next
 *  major version (VERSION_NEXT_MINOR, VERSION_NEXT_MAJOR; tests/CMakeLists.txt).
 */
#include "version.h"

#if defined (VERSION_NEXT_MAJOR)
const uint32_t version_major = VERSION_PROTOCOL_MAJOR + 1;
const uint32_t version_minor = 0;
#elif defined (VERSION_NEXT_MINOR)
const uint32_t version_major = VERSION_PROTOCOL_MAJOR;
const uint32_t version_minor = VERSION_PROTOCOL_MINOR + 1;
#else
const uint32_t version_major = VERSION_PROTOCOL_MAJOR;
const uint32_t version_minor = VERSION_PROTOCOL_MINOR;
#endif
