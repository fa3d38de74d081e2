#include "idmap.h"

#include <stdlib.h>

#include <nng/nng.h>

#include "alloc.h"

static size_t
slot_of(uint64_t id, size_t cap)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return ((size_t) id & (cap - 1));
}

void
tasq_idmap_init(tasq_idmap *m)
{
	m->keys  = NULL;
	m->vals  = NULL;
	m->cap   = 0;
	m->count = 0;
}

void
tasq_idmap_fini(tasq_idmap *m)
{
	free(m->keys);
	free(m->vals);
	tasq_idmap_init(m);
}

void *
tasq_idmap_get(const tasq_idmap *m, uint64_t id)
{
	if (m->cap == 0 || id == 0) {
		return (NULL);
	}
	for (size_t i = slot_of(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == id) {
			return (m->vals[i]);
		}
		if (m->keys[i] == 0) {
			return (NULL);
		}
	}
}

static int
grow(tasq_idmap *m)
{
	size_t    ncap = m->cap ? m->cap * 2 : 16;
	uint64_t *ok   = m->keys;
	void    **ov   = m->vals;
	size_t    ocap = m->cap;

	m->keys = tasq_calloc(ncap, sizeof(*m->keys));
	m->vals = tasq_calloc(ncap, sizeof(*m->vals));
	if (m->keys == NULL || m->vals == NULL) {
		free(m->keys);
		free(m->vals);
		m->keys = ok;
		m->vals = ov;
		return (NNG_ENOMEM);
	}
	m->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (ok[i] != 0) {
			size_t j = slot_of(ok[i], ncap);
			while (m->keys[j] != 0) {
				j = (j + 1) & (ncap - 1);
			}
			m->keys[j] = ok[i];
			m->vals[j] = ov[i];
		}
	}
	free(ok);
	free(ov);
	return (0);
}

int
tasq_idmap_reserve(tasq_idmap *m, size_t n)
{
	int rv;

	while ((m->count + n) * 4 > m->cap * 3) {
		if ((rv = grow(m)) != 0) {
			return (rv);
		}
	}
	return (0);
}

int
tasq_idmap_put(tasq_idmap *m, uint64_t id, void *val)
{
	size_t i;
	int    rv;

	if (id == 0) {
		return (NNG_EINVAL);
	}
	if ((m->count + 1) * 4 > m->cap * 3 && (rv = grow(m)) != 0) {
		return (rv);
	}
	for (i = slot_of(id, m->cap); m->keys[i] != 0 && m->keys[i] != id;
	     i = (i + 1) & (m->cap - 1)) {
	}
	if (m->keys[i] == 0) {
		m->count++;
	}
	m->keys[i] = id;
	m->vals[i] = val;
	return (0);
}

void
tasq_idmap_del(tasq_idmap *m, uint64_t id)
{
	size_t i, j;

	if (m->cap == 0 || id == 0) {
		return;
	}
	for (i = slot_of(id, m->cap); m->keys[i] != id;
	     i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == 0) {
			return;
		}
	}
	m->count--;
	// Backward shift: move later entries of the cluster into the hole
	// when their home slot does not lie between the hole and them.
	for (j = i;;) {
		m->keys[i] = 0;
		m->vals[i] = NULL;
		for (;;) {
			size_t k;
			j = (j + 1) & (m->cap - 1);
			if (m->keys[j] == 0) {
				return;
			}
			k = slot_of(m->keys[j], m->cap);
			if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j)) {
				continue;
			}
			break;
		}
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		i          = j;
	}
}

void *
tasq_idmap_next(const tasq_idmap *m, size_t *pos)
{
	while (*pos < m->cap) {
		size_t i = (*pos)++;
		if (m->keys[i] != 0) {
			return (m->vals[i]);
		}
	}
	return (NULL);
}
