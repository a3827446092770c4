#include "montalaq/guard/safety.hpp"
