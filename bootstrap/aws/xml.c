/* xml.c: expat into a tree. */
#include "xml.h"

#include <expat.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Separator expat puts between namespace URI and local name. */
#define NS_SEP '\x01'

struct builder {
	XML_Parser p;
	struct xml_node *root, *cur;
	struct buf text;   /* character data of cur, gathered until its end tag */
	size_t depth, nodes;
	const char *fail;  /* our own reason to stop, when expat's is not the one */
};

static void
node_free(struct xml_node *n)
{
	if (n == NULL)
		return;
	/* Iterative over siblings' subtrees would need a stack; depth is capped. */
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n->text);
	free(n);
}

void
xml_free(struct xml_node *root)
{
	node_free(root);
}

static void
stop(struct builder *b, const char *why)
{
	if (b->fail == NULL)
		b->fail = why;
	XML_StopParser(b->p, XML_FALSE);
}

static void XMLCALL
on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct builder *b = arg;
	struct xml_node *n;
	const char *local = strrchr(name, NS_SEP);

	(void)attrs;
	if (b->fail != NULL)
		return;
	if (++b->depth > XML_MAX_DEPTH) {
		stop(b, "elements nested too deeply");
		return;
	}
	if (++b->nodes > XML_MAX_NODES) {
		stop(b, "too many elements");
		return;
	}
	/* A parent's text is only what precedes its first child: AWS never mixes. */
	if (b->cur != NULL && b->cur->text == NULL) {
		b->cur->text = buf_steal(&b->text);
	}
	buf_reset(&b->text);
	n = xcalloc(1, sizeof(*n));
	n->name = xstrdup(local ? local + 1 : name);
	n->parent = b->cur;
	if (b->cur == NULL) {
		b->root = n;
	} else {
		/* Geometric growth: a long list (DescribeVolumes of many) stays linear. */
		if (b->cur->nkids == b->cur->kids_cap) {
			b->cur->kids_cap = b->cur->kids_cap ? b->cur->kids_cap * 2 : 4;
			b->cur->kids = xrealloc(b->cur->kids,
			    b->cur->kids_cap * sizeof(*b->cur->kids));
		}
		n->idx = b->cur->nkids;
		b->cur->kids[b->cur->nkids++] = n;
	}
	b->cur = n;
}

static bool
blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

static void XMLCALL
on_end(void *arg, const XML_Char *name)
{
	struct builder *b = arg;
	struct xml_node *n = b->cur;

	(void)name;
	if (b->fail != NULL || n == NULL)
		return;
	if (n->text == NULL)
		n->text = buf_steal(&b->text);
	if (blank(n->text))
		n->text[0] = '\0';
	buf_reset(&b->text);
	b->cur = n->parent;
	b->depth--;
}

static void XMLCALL
on_chars(void *arg, const XML_Char *s, int len)
{
	struct builder *b = arg;

	if (b->fail != NULL || b->cur == NULL || b->cur->text != NULL || len <= 0)
		return;
	buf_add(&b->text, s, (size_t)len);
}

/* A DTD can define entities; AWS never sends one, so any DTD is refused. */
static void XMLCALL
on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
    int has_internal)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	stop(arg, "a DTD (<!DOCTYPE>) is not allowed");
}

static void XMLCALL
on_entity(void *arg, const XML_Char *name, int is_param, const XML_Char *value, int vlen,
    const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid, const XML_Char *notation)
{
	(void)name; (void)is_param; (void)value; (void)vlen; (void)base; (void)sysid;
	(void)pubid; (void)notation;
	stop(arg, "entity declarations are not allowed");
}

struct xml_node *
xml_parse(const char *data, size_t len, char **err)
{
	struct builder b;
	struct xml_node *root = NULL;

	memset(&b, 0, sizeof(b));
	buf_init(&b.text);
	*err = NULL;
	if (len > XML_MAX_INPUT) {
		*err = xasprintf("XML document of %zu bytes is larger than the %u byte limit", len,
		    XML_MAX_INPUT);
		goto out;
	}
	if ((b.p = XML_ParserCreateNS("UTF-8", NS_SEP)) == NULL) {
		*err = xstrdup("cannot create an XML parser");
		goto out;
	}
	XML_SetUserData(b.p, &b);
	XML_SetElementHandler(b.p, on_start, on_end);
	XML_SetCharacterDataHandler(b.p, on_chars);
	XML_SetStartDoctypeDeclHandler(b.p, on_doctype);
	XML_SetEntityDeclHandler(b.p, on_entity);
	if (XML_Parse(b.p, data, (int)len, XML_TRUE) != XML_STATUS_OK || b.fail != NULL) {
		*err = xasprintf("line %lu: %s", (unsigned long)XML_GetCurrentLineNumber(b.p),
		    b.fail ? b.fail : XML_ErrorString(XML_GetErrorCode(b.p)));
		goto out;
	}
	if (b.root == NULL) {
		*err = xstrdup("no XML element");
		goto out;
	}
	root = b.root;
	b.root = NULL;
out:
	node_free(b.root);
	if (b.p != NULL)
		XML_ParserFree(b.p);
	buf_free(&b.text);
	return root;
}

static const struct xml_node *
find(const struct xml_node *n, const char *path)
{
	const char *slash;
	size_t seglen;

	if (*path == '\0')
		return n;
	slash = strchr(path, '/');
	seglen = slash ? (size_t)(slash - path) : strlen(path);
	for (size_t i = 0; i < n->nkids; i++) {
		const struct xml_node *k = n->kids[i], *hit;

		if (!(seglen == 1 && path[0] == '*') &&
		    !(strlen(k->name) == seglen && memcmp(k->name, path, seglen) == 0))
			continue;
		if ((hit = find(k, slash ? slash + 1 : "")) != NULL)
			return hit;
	}
	return NULL;
}

const struct xml_node *
xml_find(const struct xml_node *n, const char *path)
{
	if (n == NULL || path == NULL)
		return NULL;
	return find(n, path);
}

const char *
xml_text(const struct xml_node *n, const char *path)
{
	const struct xml_node *hit = xml_find(n, path);

	return hit ? hit->text : NULL;
}

const struct xml_node *
xml_child(const struct xml_node *n, const char *name)
{
	return xml_next(n, name, NULL);
}

const struct xml_node *
xml_next(const struct xml_node *n, const char *name, const struct xml_node *prev)
{
	size_t i = 0;

	if (n == NULL)
		return NULL;
	/* prev knows its own position: iterating n children costs n steps. */
	if (prev != NULL)
		i = prev->parent == n ? prev->idx + 1 : n->nkids;
	for (; i < n->nkids; i++)
		if (name == NULL || strcmp(n->kids[i]->name, name) == 0)
			return n->kids[i];
	return NULL;
}
