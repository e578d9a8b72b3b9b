/* duet: one tensor engine, two modes. Include this header for the whole API. */
#ifndef DUET_H
#define DUET_H

#include "core.h"
#include "fn.h"
#include "grad.h"
#include "ops.h"

#endif
