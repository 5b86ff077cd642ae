/* unit.h: what every cmocka unit test includes. */
#ifndef HABOOT_UNIT_H
#define HABOOT_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#endif
