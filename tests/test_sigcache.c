/*  test_sigcache: remembered Ed25519 verifications answer only for the exact
 *  (key, digest, signature) that verified; anything else is verified again.
 */
#include "sigcache.h"
#include <sodium.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

typedef struct {
    uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES];
    uint8_t secret_key [WIRE_SIGN_SECRET_BYTES];
    uint8_t digest [WIRE_DIGEST_BYTES];
    uint8_t signature [WIRE_SIGNATURE_BYTES];
} signed_t;

static void
s_signed (signed_t *made, uint8_t fill)
{
    crypto_sign_keypair (made->public_key, made->secret_key);
    memset (made->digest, fill, sizeof made->digest);
    crypto_sign_detached (made->signature, NULL, made->digest, sizeof made->digest,
                          made->secret_key);
}

static int
s_verify (sigcache_t *cache, const signed_t *made)
{
    return sigcache_verify (cache, made->signature, sizeof made->signature, made->digest,
                            made->public_key);
}

static void
test_a_repeat_is_answered_from_memory (void **state)
{
    (void) state;
    sigcache_t *cache = sigcache_new (8);
    assert_non_null (cache);
    signed_t made;
    s_signed (&made, 1);
    assert_int_equal (s_verify (cache, &made), 0);
    assert_int_equal (sigcache_hits (cache), 0);
    assert_int_equal (s_verify (cache, &made), 0);
    assert_int_equal (sigcache_hits (cache), 1);
    sigcache_destroy (&cache);
    assert_null (cache);
    sigcache_destroy (&cache);                  //  twice is harmless
}

static void
test_what_did_not_verify_is_not_remembered (void **state)
{
    (void) state;
    sigcache_t *cache = sigcache_new (8);
    signed_t made, other;
    s_signed (&made, 1);
    s_signed (&other, 1);
    assert_int_equal (s_verify (cache, &made), 0);
    //  Another digest, another signature, another key: each refused, twice
    for (int pass = 0; pass < 2; pass++) {
        signed_t bad = made;
        bad.digest [0] ^= 1;
        assert_int_equal (s_verify (cache, &bad), -1);
        bad = made;
        bad.signature [WIRE_SIGNATURE_BYTES - 1] ^= 1;
        assert_int_equal (s_verify (cache, &bad), -1);
        bad = made;
        memcpy (bad.public_key, other.public_key, sizeof bad.public_key);
        assert_int_equal (s_verify (cache, &bad), -1);
    }
    assert_int_equal (sigcache_hits (cache), 0);
    //  A signature of the wrong length is refused before anything else
    assert_int_equal (sigcache_verify (cache, made.signature, WIRE_SIGNATURE_BYTES - 1,
                                       made.digest, made.public_key), -1);
    assert_int_equal (sigcache_verify (cache, NULL, WIRE_SIGNATURE_BYTES,
                                       made.digest, made.public_key), -1);
    sigcache_destroy (&cache);
}

//  One slot: each verification pushes the other out, and both still verify.
static void
test_a_full_cache_still_verifies (void **state)
{
    (void) state;
    sigcache_t *cache = sigcache_new (1);
    signed_t one, two;
    s_signed (&one, 1);
    s_signed (&two, 2);
    for (int pass = 0; pass < 3; pass++) {
        assert_int_equal (s_verify (cache, &one), 0);
        assert_int_equal (s_verify (cache, &two), 0);
    }
    signed_t bad = one;
    bad.digest [1] ^= 1;
    assert_int_equal (s_verify (cache, &bad), -1);
    sigcache_destroy (&cache);
}

//  A signature this daemon made is remembered as it is made: its return
//  is answered from memory; the same signature over another digest is not.
static void
test_a_signature_made_here_is_not_verified_again (void **state)
{
    (void) state;
    sigcache_t *cache = sigcache_new (8);
    signed_t made;
    s_signed (&made, 4);
    sigcache_add (cache, made.signature, made.digest, made.public_key);
    assert_int_equal (s_verify (cache, &made), 0);
    assert_int_equal (sigcache_hits (cache), 1);
    signed_t other = made;
    other.digest [3] ^= 1;
    assert_int_equal (s_verify (cache, &other), -1);
    assert_int_equal (sigcache_hits (cache), 1);
    sigcache_add (NULL, made.signature, made.digest, made.public_key);     //  harmless
    sigcache_destroy (&cache);
}

static void
test_without_a_cache_it_verifies_each_time (void **state)
{
    (void) state;
    signed_t made;
    s_signed (&made, 3);
    assert_int_equal (s_verify (NULL, &made), 0);
    made.digest [2] ^= 1;
    assert_int_equal (s_verify (NULL, &made), -1);
    assert_int_equal (sigcache_hits (NULL), 0);
}

int
main (void)
{
    assert_true (sodium_init () >= 0);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_repeat_is_answered_from_memory),
        cmocka_unit_test (test_what_did_not_verify_is_not_remembered),
        cmocka_unit_test (test_a_full_cache_still_verifies),
        cmocka_unit_test (test_a_signature_made_here_is_not_verified_again),
        cmocka_unit_test (test_without_a_cache_it_verifies_each_time),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
