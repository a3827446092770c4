#pragma once
// See ../spdlog.h: the fallback's sink lives there.
#include "../spdlog.h"
