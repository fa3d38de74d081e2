// idmap: a hash map from non-zero 64-bit ids to pointers (open addressing,
// linear probing, backward-shift deletion). Not thread-safe: the owner's
// lock protects it.
#ifndef TASQ_IDMAP_H
#define TASQ_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct tasq_idmap {
	uint64_t *keys;
	void    **vals;
	size_t    cap; // power of two, or 0
	size_t    count;
} tasq_idmap;

void tasq_idmap_init(tasq_idmap *m);
void tasq_idmap_fini(tasq_idmap *m);

// tasq_idmap_get returns the value for id or NULL.
void *tasq_idmap_get(const tasq_idmap *m, uint64_t id);

// tasq_idmap_put inserts or replaces; borrows val. Errors: NNG_ENOMEM.
int tasq_idmap_put(tasq_idmap *m, uint64_t id, void *val);

// tasq_idmap_reserve makes room for n more ids: until then, a put of a
// new id cannot fail. Errors: NNG_ENOMEM (the map is unchanged).
int tasq_idmap_reserve(tasq_idmap *m, size_t n);

// tasq_idmap_del removes id if present.
void tasq_idmap_del(tasq_idmap *m, uint64_t id);

// tasq_idmap_next iterates: start with *pos = 0; returns NULL at the end.
// The map must not change during an iteration.
void *tasq_idmap_next(const tasq_idmap *m, size_t *pos);

#endif
