#include "montalaq/guard/retry.hpp"
