// The one place that selects the libfuse API version for all of fs/.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
