/* jsonkit.c: shared json-c idioms (jsonkit.h). */
#include "jsonkit.h"

#include "util.h"

json_object *
jk_str(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

json_object *
jk_time(long long wall)
{
	char ts[40];

	if (wall == 0)
		return NULL;
	fmt_iso8601(wall, true, ts, sizeof(ts));
	return json_object_new_string(ts);
}

const char *
jk_get_str(json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

long long
jk_get_int(json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return json_object_get_int64(v);
	return 0;
}
