/* modhelp.h: `haboot help MODULE`, written from the manifest's JSON Schema.
 *
 * The schema (schemas/haboot.schema.json, from schemas/mkschema.py) is the
 * one description of every key: editors validate with it, a test keeps
 * haboot's parser in agreement with it, and the build compiles it into the
 * binary, from which this prints each module's keys with their types,
 * defaults and descriptions, and the module's example.  A module added to
 * the schema has its help with no change here. */
#ifndef HABOOT_MODHELP_H
#define HABOOT_MODHELP_H

#include <stdbool.h>
#include <stdio.h>

/* Prints the help of topic: a module's name (the schema's $defs entry of
 * that name), or "manifest" for the top-level keys.  0; or -1 with *why
 * (malloc'd) when the schema has no such topic or cannot be read. */
int modhelp_print(const char *schema_json, const char *topic, FILE *out, char **why);

#endif
