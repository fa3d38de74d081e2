#include "envelope.h"

#include "err.h"

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) (v >> 8);
	p[1] = (uint8_t) v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t) (v >> 16));
	put16(p + 2, (uint16_t) v);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t) (v >> 32));
	put32(p + 4, (uint32_t) v);
}

static uint16_t
get16(const uint8_t *p)
{
	return ((uint16_t) ((p[0] << 8) | p[1]));
}

static uint32_t
get32(const uint8_t *p)
{
	return (((uint32_t) get16(p) << 16) | get16(p + 2));
}

static uint64_t
get64(const uint8_t *p)
{
	return (((uint64_t) get32(p) << 32) | get32(p + 4));
}

void
tasq_env_put(const tasq_env_hdr *h, uint8_t *out)
{
	out[0] = TASQ_ENV_MAGIC0;
	out[1] = TASQ_ENV_MAGIC1;
	out[2] = h->version;
	out[3] = h->kind;
	put32(out + 4, h->key_id);
	put64(out + 8, h->sender_id);
	put64(out + 16, h->seq);
	put64(out + 24, h->timestamp_ms);
	put64(out + 32, h->reply_to);
	put16(out + 40, h->method);
	put16(out + 42, h->status);
	put32(out + 44, h->deadline_ms);
	put32(out + 48, h->body_len);
}

int
tasq_env_parse(const uint8_t *buf, size_t len, tasq_env_hdr *h)
{
	if (len < TASQ_ENV_OVERHEAD || buf[0] != TASQ_ENV_MAGIC0 ||
	    buf[1] != TASQ_ENV_MAGIC1) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	h->version      = buf[2];
	h->kind         = buf[3];
	h->key_id       = get32(buf + 4);
	h->sender_id    = get64(buf + 8);
	h->seq          = get64(buf + 16);
	h->timestamp_ms = get64(buf + 24);
	h->reply_to     = get64(buf + 32);
	h->method       = get16(buf + 40);
	h->status       = get16(buf + 42);
	h->deadline_ms  = get32(buf + 44);
	h->body_len     = get32(buf + 48);
	if (h->version != TASQ_ENV_VERSION) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if (h->kind != TASQ_ENV_REQUEST && h->kind != TASQ_ENV_REPLY) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	if ((size_t) h->body_len != len - TASQ_ENV_OVERHEAD) {
		return (TASQ_EINVALID_ARGUMENT);
	}
	return (0);
}
