/*
 * json_fault.h - fail the Nth allocation of the json module (for tests).
 *
 * json_alloc_fault_install() puts a countdown behind the json module's
 * allocation seam (json_alloc_set_ops, json/json_internal.h): every
 * allocation of the module, jansson's included, then passes through it.
 * The countdown and its "fired" flag are per thread, so a test that arms
 * a fault never disturbs another thread.  Test machinery only: compiled
 * into the tests that use it, never into the json library.
 */
#ifndef TESTS_JSON_FAULT_H
#define TESTS_JSON_FAULT_H

#include <stdbool.h>

/* Route the json module's allocations through the countdown (disarmed).
 * Call once, before starting threads. */
void json_alloc_fault_install(void);

/* Make the nth allocation (1-based) of the calling thread from now on
 * fail, and every later one while sticky; 0 disarms. */
void json_alloc_fault_arm(unsigned long nth, bool sticky);

/* True when an armed fault has fired since the last arm. */
bool json_alloc_fault_fired(void);

#endif
