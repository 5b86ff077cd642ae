/* registry.c: the modules this binary carries. */
#include <string.h>

#include "module.h"

extern const struct module module_volume;
extern const struct module module_filesystem;
extern const struct module module_exports;
extern const struct module module_service;
extern const struct module module_address;
extern const struct module module_route53;
extern const struct module module_notify;

const struct module *const module_registry[] = {
	&module_volume,
	&module_filesystem,
	&module_exports,
	&module_service,
	&module_address,
	&module_route53,
	&module_notify,
	NULL,
};

const struct module *
module_find(const char *name)
{
	for (size_t i = 0; module_registry[i] != NULL; i++)
		if (strcmp(module_registry[i]->name, name) == 0)
			return module_registry[i];
	return NULL;
}

const char *const module_serving_path[] = {"volume", "filesystem", "exports", "service", NULL};
