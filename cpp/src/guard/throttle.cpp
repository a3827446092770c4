#include "montalaq/guard/throttle.hpp"
