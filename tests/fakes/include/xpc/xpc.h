/*
 * Fake <xpc/xpc.h>: the dictionary subset vmnet's parameters use
 * (xpc/xpc.h, xpc/dictionary.h): uint64, string, bool and uuid values.
 * Getters return 0 / NULL / false for a missing or mistyped key, as
 * Apple's do. Implemented in tests/fakes/xpc.c.
 */
#ifndef FAKE_XPC_H
#define FAKE_XPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void *xpc_object_t;
typedef const struct _xpc_type_s *xpc_type_t;

extern const struct _xpc_type_s _xpc_type_dictionary, _xpc_type_uint64,
    _xpc_type_string, _xpc_type_bool, _xpc_type_uuid;
#define XPC_TYPE_DICTIONARY (&_xpc_type_dictionary)
#define XPC_TYPE_UINT64     (&_xpc_type_uint64)
#define XPC_TYPE_STRING     (&_xpc_type_string)
#define XPC_TYPE_BOOL       (&_xpc_type_bool)
#define XPC_TYPE_UUID       (&_xpc_type_uuid)

xpc_object_t xpc_dictionary_create(
    const char *const *keys, const xpc_object_t *values, size_t count);
void xpc_dictionary_set_uint64(
    xpc_object_t xdict, const char *key, uint64_t value);
void xpc_dictionary_set_string(
    xpc_object_t xdict, const char *key, const char *string);
void xpc_dictionary_set_bool(xpc_object_t xdict, const char *key, bool value);
void xpc_dictionary_set_uuid(
    xpc_object_t xdict, const char *key, const unsigned char *uuid);
uint64_t xpc_dictionary_get_uint64(xpc_object_t xdict, const char *key);
const char *xpc_dictionary_get_string(xpc_object_t xdict, const char *key);
bool xpc_dictionary_get_bool(xpc_object_t xdict, const char *key);
const uint8_t *xpc_dictionary_get_uuid(xpc_object_t xdict, const char *key);
size_t xpc_dictionary_get_count(xpc_object_t xdict);
xpc_type_t xpc_get_type(xpc_object_t object);
xpc_object_t xpc_copy(xpc_object_t object);
xpc_object_t xpc_retain(xpc_object_t object);
void xpc_release(xpc_object_t object);

#endif
