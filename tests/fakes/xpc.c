/*
 * Theory of operation: the XPC dictionary subset vmnet's parameters need.
 * A dictionary is a reference-counted array of typed entries (uint64,
 * string, bool, uuid) keyed by string; setting a key replaces its entry.
 * Getters return 0 / NULL / false for a missing or mistyped key, as
 * Apple's xpc_dictionary_get_* do; a string getter's pointer lives as long
 * as the dictionary, so code that keeps it past xpc_release reads freed
 * memory (ASan reports it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xpc/xpc.h>

struct _xpc_type_s {
	const char *name;
};
const struct _xpc_type_s _xpc_type_dictionary = {"dictionary"},
                         _xpc_type_uint64 = {"uint64"},
                         _xpc_type_string = {"string"},
                         _xpc_type_bool = {"bool"}, _xpc_type_uuid = {"uuid"};

struct entry {
	char *key;
	xpc_type_t type;
	uint64_t u;
	char *s;
	uint8_t uuid[16];
};

struct dict {
	xpc_type_t type; /* always XPC_TYPE_DICTIONARY */
	int refs;
	size_t n, cap;
	struct entry *e;
};

/* Allocates or exits: the fake has no way to report OOM to its caller. */
static void *
fx_alloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL) {
		fprintf(stderr, "fake xpc: out of memory\n");
		abort();
	}
	return p;
}

xpc_object_t
xpc_dictionary_create(
    const char *const *keys, const xpc_object_t *values, size_t count)
{
	struct dict *d = fx_alloc(NULL, sizeof(*d));

	(void)keys;
	(void)values;
	(void)count; /* nested objects are not needed */
	memset(d, 0, sizeof(*d));
	d->type = XPC_TYPE_DICTIONARY;
	d->refs = 1;
	return d;
}

/* The dictionary behind x, or NULL when x is not one. */
static struct dict *
as_dict(xpc_object_t x)
{
	struct dict *d = x;

	return d != NULL && d->type == XPC_TYPE_DICTIONARY ? d : NULL;
}

/* The entry for key, or NULL. */
static struct entry *
find(struct dict *d, const char *key)
{
	size_t i;

	if (d == NULL || key == NULL)
		return NULL;
	for (i = 0; i < d->n; i++)
		if (strcmp(d->e[i].key, key) == 0)
			return &d->e[i];
	return NULL;
}

/* A cleared entry for key of type t, created or reused. */
static struct entry *
put(xpc_object_t x, const char *key, xpc_type_t t)
{
	struct dict *d = as_dict(x);
	struct entry *e;

	if (d == NULL || key == NULL)
		return NULL;
	if ((e = find(d, key)) == NULL) {
		if (d->n == d->cap) {
			d->cap = d->cap ? d->cap * 2 : 8;
			d->e = fx_alloc(d->e, d->cap * sizeof(*d->e));
		}
		e = &d->e[d->n++];
		memset(e, 0, sizeof(*e));
		e->key = strdup(key);
	} else {
		free(e->s);
		e->s = NULL;
	}
	e->type = t;
	return e;
}

void
xpc_dictionary_set_uint64(xpc_object_t x, const char *key, uint64_t value)
{
	struct entry *e = put(x, key, XPC_TYPE_UINT64);

	if (e != NULL)
		e->u = value;
}

void
xpc_dictionary_set_string(xpc_object_t x, const char *key, const char *s)
{
	struct entry *e = put(x, key, XPC_TYPE_STRING);

	if (e != NULL)
		e->s = strdup(s != NULL ? s : "");
}

void
xpc_dictionary_set_bool(xpc_object_t x, const char *key, bool value)
{
	struct entry *e = put(x, key, XPC_TYPE_BOOL);

	if (e != NULL)
		e->u = value;
}

void
xpc_dictionary_set_uuid(xpc_object_t x, const char *key, const unsigned char *u)
{
	struct entry *e = put(x, key, XPC_TYPE_UUID);

	if (e != NULL && u != NULL)
		memcpy(e->uuid, u, 16);
}

/* The entry for key if it has type t. */
static struct entry *
typed(xpc_object_t x, const char *key, xpc_type_t t)
{
	struct entry *e = find(as_dict(x), key);

	return e != NULL && e->type == t ? e : NULL;
}

uint64_t
xpc_dictionary_get_uint64(xpc_object_t x, const char *key)
{
	struct entry *e = typed(x, key, XPC_TYPE_UINT64);

	return e != NULL ? e->u : 0;
}

const char *
xpc_dictionary_get_string(xpc_object_t x, const char *key)
{
	struct entry *e = typed(x, key, XPC_TYPE_STRING);

	return e != NULL ? e->s : NULL;
}

bool
xpc_dictionary_get_bool(xpc_object_t x, const char *key)
{
	struct entry *e = typed(x, key, XPC_TYPE_BOOL);

	return e != NULL && e->u != 0;
}

const uint8_t *
xpc_dictionary_get_uuid(xpc_object_t x, const char *key)
{
	struct entry *e = typed(x, key, XPC_TYPE_UUID);

	return e != NULL ? e->uuid : NULL;
}

size_t
xpc_dictionary_get_count(xpc_object_t x)
{
	struct dict *d = as_dict(x);

	return d != NULL ? d->n : 0;
}

xpc_type_t
xpc_get_type(xpc_object_t x)
{
	struct dict *d = as_dict(x);

	return d != NULL ? d->type : NULL;
}

xpc_object_t
xpc_copy(xpc_object_t x)
{
	struct dict *d = as_dict(x), *c;
	size_t i;

	if (d == NULL)
		return NULL;
	c = xpc_dictionary_create(NULL, NULL, 0);
	for (i = 0; i < d->n; i++) {
		struct entry *e = put(c, d->e[i].key, d->e[i].type);
		e->u = d->e[i].u;
		memcpy(e->uuid, d->e[i].uuid, 16);
		if (d->e[i].s != NULL)
			e->s = strdup(d->e[i].s);
	}
	return c;
}

xpc_object_t
xpc_retain(xpc_object_t x)
{
	struct dict *d = as_dict(x);

	if (d != NULL)
		__atomic_add_fetch(&d->refs, 1, __ATOMIC_SEQ_CST);
	return x;
}

void
xpc_release(xpc_object_t x)
{
	struct dict *d = as_dict(x);
	size_t i;

	if (d == NULL)
		return;
	if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_SEQ_CST) > 0)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->e[i].key);
		free(d->e[i].s);
	}
	free(d->e);
	d->type = NULL; /* a stale pointer is no dictionary any more */
	free(d);
}
