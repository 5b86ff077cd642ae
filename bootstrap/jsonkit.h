/* jsonkit.h: the json-c idioms the status file, the watcher's state, the
 * release record and the IMDS answers share. */
#ifndef HABOOT_JSONKIT_H
#define HABOOT_JSONKIT_H

#include <json-c/json.h>

/* A JSON string, or NULL (which json-c writes as null) for NULL. */
json_object *jk_str(const char *s);
/* wall (ms since the epoch) as ISO 8601 UTC with milliseconds; NULL for 0. */
json_object *jk_time(long long wall);
/* o's member key when it is a string, else NULL; o may be NULL.  The string
 * lives as long as o. */
const char *jk_get_str(json_object *o, const char *key);
/* o's member key when it is a number, else 0; o may be NULL. */
long long jk_get_int(json_object *o, const char *key);

#endif
