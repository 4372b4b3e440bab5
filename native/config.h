/*
 * The native backend's tuning, one struct set by the addon's `configure` export (from the
 * typed NativeConfig of src/backend/native-config.ts, which documents every field and its
 * default; the fields and their packed order are CONFIG_FIELDS of tables.h). No C code
 * reads the environment. g_config's initial values (pool.c) are what a raw require() of
 * the addon starts with; src/backend/native.ts configures the addon as soon as it loads it.
 */
#ifndef TRANSFORMER_CONFIG_H
#define TRANSFORMER_CONFIG_H

#include <stdint.h>

#include "tables.h"

#define CONFIG_FIELD(f) int64_t f;
typedef struct {
  CONFIG_FIELDS(CONFIG_FIELD)
} native_config;
#undef CONFIG_FIELD

/* Read by pool.c and blas.c; written only by configure (the JS thread, between kernels). */
extern native_config g_config;

#endif
