/* lsvk: 2D long-short attention for vision (ViL-LS). Included by lsvk/lsvk.h. */
#ifndef LSVK_VISION_H
#define LSVK_VISION_H

#include "lsvk/lsvk.h"

#endif /* LSVK_VISION_H */
