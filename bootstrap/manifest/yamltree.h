/* yamltree.h: a YAML document as a tree that remembers where each node was.
 * Scalars are resolved the way YAML 1.1 loaders (PyYAML, used by editors and
 * by our schema test) resolve them, so "fsck: yes" means the same to haboot
 * as to every other tool reading the manifest. */
#ifndef HABOOT_YAMLTREE_H
#define HABOOT_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>

struct diag;

enum ykind { Y_SCALAR, Y_MAP, Y_SEQ };
/* What a scalar means once resolved. */
enum yscalar { YS_STR, YS_NULL, YS_BOOL, YS_INT, YS_FLOAT };

struct ynode;
struct ypair {
	struct ynode *key;
	struct ynode *val;
};

struct ynode {
	enum ykind kind;
	int line, col; /* 1-based, where the node starts */
	/* scalar */
	char *str;
	size_t len;
	enum yscalar stype;
	bool quoted;   /* written in quotes (or as a block scalar): always a string */
	bool bval;
	long long ival;
	/* map */
	struct ypair *pairs;
	size_t npairs;
	/* seq */
	struct ynode **items;
	size_t nitems;
};

/* Parses one YAML document.  Syntax errors, anchors/aliases, tags,
 * duplicate and non-scalar keys go to d; returns NULL on any of them. */
struct ynode *ytree_parse(const char *data, size_t len, struct diag *d);
void ytree_free(struct ynode *n);

const char *ykind_name(const struct ynode *n);
/* Value for key in a map, or NULL. */
const struct ynode *ymap_get(const struct ynode *map, const char *key);

#endif
