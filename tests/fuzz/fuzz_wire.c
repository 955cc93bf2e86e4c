/*  fuzz_wire: every message that wire_decode takes from outside.
 *
 *  The first byte picks the message type (fuzz_wire_types, modulo their
 *  count); the rest are its bytes. A message that decodes must re-encode
 *  to bytes that decode to the same encoding; an envelope's payload is
 *  decoded by its type and every plan goes through the plan checks, as in
 *  the daemon. Everything is freed: LeakSanitizer watches each input.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const ProtobufCMessageDescriptor *desc = fuzz_wire_types [data [0] % fuzz_wire_type_count];
    fuzz_wire_check (desc, data + 1, size - 1);
    return 0;
}
