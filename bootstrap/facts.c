/* facts.c: fact names (see facts.h). */
#include "facts.h"

#include <string.h>

static const char *const names[FACT_COUNT] = {
#define HB_FACT_NAME(e, name, doc) [FACT_##e] = name,
	HB_FACTS(HB_FACT_NAME)
#undef HB_FACT_NAME
};

const char *
fact_name(enum fact f)
{
	return (unsigned)f < FACT_COUNT ? names[f] : "?";
}

int
fact_by_name(const char *name)
{
	for (int i = 0; i < FACT_COUNT; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}
