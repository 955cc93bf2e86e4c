/*  test_plan: the encoded plan the unit tests include and hand over.
 *  Header-only: each test program is one file.
 */
#ifndef ZVH_TEST_PLAN_H
#define ZVH_TEST_PLAN_H

#include "wire.h"

#define TEST_PLAN_REVIEW_DATE "2024-09-01"

//  A plan with summary and legal route, included at groningen on
//  2024-06-03, review due TEST_PLAN_REVIEW_DATE. Free it with free().
static inline uint8_t *
test_plan (const char *summary, Zvh__V1__LegalBasis__Route route, size_t *size_p)
{
    Zvh__V1__Plan plan = ZVH__V1__PLAN__INIT;
    Zvh__V1__LegalBasis legal = ZVH__V1__LEGAL_BASIS__INIT;
    Zvh__V1__Inclusion inclusion = ZVH__V1__INCLUSION__INIT;
    legal.route = route;
    inclusion.region = "groningen";
    inclusion.date = "2024-06-03";
    inclusion.decision = "included at the table";
    plan.legal_basis = &legal;
    plan.inclusion = &inclusion;
    plan.summary = (char *) summary;
    plan.review_date = TEST_PLAN_REVIEW_DATE;
    return wire_encode (&plan.base, size_p);
}

#endif
