#include "exec_frame.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

static void
u32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

static uint32_t
u32_get(const uint8_t *p)
{
	return ((uint32_t) p[0] | (uint32_t) p[1] << 8 |
	    (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24);
}

static void
u64_put(uint8_t *p, uint64_t v)
{
	u32_put(p, (uint32_t) v);
	u32_put(p + 4, (uint32_t) (v >> 32));
}

static uint64_t
u64_get(const uint8_t *p)
{
	return ((uint64_t) u32_get(p) | (uint64_t) u32_get(p + 4) << 32);
}

size_t
tasq_frame_in_size(const tasq_handler_batch *in)
{
	if (in->n > (SIZE_MAX - TASQ_FRAME_IN_HDR - in->size) / 4) {
		return (0);
	}
	return (TASQ_FRAME_IN_HDR + 4 * in->n + in->size);
}

void
tasq_frame_in_encode(uint8_t *buf, uint64_t seq, const tasq_handler_batch *in)
{
	const uint8_t *src = in->data;
	uint8_t       *o   = buf + TASQ_FRAME_IN_HDR;

	memcpy(buf, TASQ_FRAME_IN_MAGIC, 4);
	u32_put(buf + 4, (uint32_t) in->n);
	u64_put(buf + 8, seq);
	u32_put(buf + 16, in->attempt);
	u32_put(buf + 20, 0); // flags: none defined
	for (size_t i = 0; i < in->n; i++) {
		uint32_t len = in->width != 0 ? in->width : in->lens[i];
		u32_put(o, len);
		if (len > 0) {
			memcpy(o + 4, src, len);
		}
		o += 4 + len;
		src += len;
	}
}

void
tasq_frame_parser_init(tasq_frame_parser *p, size_t n, uint64_t seq)
{
	memset(p, 0, sizeof(*p));
	p->state = TASQ_FRAME_HEAD;
	p->n     = n;
	p->seq   = seq;
}

static int
broken(tasq_frame_parser *p, const char *why)
{
	p->state = TASQ_FRAME_BROKEN;
	snprintf(p->why, sizeof(p->why), "%s", why);
	return (TASQ_EDATA_LOSS);
}

// An item's header is complete: check it and prepare for its body.
static int
item_start(tasq_frame_parser *p, tasq_hres *out)
{
	int rv;

	p->status = u32_get(p->head);
	p->len    = u32_get(p->head + 4);
	p->got    = 0;
	p->msglen = 0;
	p->dst    = NULL;
	if (p->status > TASQ_CODE_MAX) {
		char why[96];
		snprintf(why, sizeof(why),
		    "result %zu has status %u (codes are 0..16)", out->k,
		    (unsigned) p->status);
		return (broken(p, why));
	}
	p->discard = p->status == 0 && p->len > TASQ_WIRE_MAX_PAYLOAD;
	if (p->discard) {
		// Too big for the wire: the task fails, finally, and its
		// bytes are read past, so that the child goes on.
		if ((rv = tasq_hres_fail_too_big(out, p->len)) != 0) {
			return (rv);
		}
	} else if (p->status == 0 &&
	    (p->dst = tasq_hres_reserve(out, p->len)) == NULL) {
		return (out->err != 0 ? out->err : NNG_ENOMEM);
	}
	p->state = TASQ_FRAME_BODY;
	return (0);
}

// An item's body is complete.
static int
item_end(tasq_frame_parser *p, tasq_hres *out)
{
	int rv;

	if (p->status != 0 && !p->discard) {
		p->msg[p->msglen] = '\0';
		if ((rv = tasq_hres_fail(out, out->k, p->status,
		         p->msglen > 0 ? p->msg : NULL)) != 0) {
			return (rv);
		}
	}
	p->have  = 0;
	p->state = out->k == p->n ? TASQ_FRAME_DONE : TASQ_FRAME_ITEM;
	return (0);
}

int
tasq_frame_feed(
    tasq_frame_parser *p, const uint8_t *buf, size_t len, tasq_hres *out)
{
	size_t i = 0;
	int    rv;

	while (i < len) {
		switch (p->state) {
		case TASQ_FRAME_HEAD:
		case TASQ_FRAME_ITEM: {
			size_t want =
			    p->state == TASQ_FRAME_HEAD ? TASQ_FRAME_HDR : 8;
			size_t take = want - p->have;
			take        = take < len - i ? take : len - i;
			memcpy(p->head + p->have, buf + i, take);
			p->have += take;
			i += take;
			if (p->have < want) {
				break;
			}
			if (p->state == TASQ_FRAME_ITEM) {
				if ((rv = item_start(p, out)) != 0) {
					return (rv);
				}
				if (p->len == 0 &&
				    (rv = item_end(p, out)) != 0) {
					return (rv);
				}
				break;
			}
			if (memcmp(p->head, TASQ_FRAME_OUT_MAGIC, 4) != 0) {
				return (broken(p,
				    "the answer does not begin with "
				    "\"TQR1\""));
			}
			if (u32_get(p->head + 4) != p->n ||
			    u64_get(p->head + 8) != p->seq) {
				char why[128];
				snprintf(why, sizeof(why),
				    "answer header for %u tasks of batch "
				    "%llu, expected %zu of %llu",
				    (unsigned) u32_get(p->head + 4),
				    (unsigned long long) u64_get(p->head + 8),
				    p->n, (unsigned long long) p->seq);
				return (broken(p, why));
			}
			p->have = 0;
			p->state =
			    p->n == 0 ? TASQ_FRAME_DONE : TASQ_FRAME_ITEM;
			break;
		}
		case TASQ_FRAME_BODY: {
			size_t take = p->len - p->got;
			take        = take < len - i ? take : len - i;
			if (p->dst != NULL) {
				memcpy(p->dst + p->got, buf + i, take);
			} else if (!p->discard &&
			    p->msglen < sizeof(p->msg) - 1) {
				size_t room = sizeof(p->msg) - 1 - p->msglen;
				size_t m    = take < room ? take : room;
				memcpy(p->msg + p->msglen, buf + i, m);
				p->msglen += m;
			}
			p->got += take;
			i += take;
			if (p->got == p->len && (rv = item_end(p, out)) != 0) {
				return (rv);
			}
			break;
		}
		case TASQ_FRAME_DONE:
			return (
			    broken(p, "bytes after the batch's last result"));
		case TASQ_FRAME_BROKEN:
			return (TASQ_EDATA_LOSS);
		}
	}
	return (0);
}
