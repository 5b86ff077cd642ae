/* xml.h: AWS answers as a small tree.  Element names lose their namespace
 * ("DescribeVolumesResponse", not "http://ec2...:DescribeVolumesResponse");
 * attributes are dropped (AWS answers carry data in elements only).  DTDs are
 * refused and depth, node count and input size are capped, so a hostile or
 * broken endpoint cannot exhaust memory. */
#ifndef HABOOT_XML_H
#define HABOOT_XML_H

#include <stddef.h>

#define XML_MAX_INPUT (16u * 1024 * 1024)
#define XML_MAX_DEPTH 64
#define XML_MAX_NODES 200000

struct xml_node {
	char *name;               /* local name */
	char *text;               /* the element's own character data; "" if only blanks */
	struct xml_node *parent;
	struct xml_node **kids;
	size_t nkids;
	size_t kids_cap;
	size_t idx;               /* position among the parent's kids */
};

/* The root element, or NULL with *err (malloc'd: "line 3: mismatched tag"). */
struct xml_node *xml_parse(const char *data, size_t len, char **err);
void xml_free(struct xml_node *root);

/* The first element below n matching a slash-separated path of child names,
 * searched depth first ("volumeSet/item/attachmentSet/item/instanceId");
 * "*" matches any name.  An empty path is n itself. */
const struct xml_node *xml_find(const struct xml_node *n, const char *path);
/* Text of xml_find(n, path), or NULL when there is no such element. */
const char *xml_text(const struct xml_node *n, const char *path);
/* The first direct child named name, or NULL. */
const struct xml_node *xml_child(const struct xml_node *n, const char *name);
/* Iterates direct children named name (NULL: any):
 * for (c = xml_next(n, "item", NULL); c; c = xml_next(n, "item", c)) */
const struct xml_node *xml_next(const struct xml_node *n, const char *name,
    const struct xml_node *prev);

#endif
