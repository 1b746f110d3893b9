/*
 * Layer guard. Every library target is compiled with -DSIPR_LAYER=<its
 * level>; every public header names its own level with SIPR_LAYER_CHECK().
 * A header of a higher layer included from a lower layer's source stops
 * the build, so dependencies only point down (docs/ARCHITECTURE.md).
 */
#ifndef SIPR_LAYER_H
#define SIPR_LAYER_H

#define SIPR_LAYER_BASE 0
#define SIPR_LAYER_SYNTAX 1
#define SIPR_LAYER_EVENT 2
#define SIPR_LAYER_TRANSPORT 3
#define SIPR_LAYER_RESOLVE 4
#define SIPR_LAYER_TXN 5
#define SIPR_LAYER_STORE 6
#define SIPR_LAYER_AUTH 7
#define SIPR_LAYER_TU 8
#define SIPR_LAYER_SERVER 9
#define SIPR_LAYER_CLI 10

#endif

/* Not guarded: evaluated at every inclusion with the includer's level. */
#if defined(SIPR_LAYER) && defined(SIPR_HEADER_LAYER)
#if SIPR_HEADER_LAYER > SIPR_LAYER
#error "upward include: a lower layer includes a higher layer's header"
#endif
#endif
#undef SIPR_HEADER_LAYER
